"""Signing in and out, HCP registration, e-mail confirmation, passwords, sessions and two-factor
sign-in."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the sign-in, registration and account pages."""
    from portal.auth.views import blueprint

    app.register_blueprint(blueprint)
