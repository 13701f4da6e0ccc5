"""Sets of live sockets seen by every server process, that heal when a process disappears.

Presence (which user has a ``/chat`` socket) and session bindings (which sockets were opened with
which sign-in session) are both "a set of this process's sockets under a key". A
:class:`Registry` keeps such sets: without ``REDIS_URL`` there is one server process and the sets
live in its memory; with it they live in Redis, where any process reads them.

Sets in Redis outlive the process that filled them, so each server process (a *node*: one app in
one process) proves that it is alive:

- every ``PRESENCE_HEARTBEAT_SECONDS`` it refreshes a heartbeat key that expires after
  ``PRESENCE_EXPIRY_SECONDS``, and records every entry it adds in an index of its own;
- on each heartbeat one live node (whichever takes a short lock first) sweeps the nodes whose
  heartbeat expired: one Lua script per dead node removes its entries, so each entry is removed
  exactly once, and the registry's listeners hear of each key left empty (presence tells the
  peers "offline", as a disconnect would);
- on each heartbeat the node also compares its index with the sockets it really holds (it keeps
  its own list in memory) and puts back what is missing: after a Redis restart, or after a stall
  long enough to be swept, its entries are back within one heartbeat, and the listeners hear of
  each key no longer empty.

A process that stops gracefully (SIGTERM under gevent, or a normal exit) sweeps itself. When
Redis cannot be reached, the registries answer from this process's own sockets and heal once it
is back.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import redis
from flask import Flask, current_app, has_app_context

from portal import redis_pool

log = logging.getLogger(__name__)

_EXTENSION = "portal.registry_node"
NODES = "portal:nodes"  # the ids of the nodes that may hold entries
HEARTBEAT = "portal:node:{}"  # expires unless refreshed: the node is alive while it exists
INDEX = "portal:node:{}:entries"  # every "<key>\n<member>" the node added
SWEEP_LOCK = "portal:nodes:sweep"

# Removes a dead node's entries, atomically: a node that comes back and re-registers does so
# either before (the heartbeat exists again: nothing is removed) or after (everything is put back).
_SWEEP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local out = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local cut = string.find(entry, '\\n', 1, true)
  if cut then
    local key = string.sub(entry, 1, cut - 1)
    if redis.call('SREM', key, string.sub(entry, cut + 1)) == 1 then
      out[#out + 1] = entry
      out[#out + 1] = redis.call('SCARD', key)
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return out
"""

Listener = Callable[[str, bool], None]
_registries: dict[str, Registry] = {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Registry:
    """Sets of this app's live sockets under keys (``<prefix>:<key>`` in Redis).

    ``expire_seconds``, when given, bounds how long a set may live in Redis (a session binding
    never outlives the longest session). Listeners (:meth:`on_change`) hear ``(key, nonempty)``
    when healing, not an add or remove by this process, empties or refills a set."""

    def __init__(
        self, prefix: str, *, expire_seconds: Callable[[Flask], int] | None = None
    ) -> None:
        self.prefix = prefix
        self.expire_seconds = expire_seconds
        self.listeners: list[Listener] = []
        _registries[prefix] = self

    def redis_key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def on_change(self, listener: Listener) -> Listener:
        """Register ``listener(key, nonempty)`` (idempotent)."""
        if listener not in self.listeners:
            self.listeners.append(listener)
        return listener

    def add(self, key: str, member: str) -> bool:
        """Record ``member`` under ``key``; ``True`` when the set was empty before, in every
        process."""
        node = _node()
        rkey = self.redis_key(key)
        with node.lock:
            members = node.local.setdefault(rkey, set())
            was_empty = not members
            members.add(member)
        client = redis_pool.client()
        if client is None:
            return was_empty
        node.start(client)
        pipe = client.pipeline()
        pipe.sadd(rkey, member)
        pipe.scard(rkey)
        pipe.sadd(INDEX.format(node.id), f"{rkey}\n{member}")
        if self.expire_seconds is not None:
            pipe.expire(rkey, self.expire_seconds(current_app))
        try:
            added, count, *_ = pipe.execute()
        except redis.RedisError:
            node.redis_failed("add")
            return was_empty
        return bool(added) and int(count) == 1

    def remove(self, key: str, member: str) -> bool:
        """Forget ``member``; ``True`` when the set is now empty, in every process."""
        node = _node()
        rkey = self.redis_key(key)
        with node.lock:
            members = node.local.get(rkey, set())
            had = member in members
            members.discard(member)
            if not members:
                node.local.pop(rkey, None)
            now_empty = had and not members
        client = redis_pool.client()
        if client is None:
            return now_empty
        pipe = client.pipeline()
        pipe.srem(rkey, member)
        pipe.scard(rkey)
        pipe.srem(INDEX.format(node.id), f"{rkey}\n{member}")
        try:
            removed, count, _ = pipe.execute()
        except redis.RedisError:
            node.redis_failed("remove")
            return now_empty
        return bool(removed) and int(count) == 0

    def members(self, key: str) -> list[str]:
        """Every member under ``key``, in every process (sorted)."""
        rkey = self.redis_key(key)
        client = redis_pool.client()
        if client is not None:
            try:
                return sorted(_text(m) for m in client.smembers(rkey))
            except redis.RedisError:
                _node().redis_failed("read")
        node = _node()
        with node.lock:
            return sorted(node.local.get(rkey, ()))

    def nonempty(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have a member in any process: one round trip for them all."""
        wanted = sorted(set(keys))
        client = redis_pool.client()
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for key in wanted:
                pipe.scard(self.redis_key(key))
            try:
                counts = pipe.execute()
            except redis.RedisError:
                _node().redis_failed("read")
            else:
                return {key for key, count in zip(wanted, counts, strict=True) if count}
        node = _node()
        with node.lock:
            return {key for key in wanted if node.local.get(self.redis_key(key))}

    def reset(self) -> None:
        """Forget this process's members (tests)."""
        if not has_app_context():
            return
        node = _node()
        with node.lock:
            for rkey in [k for k in node.local if k.startswith(self.prefix + ":")]:
                del node.local[rkey]


def _node(app: Flask | None = None) -> Node:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions.setdefault(_EXTENSION, Node(app))
    return found


def node_id(app: Flask | None = None) -> str:
    """This app's node id (its entries are recorded under it)."""
    return _node(app).id


def stop(app: Flask) -> None:
    """Stop ``app``'s heartbeat and sweep its entries away, as a graceful shutdown does."""
    node = app.extensions.get(_EXTENSION)
    if node is not None:
        node.shutdown()


class Node:
    """This app in this process, as every process sees it: an id, a heartbeat, an index."""

    def __init__(self, app: Flask) -> None:
        self.id = uuid.uuid4().hex
        self.local: dict[str, set[str]] = {}  # redis key -> this node's members
        self.lock = threading.Lock()
        self._app = weakref.ref(app)
        self._started = False
        self._stopped = False
        self._failing = False

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, client: redis.Redis) -> None:
        """Announce this node and start its heartbeat (once, at its first entry)."""
        if self._started:
            return
        with self.lock:
            if self._started:
                return
            self._started = True
        app = self._app()
        assert app is not None
        try:
            pipe = client.pipeline()
            pipe.set(HEARTBEAT.format(self.id), "1", ex=_expiry(app))
            pipe.sadd(NODES, self.id)
            pipe.execute()
        except redis.RedisError:
            self.redis_failed("heartbeat")
        from portal.extensions import socketio

        _live_nodes.add(self)
        _install_sigterm_exit(socketio.async_mode)
        socketio.start_background_task(self._run)

    def _run(self) -> None:
        from portal.extensions import socketio

        while not self._stopped:
            app = self._app()
            if app is None:
                return  # the app is gone (tests build many)
            interval = float(app.config.get("PRESENCE_HEARTBEAT_SECONDS", 5))
            del app
            socketio.sleep(interval)
            if self._stopped:
                return
            try:
                self.beat()
            except Exception:  # keep beating: the next round heals what this one could not
                log.exception("presence heartbeat failed (node %s)", self.id)

    def shutdown(self) -> None:
        """Stop beating and remove this node's entries, telling the listeners (best effort:
        otherwise another node sweeps them once the heartbeat expires)."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        app = self._app()
        if app is None:
            return
        with app.app_context():
            client = redis_pool.client(app)
            if client is None:
                return
            try:
                client.delete(HEARTBEAT.format(self.id))
                changes = self._sweep_node(client, self.id)
            except redis.RedisError:
                log.warning("could not remove this process's sockets from Redis at shutdown")
                return
            _notify(changes)

    # --- one heartbeat ---------------------------------------------------------------------------
    def beat(self) -> None:
        """Refresh the heartbeat, put back entries Redis lost, sweep dead nodes, tell listeners."""
        app = self._app()
        if app is None:
            return
        with app.app_context():
            client = redis_pool.client(app)
            if client is None:
                return
            try:
                changes = self._reconcile(client, app) + self._sweep(client, app)
            except redis.RedisError:
                self.redis_failed("heartbeat")
                return
            if self._failing:
                self._failing = False
                log.info("Redis is reachable again: presence and session bindings healed")
            _notify(changes)

    def _reconcile(self, client: redis.Redis, app: Flask) -> list[tuple[str, bool]]:
        index = INDEX.format(self.id)
        pipe = client.pipeline()
        pipe.set(HEARTBEAT.format(self.id), "1", ex=_expiry(app))
        pipe.sadd(NODES, self.id)
        pipe.smembers(index)
        registered = {_text(e) for e in pipe.execute()[2]}
        # Read after the index: an add or remove racing this one is then applied twice at worst
        # (idempotent, and its "became empty/nonempty" is reported once, by whoever won).
        with self.lock:
            held = {f"{rkey}\n{m}" for rkey, members in self.local.items() for m in members}
        missing, extra = sorted(held - registered), sorted(registered - held)
        if not missing and not extra:
            return []
        pipe = client.pipeline()
        queued: list[tuple[str, bool, int]] = []  # (key, adding, commands queued for it)
        for entry in missing:
            rkey, member = entry.split("\n", 1)
            pipe.sadd(rkey, member)
            pipe.scard(rkey)
            pipe.sadd(index, entry)
            registry = _registry_of(rkey)
            if registry is not None and registry.expire_seconds is not None:
                pipe.expire(rkey, registry.expire_seconds(app))
                queued.append((rkey, True, 4))
            else:
                queued.append((rkey, True, 3))
        for entry in extra:
            rkey, member = entry.split("\n", 1)
            pipe.srem(rkey, member)
            pipe.scard(rkey)
            pipe.srem(index, entry)
            queued.append((rkey, False, 3))
        results = pipe.execute()
        changes: list[tuple[str, bool]] = []
        at = 0
        for rkey, adding, commands in queued:
            changed, count = results[at], int(results[at + 1])
            at += commands
            # Refilled from empty, or emptied: what a connect or disconnect would have reported.
            if changed and count == (1 if adding else 0):
                changes.append((rkey, adding))
        return changes

    def _sweep(self, client: redis.Redis, app: Flask) -> list[tuple[str, bool]]:
        interval = float(app.config.get("PRESENCE_HEARTBEAT_SECONDS", 5))
        # One sweeper per heartbeat period, whichever node comes first; the script makes each
        # removal happen once even if two ever ran.
        if not client.set(SWEEP_LOCK, self.id, nx=True, px=max(100, int(interval * 1000))):
            return []
        others = sorted(_text(n) for n in client.smembers(NODES) if _text(n) != self.id)
        if not others:
            return []
        pipe = client.pipeline(transaction=False)
        for other in others:
            pipe.exists(HEARTBEAT.format(other))
        dead = [n for n, alive in zip(others, pipe.execute(), strict=True) if not alive]
        changes: list[tuple[str, bool]] = []
        for other in dead:
            swept = self._sweep_node(client, other)
            log.info("swept %d socket entries of a server process that stopped", len(swept))
            changes += swept
        return changes

    def _sweep_node(self, client: redis.Redis, node: str) -> list[tuple[str, bool]]:
        script = client.register_script(_SWEEP)
        out = script(keys=[HEARTBEAT.format(node), INDEX.format(node), NODES], args=[node])
        changes = []
        for entry, count in zip(out[::2], out[1::2], strict=True):
            if int(count) == 0:
                changes.append((_text(entry).split("\n", 1)[0], False))
        return changes

    def redis_failed(self, what: str) -> None:
        # Once per outage: every call fails while Redis is down.
        if not self._failing:
            self._failing = True
            log.warning(
                "Redis unreachable (%s): answering presence and session bindings from this "
                "process alone until it is back",
                what,
                exc_info=True,
            )


def _registry_of(rkey: str) -> Registry | None:
    prefix = rkey.rsplit(":", 1)[0]
    return _registries.get(prefix)


def _notify(changes: list[tuple[str, bool]]) -> None:
    for rkey, nonempty in changes:
        registry = _registry_of(rkey)
        if registry is None:
            continue
        key = rkey[len(registry.prefix) + 1 :]
        for listener in registry.listeners:
            try:
                listener(key, nonempty)
            except Exception:
                log.exception("registry listener failed for %s", rkey)


def _expiry(app: Flask) -> int:
    return max(1, round(float(app.config.get("PRESENCE_EXPIRY_SECONDS", 15))))


# --- graceful shutdown --------------------------------------------------------------------------
_live_nodes: weakref.WeakSet[Node] = weakref.WeakSet()
_sigterm_installed = False


@atexit.register
def _shutdown_all() -> None:
    for node in list(_live_nodes):
        try:
            node.shutdown()
        except Exception:  # exiting anyway; the others sweep what is left
            log.exception("could not sweep node %s at exit", node.id)


def _install_sigterm_exit(async_mode: str | None) -> None:
    """Under gevent (``python wsgi.py``) SIGTERM would end the process without running exit
    handlers: turn it into a normal exit, so that this process sweeps itself."""
    global _sigterm_installed
    if async_mode != "gevent" or _sigterm_installed:
        return
    import signal

    import gevent

    _sigterm_installed = True

    def exit_now() -> None:
        raise SystemExit(0)

    gevent.signal_handler(signal.SIGTERM, exit_now)
