"""Errors of the integration API as ``application/problem+json`` (RFC 9457).

Every refusal under ``/api/v1`` is one of the problem types below: ``type`` is a stable URI a
client may switch on (documented in ``docs/api.md``), ``title`` its fixed summary, ``status`` the
HTTP status, ``detail`` what was wrong this time, and for invalid input ``errors`` maps each bad
field to its message.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, json, request

API_PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hcp-portal.invalid/problems/"

# status -> (type slug, title) for refusals that carry no more specific type.
BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid-request", "The request is not valid"),
    401: ("unauthenticated", "A valid API token is required"),
    403: ("insufficient-scope", "The token's scopes do not allow this"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "That conflicts with the current state"),
    413: ("too-large", "The request is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-input", "The input is not valid"),
    429: ("rate-limited", "Too many requests"),
    500: ("server-error", "Something went wrong on our side"),
}

# Domain error codes (portal.errors.PortalError.code) with a type of their own.
BY_CODE: dict[str, tuple[str, str]] = {
    "contact_refused": ("contact-refused", "The HCP's contact rule refuses this contact"),
}


def is_api_request() -> bool:
    """Is the current request one for the integration API (not its reference page)?"""
    path = request.path
    inside = path == API_PREFIX or path.startswith(API_PREFIX + "/")
    return inside and path != API_PREFIX + "/docs"


def problem_type(slug: str) -> str:
    return TYPE_BASE + slug


def problem(
    status: int,
    detail: str = "",
    *,
    code: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response. ``code`` picks a specific type (see :data:`BY_CODE`)."""
    slug, title = BY_CODE.get(code or "", BY_STATUS.get(status, ("error", "Error")))
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path,
    }
    if g.get("request_id"):
        body["request_id"] = g.request_id
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
