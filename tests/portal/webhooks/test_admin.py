"""The webhook pages: administrators subscribe (and see the secret once), disable, rotate,
test, send again and delete, each audited; compliance reads; nobody else knows the pages."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Role
from portal.webhooks import service
from portal.webhooks.models import (
    DeliveryState,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from tests.factories import make_user
from tests.portal.helpers import signed_in
from tests.portal.webhooks.conftest import subscribe

pytestmark = pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE=True)


def audit_of(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_an_administrator_subscribes_and_sees_the_secret_once(app: Flask, admin):
    client = signed_in(app, admin)

    response = client.post(
        "/admin/webhooks/new",
        data={
            "name": "Veeva CRM",
            "url": "http://127.0.0.1:9/hook",
            "events": ["question.created", "consent.given"],
            "scopes": ["read:commercial"],
        },
    )

    assert response.status_code == 201
    [subscription] = db.session.scalars(select(WebhookSubscription)).all()
    assert subscription.secret.startswith("whsec_")
    assert subscription.secret in response.get_data(as_text=True)
    assert (subscription.events, subscription.scopes, subscription.created_by_id) == (
        "consent.given question.created", "read:commercial", admin.id,
    )  # fmt: skip
    [record] = audit_of("webhook.create")
    assert record.details["url"] == "http://127.0.0.1:9/hook"
    assert subscription.secret not in str(record.details)
    # Neither the list nor the page shows it again.
    assert subscription.secret not in client.get("/admin/webhooks/").get_data(as_text=True)
    page = client.get(f"/admin/webhooks/{subscription.id}").get_data(as_text=True)
    assert subscription.secret not in page


def test_a_form_without_events_or_scopes_is_refused_with_nothing_created(app: Flask, admin):
    client = signed_in(app, admin)

    response = client.post(
        "/admin/webhooks/new", data={"name": "CRM", "url": "http://127.0.0.1:9/hook"}
    )

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Choose at least one event." in text and "Choose at least one scope." in text
    assert db.session.scalars(select(WebhookSubscription)).all() == []


def test_compliance_reads_the_pages_but_changes_nothing(app: Flask, admin):
    subscription, secret = subscribe(admin, "http://127.0.0.1:9/hook")
    client = signed_in(app, make_user(Role.COMPLIANCE))

    assert client.get("/admin/webhooks/").status_code == 200
    page = client.get(f"/admin/webhooks/{subscription.id}")
    assert page.status_code == 200 and secret not in page.get_data(as_text=True)
    for action in ("toggle", "rotate", "test", "delete"):
        assert client.post(f"/admin/webhooks/{subscription.id}/{action}").status_code == 403
    assert client.get("/admin/webhooks/new").status_code == 403
    db.session.expire_all()
    assert (subscription.active, subscription.secret) == (True, secret)


def test_other_staff_do_not_know_the_pages_exist(app: Flask, admin):
    subscription, _secret = subscribe(admin, "http://127.0.0.1:9/hook")
    client = signed_in(app, make_user(Role.REP))

    assert client.get("/admin/webhooks/").status_code == 404
    assert client.get(f"/admin/webhooks/{subscription.id}").status_code == 404


def test_disable_rotate_test_and_delete_are_audited(app: Flask, admin):
    subscription, secret = subscribe(admin, "http://127.0.0.1:9/hook")
    client = signed_in(app, admin)
    base = f"/admin/webhooks/{subscription.id}"

    assert client.post(f"{base}/toggle").status_code == 302
    db.session.expire_all()
    assert subscription.active is False
    rotated = client.post(f"{base}/rotate")
    db.session.expire_all()
    assert subscription.secret != secret
    assert subscription.secret in rotated.get_data(as_text=True)
    assert client.post(f"{base}/test").status_code == 302
    [ping] = db.session.scalars(select(WebhookDelivery)).all()
    assert (ping.event_type, ping.payload) == (
        WebhookEvent.PING, {"subscription_id": subscription.id},
    )  # fmt: skip
    assert client.post(f"{base}/delete").status_code == 302

    assert db.session.scalars(select(WebhookSubscription)).all() == []
    assert db.session.scalars(select(WebhookDelivery)).all() == []
    for action in ("webhook.disable", "webhook.rotate_secret", "webhook.test", "webhook.delete"):
        [record] = audit_of(action)
        assert record.actor_id == admin.id
    assert audit_of("webhook.delete")[0].details["deliveries"] == 1


def test_the_deliveries_page_lists_status_attempts_and_errors_page_by_page(app: Flask, admin):
    subscription, _secret = subscribe(admin, "http://127.0.0.1:9/hook")
    for _ in range(service.PAGE_SIZE + 1):
        service.send_test(admin, subscription.id)
    oldest = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
    oldest.state, oldest.attempts, oldest.last_error = DeliveryState.FAILED, 8, "HTTP 503"
    db.session.commit()
    client = signed_in(app, admin)

    first = client.get(f"/admin/webhooks/{subscription.id}").get_data(as_text=True)
    second = client.get(f"/admin/webhooks/{subscription.id}?page=2").get_data(as_text=True)

    assert first.count("Send again") == 0 and "HTTP 503" not in first  # newest first
    assert "HTTP 503" in second and second.count("Send again") == 1
    url = f"/admin/webhooks/{subscription.id}/deliveries/{oldest.id}/send-again"
    assert client.post(url).status_code == 302
    db.session.expire_all()
    assert (oldest.state, oldest.attempts) == (DeliveryState.PENDING, 0)
    [record] = audit_of("webhook.send_again")
    assert record.target_id == str(oldest.id)
    # A delivery that did not fail is not sent again.
    refused = client.post(url, follow_redirects=True)
    assert "Only a failed delivery can be sent again." in refused.get_data(as_text=True)
