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


def _refuse_to_start_without_secret_key(app: Flask, instance_path: Path) -> None:
    """Outside debug and tests, no process (server, worker or ``flask`` command) starts with a
    generated ``SECRET_KEY`` while ``DATABASE_URL`` or ``REDIS_URL`` is set: processes sharing
    the data must sign sessions and links with one key."""
    import click

    from portal.config import SecretKeyError, settle_secret_key

    try:
        settle_secret_key(app.config, instance_path, exempt=app.debug or app.testing)
    except SecretKeyError as exc:
        if click.get_current_context(silent=True) is None:
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
    _refuse_to_start_without_secret_key(app, instance_path)
    _refuse_to_serve_without_public_url(app)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from portal import cli, errors_http, i18n, inputs, pagination, policy, security, throttles

    # First, so every response (even a CSRF refusal from an extension's hook) has a request id.
    security.init_app(app)
    _init_extensions(app)
    # After Socket.IO's middleware, so proxy headers and the host check cover its requests too.
    security.wrap_wsgi(app)
    # Before the blueprints (their ``<int:...>`` rules take the bounded converter), after
    # Socket.IO (whose WebSocket messages it caps).
    inputs.init_app(app)
    # Before the features: their templates and mail use the language and date filters.
    i18n.init_app(app)
    _init_features(app)

    # Templates ask policy whether to show a button; the services still enforce it.
    app.context_processor(lambda: {"policy": policy})
    app.jinja_env.globals["page_window"] = pagination.page_window
    errors_http.init_app(app)
    throttles.init_app(app)
    # Background work: the kinds of job this app runs (README "Background work").
    from portal import jobs

    jobs.init_app(app)
    cli.init_app(app)
    return app


def _init_extensions(app: Flask) -> None:
    from portal import sqlite_writes
    from portal.extensions import (
        csrf,
        db,
        limiter,
        login_manager,
        migrate,
        ping_before_use,
        socketio,
    )

    sqlite_writes.configure(app)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_before_use(engine)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent / "migrations"),
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    csrf.init_app(app)
    from flask_babel import lazy_gettext

    from portal import realtime, redis_pool

    # The throttling counters borrow the app's shared, blocking Redis pool (portal/redis_pool.py).
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", redis_pool.limiter_options(app))
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please sign in to continue.")
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
    # With REDIS_URL, a message queue that tells this process's sockets to resync when it loses
    # Redis (portal/realtime.py, docs/chat-protocol.md "Resync").
    queue = realtime.message_queue(app)
    socketio.init_app(
        app,
        async_mode=_async_mode(app),
        message_queue=app.config.get("REDIS_URL"),
        **({"client_manager": queue} if queue is not None else {}),
        cors_allowed_origins=None,  # same origin only (an empty list would switch the check off)
        manage_session=False,
        max_http_buffer_size=app.config["SOCKETIO_MAX_PAYLOAD_BYTES"],  # see portal/inputs.py
    )

    import chat.models  # noqa: F401  (every model must be known to Alembic)
    import content.models  # noqa: F401
    import portal.accounts.models
    import portal.api.models
    import portal.insights.models
    import portal.privacy.models
    import portal.questions.models
    import portal.records.models
    import portal.retention.models
    import portal.safety.models
    import portal.webhooks.models  # noqa: F401
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


def _init_features(app: Flask) -> None:
    """Each package wires itself (blueprints, CLI groups, home page panels, demo data, per-app
    state in ``app.extensions``). Chat, content, questions, safety: the home page shows their
    panels, and ``seed-demo`` runs their demo data, in this order."""
    import chat
    import content
    from portal import (
        accounts,
        admin,
        api,
        auth,
        insights,
        main,
        privacy,
        questions,
        records,
        retention,
        safety,
        webhooks,
    )

    main.init_app(app)
    auth.init_app(app)
    admin.init_app(app)
    chat.init_app(app)
    content.init_app(app)
    questions.init_app(app)
    safety.init_app(app)
    accounts.init_app(app)
    api.init_app(app)
    insights.init_app(app)
    webhooks.init_app(app)
    records.init_app(app)
    privacy.init_app(app)
    retention.init_app(app)
