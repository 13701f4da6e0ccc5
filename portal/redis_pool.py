"""One Redis connection pool per URL for the whole app: presence, session bindings, the
throttling counters and the Socket.IO message queue's publisher all borrow from it.

The pool blocks: when every connection is busy, a call waits up to ``REDIS_POOL_TIMEOUT_SECONDS``
for one to come back instead of failing. redis-py's own default pool refuses the 101st
concurrent call outright ("Too many connections"), which a burst of sends on a freshly started
process (a client resending after a reconnect) used to hit.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

_EXTENSION = "portal.redis_pools"
_lock = threading.Lock()


def _pools(app: Flask) -> dict[str, redis.Redis]:
    return app.extensions.setdefault(_EXTENSION, {})


def client(app: Flask | None = None, url: str | None = None) -> redis.Redis | None:
    """The app's shared client for ``url`` (default ``REDIS_URL``); ``None`` without Redis."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = url or app.config.get("REDIS_URL")
    if not url or not str(url).startswith(("redis://", "rediss://", "unix://")):
        return None
    pools = _pools(app)
    found = pools.get(url)
    if found is not None:
        return found
    with _lock:
        found = pools.get(url)
        if found is None:
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=int(app.config.get("REDIS_MAX_CONNECTIONS", 50)),
                timeout=float(app.config.get("REDIS_POOL_TIMEOUT_SECONDS", 5)),
                socket_timeout=5,
                socket_connect_timeout=2,
                health_check_interval=30,
                # One quick retry on a fresh connection (a pooled connection may have died with
                # a Redis restart); redis-py's default backs off for seconds, inside a request.
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
            )
            found = pools[url] = redis.Redis(connection_pool=pool)
    return found


def limiter_options(app: Flask) -> dict[str, Any]:
    """Storage options that put the throttling counters (``RATELIMIT_STORAGE_URI``) on the
    shared pool; nothing to add for in-memory storage."""
    uri = app.config.get("RATELIMIT_STORAGE_URI")
    shared = client(app, str(uri)) if uri else None
    return {} if shared is None else {"connection_pool": shared.connection_pool}


def limits_storage(uri: str, app: Flask | None = None) -> Any:
    """A :mod:`limits` storage for ``uri``: on the shared pool when it is Redis."""
    from limits.storage import storage_from_string

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    shared = client(app, uri)
    if shared is None:
        return storage_from_string(uri)
    options: dict[str, Any] = {"connection_pool": shared.connection_pool}
    return storage_from_string(uri, **options)


def close(app: Flask) -> None:
    """Close every pooled connection of ``app`` (tests, shutdown)."""
    for shared in _pools(app).values():
        shared.connection_pool.disconnect()
    _pools(app).clear()
