"""Unbound Flask extensions, initialised by :func:`portal.create_app`."""

import contextlib
import sqlite3
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
socketio = SocketIO()
# Per-client-address throttling; per-account lockout is a business rule in the accounts service.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite enforces foreign keys only when asked; WAL lets readers run beside the writer."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# SQLite's compiler drops ``Select.with_hint``; SQLite takes a hint as ``table INDEXED BY index``
# after the table's name. Queries name an index only where SQLite's planner, with or without
# statistics, picks one that reads most of a table (content.services: materials by expiry).
def _sqlite_from_hint(compiler: Any, table: Any, text: str | None) -> str | None:
    return text


SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign,assignment]


# --- a connection tested before use ---------------------------------------------------------------
_unpinged: ContextVar[bool] = ContextVar("portal.unpinged", default=False)


def ping_before_use(engine: Engine) -> None:
    """Test each connection of a database server before use, as ``pool_pre_ping`` does (a server
    can drop idle connections: restart, failover, ``pg_terminate_backend``): one that fails is
    replaced before the caller sees it. Not inside :func:`unpinged`. A SQLite file cannot drop
    its connections: nothing to test."""
    if engine.dialect.name == "sqlite":
        return
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        if _unpinged.get():
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError() from exc  # the pool connects afresh and retries
            raise


@contextlib.contextmanager
def unpinged() -> Iterator[None]:
    """Take connections without the test before use, for work that answers a dropped connection
    itself by trying again (the chat send batch, :func:`chat.messages.send_many`): the first
    statement on a dropped connection fails, the pool is renewed, the retry succeeds. One round
    trip less for every message."""
    token = _unpinged.set(True)
    try:
        yield
    finally:
        _unpinged.reset(token)
