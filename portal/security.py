"""Response hardening: security headers, a Content-Security-Policy without inline script, request
ids, and safe ``next`` redirects."""

from __future__ import annotations

import secrets
from urllib.parse import urljoin, urlsplit

from flask import Flask, Response, g, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def is_safe_next(target: str | None) -> bool:
    """True only for a path on this site: no scheme, no host, no protocol-relative or backslash
    tricks, no control characters."""
    if not target or any(ord(c) < 32 for c in target) or "\\" in target:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(urljoin(request.host_url, target))
    return parts.scheme in ("http", "https") and parts.netloc == urlsplit(request.host_url).netloc


def safe_next(target: str | None, default: str) -> str:
    return target if target is not None and is_safe_next(target) else default


def _start_request() -> None:
    g.request_id = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)


def _harden(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if request.is_secure:
        response.headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
    if response.mimetype == "text/html":
        # Pages may carry professional or personal data: never keep them in shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_harden)
