"""Webhook subscriptions and the events published to them.

:func:`publish` is called by the services that make a change, in its transaction: a delivery row
per matching active subscription, so a delivery exists if and only if the change committed (an
outbox; ``portal/webhooks/delivery.py`` sends it). Payloads carry ids, types and times only,
never a question's or a message's words (minimum necessary): the receiver reads the details
through the API with its own token, which the firewall governs as for any client.

The firewall holds for pushed events too: a subscription has API scopes, and receives an event
only if a token with those scopes could read it (:func:`portal.policy.webhook_receives`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from portal import audit, policy
from portal.api.models import ApiScope
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.models import Side, User, utcnow
from portal.pagination import Page, paginate
from portal.unit_of_work import transactional
from portal.webhooks.delivery import UnsafeUrl, check_url
from portal.webhooks.models import (
    SUBSCRIBABLE,
    DeliveryState,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

PAGE_SIZE = 25


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def publish(event: WebhookEvent, data: dict[str, Any], *, side: Side | None = None) -> int:
    """Queue ``event`` for every active subscription that listens to it and may receive it, in
    the CALLER's transaction (never commits); returns how many deliveries were queued.

    ``data``: ids, types and times only (datetimes are written as ISO 8601 UTC). ``side``: the
    firewall side of the record, for question events (decided by the caller at publish time).
    """
    subscriptions = db.session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
    ).all()
    payload = {k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in data.items()}
    event_id = str(uuid.uuid4())
    now = utcnow()
    queued = 0
    for subscription in subscriptions:
        if event in subscription.event_set and policy.webhook_receives(
            subscription.scope_set, event.value, side
        ):
            db.session.add(_delivery(subscription, event, event_id, payload, now))
            queued += 1
    return queued


def _delivery(
    subscription: WebhookSubscription,
    event: WebhookEvent,
    event_id: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> WebhookDelivery:
    return WebhookDelivery(
        subscription_id=subscription.id, event_id=event_id, event_type=event, payload=payload,
        state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, created_at=now,
    )  # fmt: skip


# --- reading --------------------------------------------------------------------------------------
def list_subscriptions(actor: User) -> list[WebhookSubscription]:
    """Every subscription, newest first (administrators and compliance; others: ``NotFound``)."""
    policy.require_visible(policy.can_view_webhooks(actor))
    return list(
        db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id.desc()))
    )


def get_subscription(actor: User, subscription_id: int) -> WebhookSubscription:
    """One subscription, or ``NotFound`` (missing, or ``actor`` may not see webhooks)."""
    policy.require_visible(policy.can_view_webhooks(actor), _("That subscription"))
    subscription = db.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(_("That subscription was not found."))
    return subscription


def deliveries(
    actor: User, subscription: WebhookSubscription, *, page: int = 1
) -> Page[WebhookDelivery]:
    """A subscription's deliveries, newest first, one page at a time."""
    policy.require_visible(policy.can_view_webhooks(actor))
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc())
    )
    return paginate(query, page=page, page_size=PAGE_SIZE)


# --- changing ------------------------------------------------------------------------------------
def new_secret() -> str:
    """A signing secret: 256 random bits, prefixed so it is recognisable in a vault."""
    return "whsec_" + secrets.token_urlsafe(32)


def _problems(name: str, url: str, events: Iterable[str], scopes: Iterable[str]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not name.strip() or len(name.strip()) > 100:
        problems["name"] = _("Give the subscription a name (at most 100 characters).")
    if not url.strip() or len(url.strip()) > 2000:
        problems["url"] = _("Give the URL that receives the events.")
    else:
        try:
            check_url(url, allow_private=bool(current_app.config["WEBHOOK_ALLOW_PRIVATE"]))
        except UnsafeUrl as exc:
            problems["url"] = _("This URL cannot receive webhooks: %(why)s.", why=str(exc))
    if not set(events) or not set(events) <= {e.value for e in SUBSCRIBABLE}:
        problems["events"] = _("Choose at least one event.")
    if not set(scopes) or not set(scopes) <= {s.value for s in ApiScope}:
        problems["scopes"] = _("Choose at least one scope.")
    return problems


@transactional
def create_subscription(
    actor: User, *, name: str, url: str, events: Iterable[str], scopes: Iterable[str]
) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to ``events``, filtered by the firewall of ``scopes``; returns the
    subscription and its signing secret (to show the administrator once).

    Administrators only (``PermissionDenied``); ``InvalidInput`` lists every bad field, among
    them a URL refused by the SSRF guard. Audit: ``webhook.create`` (never the secret).
    """
    policy.require(policy.can_manage_webhooks(actor))
    events, scopes = sorted(set(events)), sorted(set(scopes))
    problems = _problems(name, url, events, scopes)
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    secret = new_secret()
    subscription = WebhookSubscription(
        name=name.strip(), url=url.strip(), events=" ".join(events), scopes=" ".join(scopes),
        secret=secret, active=True, created_by_id=actor.id, created_at=utcnow(),
    )  # fmt: skip
    db.session.add(subscription)
    db.session.flush()
    audit.record(
        actor, "webhook.create", subscription, name=subscription.name, url=subscription.url,
        events=events, scopes=scopes,
    )  # fmt: skip
    return subscription, secret


@transactional
def set_active(actor: User, subscription_id: int, *, active: bool) -> WebhookSubscription:
    """Enable or disable a subscription. A disabled one gets no new deliveries, and its pending
    ones wait until it is enabled again. Audit: ``webhook.enable`` / ``webhook.disable``."""
    subscription = get_subscription(actor, subscription_id)
    policy.require(policy.can_manage_webhooks(actor))
    if subscription.active == active:
        raise Conflict(_("The subscription is already in that state."))
    subscription.active = active
    audit.record(actor, "webhook.enable" if active else "webhook.disable", subscription)
    return subscription


@transactional
def rotate_secret(actor: User, subscription_id: int) -> tuple[WebhookSubscription, str]:
    """Give a subscription a new signing secret (returned, to show once); the next attempt of
    every delivery is signed with it. Audit: ``webhook.rotate_secret``."""
    subscription = get_subscription(actor, subscription_id)
    policy.require(policy.can_manage_webhooks(actor))
    secret = new_secret()
    subscription.secret = secret
    audit.record(actor, "webhook.rotate_secret", subscription)
    return subscription, secret


@transactional
def delete_subscription(actor: User, subscription_id: int) -> None:
    """Delete a subscription with its deliveries (pending ones are never sent).
    Audit: ``webhook.delete`` (name, URL and how many deliveries went with it)."""
    subscription = get_subscription(actor, subscription_id)
    policy.require(policy.can_manage_webhooks(actor))
    removed = db.session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    )
    audit.record(
        actor, "webhook.delete", subscription, name=subscription.name, url=subscription.url,
        deliveries=removed.rowcount,  # type: ignore[attr-defined]
    )  # fmt: skip
    db.session.delete(subscription)


@transactional
def send_again(actor: User, subscription_id: int, delivery_id: int) -> WebhookDelivery:
    """Try a failed delivery again: it becomes pending with a fresh count of attempts, and is
    sent at the worker's next round (once no earlier delivery of its subscription is pending).
    ``Conflict`` unless it failed. Audit: ``webhook.send_again``."""
    subscription = get_subscription(actor, subscription_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound(_("That delivery was not found."))
    policy.require(policy.can_manage_webhooks(actor))
    if delivery.state is not DeliveryState.FAILED:
        raise Conflict(_("Only a failed delivery can be sent again."))
    delivery.state = DeliveryState.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.claimed_until = None
    audit.record(actor, "webhook.send_again", delivery, subscription=subscription.id)
    return delivery


@transactional
def send_test(actor: User, subscription_id: int) -> WebhookDelivery:
    """Queue a ``ping`` event for this subscription alone (whatever its events), so an
    administrator can check the receiver and its signature check. Audit: ``webhook.test``."""
    subscription = get_subscription(actor, subscription_id)
    policy.require(policy.can_manage_webhooks(actor))
    now = utcnow()
    delivery = _delivery(
        subscription, WebhookEvent.PING, str(uuid.uuid4()), {"subscription_id": subscription.id},
        now,
    )  # fmt: skip
    db.session.add(delivery)
    db.session.flush()
    audit.record(actor, "webhook.test", subscription, delivery=delivery.id)
    return delivery
