"""One writer at a time on the embedded database, waited for without blocking the server.

SQLite lets one connection write at a time: a second writer waits in ``busy_timeout``, a C
sleep loop. The production server (``python wsgi.py``) runs every request, socket event and the
in-process jobs worker as greenlets of one thread, so that wait stops the whole process, the
writer it waits for included whenever that writer paused for I/O inside its transaction (a
socket write, a Redis or mail call): the process froze for ``busy_timeout`` (5 s) and the waiter
failed with "database is locked" (measured by ``bench/soak.py``: 500 queued messages at once,
and the memory they held, at each freeze).

Here each SQLite connection of this process takes its file's process-wide lock before the statement
that starts its write (SQLite's own RESERVED lock is taken at the same moment) and gives it back
when its transaction ends (commit, rollback, close, or a statement run outside a transaction).
Under gevent the lock is gevent's: a second writer sleeps as a greenlet and the first one
finishes. Threads (the test client, ``flask`` commands) wait on it the same way. Another process
on the same file still meets ``busy_timeout``, as before. The wait is bounded by that timeout
and ends, as SQLite's would, with ``sqlite3.OperationalError("database is locked")``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask

BUSY_TIMEOUT_S = 5.0  # as PRAGMA busy_timeout in portal.extensions

# Statements that never write: reading, transaction control, introspection. Anything else
# (INSERT, UPDATE, DELETE, REPLACE, DDL, WITH ... INSERT) takes the lock first.
_READS = ("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "END")
_WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

# One lock per database file (two files never wait for each other; an in-memory database is
# its connection's own). Threading's locks: gevent's monkey patching (wsgi.py, before anything
# imports this module) makes them greenlet locks.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def lock_for(database: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> threading.Lock:
    """The writers' lock of the database file ``database`` (as given to ``sqlite3.connect``)."""
    name = os.fsdecode(database)
    if name == ":memory:" or name.startswith("file::memory:") or "mode=memory" in name:
        return threading.Lock()
    if name.startswith("file:"):
        name = name[5:].split("?", 1)[0]
    key = os.path.realpath(name)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def writes(sql: str) -> bool:
    """Whether ``sql`` may write (and so take SQLite's write lock)."""
    head = sql.lstrip()[:10].upper()
    if head.startswith("WITH"):
        upper = sql.upper()
        return any(word in upper for word in _WRITE_WORDS)
    return not head.startswith(_READS)


class WriteSerializedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that holds its file's lock (:func:`lock_for`) from its first
    write to the end of that transaction (the ``factory`` of every SQLite connection the portal
    opens)."""

    _holds = False

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock = lock_for(database)

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or WriteSerializedCursor)

    # The shortcuts run their statement without the cursor's methods: through them instead.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> Any:
        return self.cursor().executescript(script)

    @contextlib.contextmanager
    def statement(self, sql: str) -> Iterator[None]:
        """Around one statement: the lock first if it may write; given back after it if the
        transaction ended with it."""
        self._before(sql)
        try:
            yield
        finally:
            self._after()

    def _before(self, sql: str) -> None:
        if not self._holds and writes(sql):
            if not self._lock.acquire(timeout=BUSY_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked")
            self._holds = True

    def _after(self) -> None:
        # A statement in autocommit mode (or a COMMIT/ROLLBACK run as SQL) ends its transaction.
        if self._holds and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        if self._holds:
            self._holds = False
            self._lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def __del__(self) -> None:
        # A connection dropped without close() must not keep every other writer waiting.
        self._release()


class WriteSerializedCursor(sqlite3.Cursor):
    connection: WriteSerializedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> WriteSerializedCursor:
        with self.connection.statement(sql):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> WriteSerializedCursor:
        with self.connection.statement(sql):
            return super().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        with self.connection.statement(script):
            return super().executescript(script)


def configure(app: Flask) -> None:
    """Open the app's SQLite connections through :class:`WriteSerializedConnection`."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        return
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    connect_args = options.setdefault("connect_args", {})
    connect_args.setdefault("factory", WriteSerializedConnection)
