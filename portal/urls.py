"""Absolute links for mail, built from ``PUBLIC_URL`` alike in a request, the CLI or a worker.

A link is never built from the request's ``Host`` header: whoever sends a request may choose that
header, and a password-reset link pointing at their host hands them the account.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, current_app

# Only where nobody else can be sent a link: a developer's own machine (debug) and the tests.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


class PublicURLError(RuntimeError):
    """``PUBLIC_URL`` is missing or is not an http(s) URL with a host."""


def _problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"PUBLIC_URL={url!r} is not an http:// or https:// URL with a host"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"PUBLIC_URL={url!r} must not carry a query, a fragment or credentials"
    return None


def public_url(app: Flask) -> str:
    """The base of every absolute link: ``PUBLIC_URL``, or the loopback address in debug and
    tests. Raises :class:`PublicURLError` when it is missing elsewhere, or malformed."""
    configured: str | None = app.config.get("PUBLIC_URL")
    if not configured:
        if app.debug or app.testing:
            return DEFAULT_PUBLIC_URL
        raise PublicURLError(
            "PUBLIC_URL is not set. Links in mail (password reset, e-mail confirmation, "
            "invitations) are built from it and never from the request's Host header. Set it "
            "to the address people use, e.g. PUBLIC_URL=https://portal.example.org "
            "(`make run` sets http://127.0.0.1:$PORT)."
        )
    problem = _problem(configured)
    if problem:
        raise PublicURLError(problem)
    return configured.rstrip("/")


def check_public_url(app: Flask) -> None:
    """Raise :class:`PublicURLError` unless links can be built: called before serving."""
    public_url(app)


def public_host(app: Flask) -> str | None:
    """The host name of :func:`public_url` (no port), or ``None`` while ``PUBLIC_URL`` is unset
    in a process that may not serve (a ``flask`` command). Raises :class:`PublicURLError` when
    ``PUBLIC_URL`` is malformed."""
    if not (app.config.get("PUBLIC_URL") or app.debug or app.testing):
        return None
    return urlsplit(public_url(app)).hostname


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for ``endpoint`` (its full name, e.g. ``"auth.login"``) under
    :func:`public_url`, whatever host the current request (if any) was sent to."""
    base = urlsplit(public_url(current_app))
    # Bound afresh from configuration: neither the request's host nor its URL adapter is used.
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    anchor = values.pop("_anchor", None)
    values.pop("_external", None)
    current_app.inject_url_defaults(endpoint, values)
    url = adapter.build(endpoint, values, force_external=True)
    return f"{url}#{quote(str(anchor), safe='')}" if anchor else url
