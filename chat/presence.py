"""Who is online: a user with at least one live ``/chat`` connection, in any server process.

With ``REDIS_URL`` set the connections are counted in Redis, so every process sees the same
presence; without it this process is the only one and counts in memory. In Redis the count heals
itself (:mod:`portal.redis_registry`): the connections of a server process that died are removed
within ``PRESENCE_EXPIRY_SECONDS`` plus one heartbeat, and the listeners registered with
:func:`on_change` hear that their users went offline; after a Redis restart each process counts
its connections again at its next heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from portal.redis_registry import Registry

NAMESPACE = "/chat"
_registry = Registry("chat:presence")


def connected(user_id: int, sid: str) -> bool:
    """Count a new connection; ``True`` when the user just came online."""
    return _registry.add(str(user_id), sid)


def disconnected(user_id: int, sid: str) -> bool:
    """Forget a connection; ``True`` when the user just went offline."""
    return _registry.remove(str(user_id), sid)


def sids_of(user_id: int) -> list[str]:
    """Every live connection of the user, in every process."""
    return _registry.members(str(user_id))


def is_online(user_id: int) -> bool:
    return bool(_registry.nonempty([str(user_id)]))


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` are online: one round trip to Redis for them all."""
    return {int(key) for key in _registry.nonempty(str(user_id) for user_id in user_ids)}


def on_change(listener: Callable[[int, bool], None]) -> None:
    """Call ``listener(user_id, online)`` when healing, rather than a connect or disconnect,
    changes whether a user is online: the sweep of a dead server process (``False``), or a
    process counting its connections again after Redis lost them (``True``). Runs in the
    heartbeat task, with an application context."""
    _registry.on_change(lambda key, nonempty: listener(int(key), nonempty))


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
    _registry.reset()
