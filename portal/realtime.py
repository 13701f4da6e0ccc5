"""Real-time events queued by services and sent only once their transaction has committed, and
the message queue that carries them between server processes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from socketio import RedisManager
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "portal.pending_emits"
_CALLBACKS = "portal.after_commit_calls"


def emit_after_commit(session: Session, event_name: str, data: Any, **kwargs: Any) -> None:
    """Queue a Socket.IO emit on ``session``: it is sent after commit and dropped on rollback."""
    session.info.setdefault(_PENDING, []).append((event_name, data, kwargs))


def call_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``session`` commits (dropped on rollback): real-time side effects
    other than emits, such as taking sockets out of a room."""
    session.info.setdefault(_CALLBACKS, []).append(callback)


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    queued = session.info.pop(_PENDING, [])
    callbacks = session.info.pop(_CALLBACKS, [])
    if queued:
        from portal.extensions import socketio

        manager = getattr(socketio.server, "manager", None)
        queue = manager if isinstance(manager, MessageQueue) else None
        # A batch of chat messages: one round trip to Redis for all of them.
        with queue.together() if queue is not None else contextlib.nullcontext():
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


# --- the message queue ----------------------------------------------------------------------------
RESYNC = "resync"


class MessageQueue(RedisManager):
    """python-socketio's Redis message queue, made to miss nothing silently
    (docs/chat-protocol.md, "Resync").

    Events published while a process's subscriber is away never reach that process's sockets.
    So when the subscriber reconnects (retrying quickly: at most :attr:`RETRY_MAX` seconds
    apart, not python-socketio's growing waits up to a minute), every socket this process holds
    gets ``resync`` (``{"reason": "reconnected"}``), and the client catches up with ``join``.
    A publish that fails (Redis down) is logged, never raised into the request; once Redis
    answers again the other processes are told to resync their sockets too
    (``{"reason": "missed"}``). Publishes borrow the app's shared pool (:mod:`portal.redis_pool`);
    the subscriber keeps a connection of its own."""

    RETRY_FIRST = 0.5
    RETRY_MAX = 5.0
    pubsub: Any

    def __init__(self, url: str, publisher: redis.Redis, channel: str = "flask-socketio") -> None:
        super().__init__(url, channel=channel)
        self.publisher = publisher
        self._repairing = False
        self._closed = False
        self._initialized = False
        self._held = threading.local()  # greenlet-local under gevent: see together()

    def initialize(self) -> None:
        # Once: Flask-SocketIO's test client initializes the manager again for each client.
        if not self._initialized:
            self._initialized = True
            super().initialize()

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Publish what this greenlet (or thread) emits inside the block in one pipeline at its
        end, in order: the events of a committed batch cost one round trip to Redis, not one
        each. This process's own sockets get each event at once, as always."""
        if self._held.__dict__.get("messages") is not None:  # already inside a block
            yield
            return
        held: list[dict[str, Any]] = []
        self._held.messages = held
        try:
            yield
        finally:
            self._held.messages = None
            if held:
                self._publish_all(held)

    def _publish(self, data: dict[str, Any]) -> None:
        held = self._held.__dict__.get("messages")
        if held is not None:
            held.append(data)
            return
        self._publish_all([data])

    def _publish_all(self, messages: list[dict[str, Any]]) -> None:
        try:
            if len(messages) == 1:
                self.publisher.publish(self.channel, self.json.dumps(messages[0]))
            else:
                pipe = self.publisher.pipeline(transaction=False)
                for data in messages:
                    pipe.publish(self.channel, self.json.dumps(data))
                pipe.execute()
        except Exception:  # Redis down or the pool exhausted: logged, and recovered below
            log.warning(
                "could not publish %d live event(s) (%s) to Redis; other processes' sockets "
                "will resync",
                len(messages),
                ", ".join(sorted({str(d.get("event") or d.get("method")) for d in messages})),
                exc_info=True,
            )
            if not self._repairing:
                self._repairing = True
                self.server.start_background_task(self._tell_others_to_resync)

    def _tell_others_to_resync(self) -> None:
        wait = self.RETRY_FIRST
        while not self._closed:
            self.server.sleep(wait)
            try:
                for namespace in sorted(self.server.handlers):
                    message = {
                        "method": "emit",
                        "event": RESYNC,
                        "data": [{"reason": "missed"}],
                        "namespace": namespace,
                        "room": None,
                        "skip_sid": None,
                        "callback": None,
                        "host_id": self.host_id,  # this process's sockets had the event
                    }
                    self.publisher.publish(self.channel, self.json.dumps(message))
            except Exception:  # still down: try again later
                wait = min(wait * 2, self.RETRY_MAX)
                continue
            self._repairing = False
            return

    def _redis_connect(self) -> None:
        # The subscriber's own connection, outside the shared pool: it blocks reading for as long
        # as the process lives.
        if self.pubsub is not None:
            with contextlib.suppress(Exception):  # the old connection is already broken
                self.pubsub.close()
        self.redis = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=2, socket_keepalive=True
        )
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    def _redis_listen_with_retries(self) -> Iterator[dict[str, Any]]:
        wait = self.RETRY_FIRST
        lost = False
        while not self._closed:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                if lost:
                    log.info("message queue subscriber reconnected: telling sockets to resync")
                    self.resync_local("reconnected")
                lost, wait = False, self.RETRY_FIRST
                yield from self.pubsub.listen()
            except Exception as exc:  # Redis went away: retry, then resync
                if self._closed:
                    return
                log.error("message queue subscriber lost Redis (%s); retrying in %ss", exc, wait)
            lost = True
            time.sleep(wait)  # gevent-patched under the production server
            wait = min(wait * 2, self.RETRY_MAX)

    def _listen(self) -> Iterator[bytes]:
        # python-socketio's, without the final unsubscribe: the loop ends only when closed.
        channel = self.channel.encode()
        for message in self._redis_listen_with_retries():
            if message["channel"] == channel and message["type"] == "message":
                yield message["data"]

    def close(self) -> None:
        """Stop listening (tests, once done with the app)."""
        self._closed = True
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                self.pubsub.close()

    def resync_local(self, reason: str) -> None:
        """Send ``resync`` to every socket this process holds, in every namespace."""
        for namespace in list(self.get_namespaces()):
            self.emit(RESYNC, {"reason": reason}, namespace=namespace, ignore_queue=True)


def message_queue(app: Any) -> MessageQueue | None:
    """The Socket.IO client manager for ``app``: :class:`MessageQueue` on ``REDIS_URL``, or
    ``None`` (one process, no queue)."""
    from portal import redis_pool

    url = app.config.get("REDIS_URL")
    publisher = redis_pool.client(app, url) if url else None
    if publisher is None:
        return None
    return MessageQueue(str(url), publisher, channel=str(app.config["SOCKETIO_CHANNEL"]))
