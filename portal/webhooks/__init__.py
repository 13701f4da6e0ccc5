"""Webhooks: an administrator subscribes a URL to the portal's events; the background worker
posts each event to it, signed, retried with backoff, in order (``docs/webhooks.md``).

- ``models.py``: subscriptions and deliveries (the outbox);
- ``service.py``: :func:`publish` (called by the services, in their transaction) and the
  administration services;
- ``delivery.py``: the worker's drain: claims, the SSRF guard, signing, retries;
- ``views.py``: the administration pages under ``/admin/webhooks``.
"""

from __future__ import annotations

from flask import Flask

from portal.webhooks.models import WebhookEvent
from portal.webhooks.service import publish

__all__ = ["WebhookEvent", "init_app", "publish"]


def init_app(app: Flask) -> None:
    """Register the administration pages and the worker's drain of the deliveries."""
    from portal import jobs
    from portal.webhooks.delivery import deliver_pending
    from portal.webhooks.views import blueprint

    app.register_blueprint(blueprint, url_prefix="/admin/webhooks")
    jobs.register_outbox(app, "webhooks", deliver_pending)
