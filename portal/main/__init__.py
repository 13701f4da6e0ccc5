"""The home page (with the panels feature packages add to it), the health check and the audit
trail viewer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the home pages, the health check, the audit trail viewer and the bell's count."""
    from portal.main.badges import USER_ID, register_badge
    from portal.main.views import blueprint
    from portal.services import notifications

    app.register_blueprint(blueprint)
    register_badge(app, "unread_notifications", notifications.unread_count_query(USER_ID))
