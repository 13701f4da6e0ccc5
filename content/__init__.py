"""Content library: approved materials on demand, with MLR review, search and recommendations."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the library into ``app``: its pages under ``/library`` with ``flask content ...``,
    the home page panel and the demo materials of ``seed-demo``."""
    from content import cli, demo, views  # noqa: F401  (cli adds its commands to the blueprint)
    from portal.main.panels import register_home_panel
    from portal.services.demo import register_demo_seeder

    app.register_blueprint(views.blueprint, url_prefix="/library")
    register_home_panel(app, views.home_panel)
    register_demo_seeder(app, demo.seed_materials)
