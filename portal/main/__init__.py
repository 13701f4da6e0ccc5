"""The home page (with the panels feature packages add to it), the health check and the audit
trail viewer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the home pages, the health check and the audit trail viewer."""
    from portal.main.views import blueprint

    app.register_blueprint(blueprint)
