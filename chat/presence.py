"""Who is online: a user with at least one live ``/chat`` connection, in any server process.

With ``REDIS_URL`` set the connections are counted in Redis, so every process sees the same
presence; without it this process is the only one and counts in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from flask import current_app

NAMESPACE = "/chat"
_KEY = "chat:presence:{}"
_lock = threading.Lock()
_local: dict[int, set[str]] = {}
_clients: dict[str, Any] = {}


def _redis() -> Any | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5)
    return client


def connected(user_id: int, sid: str) -> bool:
    """Count a new connection; ``True`` when the user just came online."""
    client = _redis()
    if client is not None:
        key = _KEY.format(user_id)
        pipe = client.pipeline()
        pipe.sadd(key, sid)
        pipe.scard(key)
        added, count = pipe.execute()
        return bool(added) and int(count) == 1
    with _lock:
        sids = _local.setdefault(user_id, set())
        was_online = bool(sids)
        sids.add(sid)
        return not was_online


def disconnected(user_id: int, sid: str) -> bool:
    """Forget a connection; ``True`` when the user just went offline."""
    client = _redis()
    if client is not None:
        key = _KEY.format(user_id)
        pipe = client.pipeline()
        pipe.srem(key, sid)
        pipe.scard(key)
        removed, count = pipe.execute()
        return bool(removed) and int(count) == 0
    with _lock:
        sids = _local.get(user_id, set())
        if sid not in sids:
            return False
        sids.discard(sid)
        if not sids:
            _local.pop(user_id, None)
            return True
        return False


def sids_of(user_id: int) -> list[str]:
    """Every live connection of the user, in every process."""
    client = _redis()
    if client is not None:
        return [
            s.decode() if isinstance(s, bytes) else s for s in client.smembers(_KEY.format(user_id))
        ]
    with _lock:
        return sorted(_local.get(user_id, set()))


def is_online(user_id: int) -> bool:
    client = _redis()
    if client is not None:
        return bool(client.scard(_KEY.format(user_id)))
    with _lock:
        return bool(_local.get(user_id))


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` are online: one round trip to Redis for them all."""
    wanted = sorted(set(user_ids))
    client = _redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for user_id in wanted:
            pipe.scard(_KEY.format(user_id))
        return {user_id for user_id, count in zip(wanted, pipe.execute(), strict=True) if count}
    with _lock:
        return {user_id for user_id in wanted if _local.get(user_id)}


def remove_user_from_room(user_id: int, room: str) -> None:
    """Take every live socket of the user out of ``room``; through the message queue this
    reaches sockets held by other processes too."""
    from portal.extensions import socketio

    server = getattr(socketio, "server", None)
    if server is None:
        return
    for sid in sids_of(user_id):
        server.leave_room(sid, room, namespace=NAMESPACE)


def disconnect_user(user_id: int) -> None:
    """Disconnect every live ``/chat`` socket of the user, in every process (through the
    message queue): used when the user's sessions become void."""
    from portal.extensions import socketio

    server = getattr(socketio, "server", None)
    if server is None:
        return
    for sid in sids_of(user_id):
        server.disconnect(sid, namespace=NAMESPACE)


def reset() -> None:
    """Forget this process's connections (tests)."""
    with _lock:
        _local.clear()
