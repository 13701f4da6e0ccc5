"""Which live sockets were opened with which sign-in session, seen by every server process.

A socket is bound to its session at connect. Revoking the session disconnects every socket bound
to it: through the Socket.IO message queue (``REDIS_URL``) ``server.disconnect`` reaches a socket
held by another process, and the bindings themselves are kept in Redis so that any process can
find them. Without ``REDIS_URL`` there is one server process, and it keeps them in memory.

The disconnect is not what makes a revocation hold: every event on a socket first reads the
session it was bound to (:func:`portal.services.sessions.find_live`), so an event that races the
disconnect is refused all the same, and its socket closed (:func:`disconnect_after_answer`).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app
from sqlalchemy.orm import Session

from portal.realtime import call_after_commit
from portal.redis_registry import Registry

ANSWER_GRACE = 0.05  # seconds an acknowledgement has to leave before its socket is closed


def _longest_session(app: Flask) -> int:
    # A binding never outlives the longest a session can live.
    return int(app.config["SESSION_ABSOLUTE_HOURS"] * 3600) + 60


# The bindings of a server process that died are swept like its presence (portal.redis_registry).
_registry = Registry("portal:session-sockets", expire_seconds=_longest_session)


def _member(namespace: str, sid: str) -> str:
    return f"{namespace} {sid}"


def bind(session_id: str, namespace: str, sid: str) -> None:
    """Remember that socket ``sid`` (in ``namespace``) was opened with ``session_id``."""
    _registry.add(session_id, _member(namespace, sid))


def unbind(session_id: str, namespace: str, sid: str) -> None:
    """Forget a socket that closed."""
    _registry.remove(session_id, _member(namespace, sid))


def sockets_of(session_id: str) -> list[tuple[str, str]]:
    """``(namespace, sid)`` of every live socket bound to ``session_id``, in every process."""
    pairs = [tuple(m.split(" ", 1)) for m in _registry.members(session_id)]
    return [(p[0], p[1]) for p in pairs if len(p) == 2]


def disconnect(session_ids: Iterable[str]) -> None:
    """Disconnect every socket bound to any of ``session_ids``, wherever it is held."""
    from portal.extensions import socketio

    server = getattr(socketio, "server", None)
    if server is None:
        return
    for session_id in session_ids:
        for namespace, sid in sockets_of(session_id):
            server.disconnect(sid, namespace=namespace)


def disconnect_after_commit(session: Session, session_ids: Iterable[str]) -> None:
    """Once ``session`` commits, disconnect every socket bound to ``session_ids`` (nothing on
    rollback). Runs in a background task with an application context of its own: the sockets'
    disconnect handlers use the database, which the committing session may not do any more."""
    from portal.extensions import socketio

    ids = list(session_ids)
    if not ids:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def close() -> None:
        with app.app_context():
            disconnect(ids)

    call_after_commit(session, lambda: socketio.start_background_task(close))


def disconnect_after_answer(namespace: str, sid: str) -> None:
    """Disconnect socket ``sid``, held by this process, once the event being answered has sent
    its acknowledgement: for an event that found the socket's session ended. A client drops the
    acknowledgements of a namespace that closed first, so the socket is closed from a
    background task, :data:`ANSWER_GRACE` seconds later, with an application context of its own
    (its disconnect handler uses the database)."""
    from portal.extensions import socketio

    server = getattr(socketio, "server", None)
    if server is None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def close() -> None:
        socketio.sleep(ANSWER_GRACE)
        with app.app_context():
            server.disconnect(sid, namespace=namespace)

    socketio.start_background_task(close)


def reset() -> None:
    """Forget this process's bindings (tests)."""
    _registry.reset()
