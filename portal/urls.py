"""Absolute links for mail, built the same way in a request, the CLI or a worker."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, url_for

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for ``endpoint``: ``PUBLIC_URL`` if configured, else the current host."""
    public = current_app.config.get("PUBLIC_URL")
    if has_request_context() and not public:
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context(base_url=public or DEFAULT_PUBLIC_URL):
        return url_for(endpoint, _external=True, **values)
