"""Real-time events queued by services and sent only once their transaction has committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "portal.pending_emits"
_CALLBACKS = "portal.after_commit_calls"


def emit_after_commit(session: Session, event_name: str, data: Any, **kwargs: Any) -> None:
    """Queue a Socket.IO emit on ``session``: it is sent after commit and dropped on rollback."""
    session.info.setdefault(_PENDING, []).append((event_name, data, kwargs))


def call_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``session`` commits (dropped on rollback): real-time side effects
    other than emits, such as taking sockets out of a room."""
    session.info.setdefault(_CALLBACKS, []).append(callback)


def pending_emits(session: Session) -> list[tuple[str, Any, dict[str, Any]]]:
    """What ``session`` would send if it committed now (for tests and diagnostics)."""
    return list(session.info.get(_PENDING, []))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    queued = session.info.pop(_PENDING, [])
    callbacks = session.info.pop(_CALLBACKS, [])
    if queued:
        from portal.extensions import socketio

        for event_name, data, kwargs in queued:
            socketio.emit(event_name, data, **kwargs)
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_CALLBACKS, None)


# Feature packages that hold live connections (chat) register how to close a user's sockets.
_socket_closers: list[Callable[[int], None]] = []


def register_socket_closer(closer: Callable[[int], None]) -> Callable[[int], None]:
    """Register ``closer(user_id)``, which disconnects every live socket of a user."""
    if closer not in _socket_closers:
        _socket_closers.append(closer)
    return closer


def close_sockets_after_commit(session: Session, user_id: int) -> None:
    """Once ``session`` commits, disconnect every live socket of the user (suspension, password
    reset: the sessions those sockets were opened with are void).

    The sockets are closed from a background task with an application context of its own: their
    disconnect handlers use the database, which the committing session may not do any more.
    """
    from flask import current_app

    from portal.extensions import socketio

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def close() -> None:
        with app.app_context():
            for closer in _socket_closers:
                closer(user_id)

    call_after_commit(session, lambda: socketio.start_background_task(close))
