"""Webhooks: an administrator's subscription of a URL to events, and the deliveries made to it.

A delivery row is the outbox: :func:`portal.webhooks.service.publish` writes one per matching
active subscription in the transaction of the change that causes the event, so it exists if and
only if that change committed. The background worker claims due rows with a lease and posts them
(``portal/webhooks/delivery.py``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.api.models import ApiScope
from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column


class WebhookEvent(enum.StrEnum):
    """What a subscription can listen to (the values are the public contract, docs/webhooks.md)."""

    QUESTION_CREATED = "question.created"
    QUESTION_ANSWERED = "question.answered"
    CONSENT_GIVEN = "consent.given"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    PV_CASE_OPENED = "pv_case.opened"
    MATERIAL_WITHDRAWN = "material.withdrawn"
    # Sent to one subscription by its "send a test event" button; nobody subscribes to it.
    PING = "ping"

    @property
    def label(self) -> str:
        return str(EVENT_LABELS[self])


EVENT_LABELS = {
    WebhookEvent.QUESTION_CREATED: _l("A question was asked"),
    WebhookEvent.QUESTION_ANSWERED: _l("A question was answered"),
    WebhookEvent.CONSENT_GIVEN: _l("An HCP opted in to a chat"),
    WebhookEvent.CONSENT_WITHDRAWN: _l("An HCP withdrew their chat consent"),
    WebhookEvent.PV_CASE_OPENED: _l("A PV case was opened"),
    WebhookEvent.MATERIAL_WITHDRAWN: _l("A material was withdrawn"),
    WebhookEvent.PING: _l("Test event"),
}

SUBSCRIBABLE = tuple(e for e in WebhookEvent if e is not WebhookEvent.PING)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt, or being sent under a live lease
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after WEBHOOK_MAX_ATTEMPTS; "send again" makes it pending


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    # Space-separated :class:`WebhookEvent` values and :class:`ApiScope` values, sorted.
    events: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    # The HMAC key of the signatures. Kept in clear because signing needs it; shown to an
    # administrator when the subscription is created and when it is rotated, never in lists.
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def event_set(self) -> frozenset[WebhookEvent]:
        return frozenset(WebhookEvent(v) for v in self.events.split() if v)

    @property
    def scope_set(self) -> frozenset[ApiScope]:
        return frozenset(ApiScope(v) for v in self.scopes.split() if v)


class WebhookDelivery(Base):
    """One event for one subscription. Its id is the ``X-Portal-Delivery`` header; the event's
    id (shared by every subscription's delivery of that event) is in the body."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The worker's claim: due pending rows, oldest first; and "an earlier pending one of
        # the same subscription?" (the order rule).
        Index("ix_webhook_deliveries_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_state", "subscription_id", "state", "id"),
        # The administrator's list of a subscription's deliveries, newest first.
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[WebhookEvent] = mapped_column(enum_column(WebhookEvent, 40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[DeliveryState] = mapped_column(
        enum_column(DeliveryState, 16), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(120), default=None)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)

    subscription: Mapped[WebhookSubscription] = relationship()
