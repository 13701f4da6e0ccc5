"""Who is calling the API: the bearer token of every request under ``/api/v1``.

One hook for the whole API (``authenticate``, before any view): it reads ``Authorization: Bearer
<token>``, refuses a missing, unknown or revoked token (401, ``WWW-Authenticate``), spends the
token's rate budget (``API_RATE_LIMIT``, 429 with ``Retry-After``), and keeps the token on ``g``.
Failed attempts spend the client address's budget (``API_AUTH_FAILURE_LIMIT``), so guessing tokens
is throttled. After the response, the use is recorded (``last_used_at``, audit ``api.request``).
Views ask :func:`require_scope`; which records a scope may read is decided in ``portal.policy``.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, g, request
from limits import parse

from portal import policy
from portal.api import problems, tokens
from portal.api.models import ApiScope, ApiToken
from portal.extensions import limiter

# The document and the reference page are public: a client reads them before it has a token.
PUBLIC_PATHS = frozenset({problems.API_PREFIX + "/openapi.json", problems.API_PREFIX + "/docs"})


def current_token() -> ApiToken:
    """The token of the current API request (the hook has authenticated it)."""
    token: ApiToken = g.api_token
    return token


def require_scope(*scopes: ApiScope) -> ApiToken:
    """The current token, if it holds any of ``scopes``; otherwise a 403 problem."""
    token = current_token()
    if not any(policy.token_has_scope(token, scope) for scope in scopes):
        from werkzeug.exceptions import Forbidden

        needed = " or ".join(scope.value for scope in scopes)
        raise Forbidden(f"This needs the scope {needed}.")
    return token


def _spend(bucket: str, key: str, rate: str) -> int | None:
    """Spend one from the budget; the seconds to wait when it is spent, else None."""
    if not (limiter.enabled and limiter.initialized):
        return None
    item = parse(rate)
    if limiter.limiter.hit(item, bucket, key):
        return None
    stats = limiter.limiter.get_window_stats(item, bucket, key)
    return max(1, math.ceil(stats.reset_time - time.time()))


def _too_many(seconds: int) -> Response:
    return problems.problem(
        429,
        f"Too many requests: wait {seconds} seconds and try again.",
        headers={"Retry-After": str(seconds)},
    )


def authenticate() -> Response | None:
    if not problems.is_api_request() or request.path in PUBLIC_PATHS:
        return None
    address = request.remote_addr or "-"
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    token = tokens.find_by_secret(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        if request.routing_exception is not None:
            # No such route (or method): the 404 or 405 problem, whoever asks. The routes are
            # public (the document lists them); an id out of range is a 404 for everyone.
            return None
        wait = _spend("api-auth-failures", address, current_app.config["API_AUTH_FAILURE_LIMIT"])
        if wait is not None:
            return _too_many(wait)
        return problems.problem(
            401,
            "Send a valid API token as 'Authorization: Bearer <token>'."
            if not header
            else "The API token is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    g.api_token = token
    wait = _spend("api-token", str(token.id), current_app.config["API_RATE_LIMIT"])
    if wait is not None:
        g.api_token_refused = True
        return _too_many(wait)
    return None


def record_use(response: Response) -> Response:
    # A refused request (over its budget) is not recorded: a flood must not write a flood.
    token = g.get("api_token")
    if token is not None and not g.get("api_token_refused") and problems.is_api_request():
        path = request.full_path.rstrip("?")
        tokens.record_use(token.id, method=request.method, path=path, status=response.status_code)
    return response


def init_app(app: Flask) -> None:
    app.before_request(authenticate)
    app.after_request(record_use)
