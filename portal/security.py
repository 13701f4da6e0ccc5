"""Response hardening: security headers, a Content-Security-Policy without inline script, request
ids, safe ``next`` redirects, the hosts the portal answers for and the proxies it believes."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from flask import Flask, Response, abort, g, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

from portal import urls

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


# What a client's X-Request-ID must look like to be kept: it is written to the log and shown on
# error pages, so no spaces, newlines, markup or unbounded length.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it matches :data:`REQUEST_ID`, else a fresh one."""
    if header is not None and REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(8)


def _start_request() -> None:
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))


def _refuse_unreadable_input() -> None:
    """The portal's forms are HTML forms. A JSON body (which Flask-WTF would hand to a form, with
    lists and numbers where text belongs) is refused with 415, and a NUL character, which nobody
    types and PostgreSQL cannot store, with 400, before any view reads them."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    from portal.api.problems import is_api_request

    # The integration API reads JSON through its schemas (which refuse NUL characters).
    if request.is_json and not is_api_request():
        abort(415, description="Send this form as a web form, not as JSON.")
    for source in (request.args, request.form):
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                abort(400, description="The form holds a character that cannot be stored.")


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


def trusted_hosts(app: Flask) -> list[str]:
    """The hosts the portal answers for: ``PUBLIC_URL``'s host and ``ALLOWED_HOSTS`` (a leading
    dot allows every subdomain). Empty only in a ``flask`` command without ``PUBLIC_URL``, which
    serves nobody (the server refuses to start without it)."""
    public = urls.public_host(app)
    allowed: Iterable[str] = app.config.get("ALLOWED_HOSTS") or ()
    return list(dict.fromkeys([*([public] if public else []), *allowed]))


class TrustedHostGuard:
    """Answers 400 to a request whose ``Host`` is not trusted, before the app sees it.

    Flask checks ``TRUSTED_HOSTS`` only when it builds its URL adapter: a refused request then has
    none, so the friendly error page (which links its style sheets) cannot be drawn, and
    Socket.IO's requests never reach Flask at all. One check in front of both covers every path.
    """

    def __init__(self, wsgi_app: WSGIApplication, hosts: list[str]) -> None:
        self.wsgi_app = wsgi_app
        self.hosts = hosts

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            get_host(environ, self.hosts)
        except SecurityError:
            refusal = Response(
                "This address does not serve the portal.\n", 400, mimetype="text/plain"
            )
            refusal.headers.update(HEADERS)
            return refusal(environ, start_response)
        return self.wsgi_app(environ, start_response)


def wrap_wsgi(app: Flask) -> None:
    """Put the proxy-header reader and the host check in front of the app (and of Socket.IO's
    middleware, so call this after the extensions are initialised).

    With ``TRUSTED_PROXIES`` = N > 0, ProxyFix takes the client's address, scheme and host from
    the last N entries of ``X-Forwarded-For``/``-Proto``/``-Host`` (what our own N proxies
    appended); with 0 those headers are ignored and the socket's address is the client's, so
    nobody chooses the address that the audit trail records and the sign-in limits count.
    """
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops < 0:
        raise ValueError(f"TRUSTED_PROXIES must be 0 or more, not {hops}")
    hosts = app.config.get("TRUSTED_HOSTS")
    if hosts:
        app.wsgi_app = TrustedHostGuard(app.wsgi_app, hosts)  # type: ignore[method-assign]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def init_app(app: Flask) -> None:
    # Flask refuses other hosts too (request.host), should a request ever get past the guard.
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app) or None
    app.before_request(_start_request)
    app.before_request(_refuse_unreadable_input)
    app.after_request(_harden)
