"""The HCP portal: application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def _async_mode(app: Flask) -> str:
    configured = app.config.get("SOCKETIO_ASYNC_MODE")
    if configured:
        return str(configured)
    try:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return "gevent"
    except ImportError:  # pragma: no cover - gevent is a dependency
        pass
    return "threading"


def _refuse_to_serve_without_public_url(app: Flask) -> None:
    """Outside debug and tests, a process that serves the portal (``python wsgi.py``, any WSGI
    server importing it, ``flask run``) stops here without a valid ``PUBLIC_URL``: links in mail
    are built from it alone. Other ``flask`` commands build the app without serving it; those
    that mail links check for themselves (``portal.cli.needs_public_url``)."""
    import click

    from portal import urls

    command = click.get_current_context(silent=True)
    if command is not None and command.info_name != "run":
        return
    try:
        urls.check_public_url(app)
    except urls.PublicURLError as exc:
        if command is None:
            raise
        raise click.ClickException(str(exc)) from None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the portal. ``config`` overrides anything read from the environment."""
    instance_path = Path(
        (config or {}).get("INSTANCE_PATH")
        or os.environ.get("PORTAL_INSTANCE_PATH")
        or ROOT / "instance"
    ).resolve()
    instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from portal.config import load_config

    app.config.update(load_config(instance_path))
    app.config.update(config or {})
    _refuse_to_serve_without_public_url(app)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from portal import cli, errors_http, inputs, policy, security, throttles

    # First, so every response (even a CSRF refusal from an extension's hook) has a request id.
    security.init_app(app)
    _init_extensions(app)
    # After Socket.IO's middleware, so proxy headers and the host check cover its requests too.
    security.wrap_wsgi(app)
    # Before the blueprints (their ``<int:...>`` rules take the bounded converter), after
    # Socket.IO (whose WebSocket messages it caps).
    inputs.init_app(app)
    _register_blueprints(app)

    # Templates ask policy whether to show a button; the services still enforce it.
    app.context_processor(lambda: {"policy": policy})
    errors_http.init_app(app)
    throttles.init_app(app)
    cli.init_app(app)
    return app


def _init_extensions(app: Flask) -> None:
    from portal.extensions import csrf, db, limiter, login_manager, migrate, socketio

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent / "migrations"),
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # Flask-Login's "strong" protection does nothing for permanent sessions: the server-side
    # session record refuses a cookie presented by another browser instead (services/sessions).
    login_manager.session_protection = None
    # Socket.IO handlers must be declared before the first init_app: Flask-SocketIO remembers only
    # handlers declared while it has no server, and re-attaches those to every app's new server.
    import chat.events

    # Flask-SocketIO keeps the previous app's queue manager in its options: drop it so that each
    # app (tests build many) follows its own REDIS_URL.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        async_mode=_async_mode(app),
        message_queue=app.config.get("REDIS_URL"),
        cors_allowed_origins=None,  # same origin only (an empty list would switch the check off)
        manage_session=False,
        max_http_buffer_size=app.config["SOCKETIO_MAX_PAYLOAD_BYTES"],  # see portal/inputs.py
    )

    import chat.models  # noqa: F401  (every model must be known to Alembic)
    import content.models  # noqa: F401
    import portal.questions.models
    import portal.safety.models  # noqa: F401
    from portal.models import User
    from portal.services import sessions

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        # The cookie carries only the session's random token: the server-side record decides
        # (revoked, expired, idle, another browser), for every request and socket event.
        from flask import g, request

        record = sessions.find_current(token, user_agent=request.headers.get("User-Agent", ""))
        if record is None:
            return None
        g.portal_session = record
        return record.user


def _register_blueprints(app: Flask) -> None:
    import portal.questions.demo  # noqa: F401  (registers the demo questions with seed-demo)
    from chat import blueprint as chat_blueprint
    from chat import review_blueprint as chat_review_blueprint
    from content import blueprint as content_blueprint
    from portal import safety
    from portal.admin.views import blueprint as admin_blueprint
    from portal.auth.views import blueprint as auth_blueprint
    from portal.main.views import blueprint as main_blueprint
    from portal.questions.admin_views import blueprint as routing_admin_blueprint
    from portal.questions.views import blueprint as questions_blueprint

    app.register_blueprint(main_blueprint)
    app.register_blueprint(auth_blueprint)
    app.register_blueprint(admin_blueprint, url_prefix="/admin")
    app.register_blueprint(content_blueprint, url_prefix="/library")
    app.register_blueprint(chat_blueprint, url_prefix="/chat")
    app.register_blueprint(chat_review_blueprint, url_prefix="/compliance/chats")
    app.register_blueprint(questions_blueprint, url_prefix="/questions")
    app.register_blueprint(routing_admin_blueprint, url_prefix="/admin/routing")
    safety.init_app(app)
