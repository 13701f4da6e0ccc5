"""Administration pages: users, HCP verification, staff assignments, suspension."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the administration pages under ``/admin``."""
    from portal.admin.views import blueprint

    app.register_blueprint(blueprint, url_prefix="/admin")
