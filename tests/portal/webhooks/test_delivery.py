"""Deliveries reach a real receiver on loopback: signed, retried with backoff, in order per
subscription, once however many workers run, and never to a private address unless allowed."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.models import utcnow
from portal.webhooks import publish
from portal.webhooks.delivery import UnsafeUrl, backoff, check_url, deliver_pending
from portal.webhooks.models import DeliveryState, WebhookDelivery, WebhookEvent
from tests.portal.webhooks.conftest import Receiver, subscribe, verify

pytestmark = pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_MAX_ATTEMPTS=4)


def withdrawn(material_id: int) -> None:
    publish(WebhookEvent.MATERIAL_WITHDRAWN, {"material_id": material_id, "family_id": 1})
    db.session.commit()


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


# --- what a receiver gets ------------------------------------------------------------------------
def test_the_worker_posts_a_signed_event_the_receiver_can_verify(app: Flask, admin, receiver):
    subscription, secret = subscribe(admin, receiver.url())
    withdrawn(42)
    before = int(time.time())

    done = jobs.Worker(app).run_once()

    assert (done.outbox, done.outbox_failed) == (1, 0)
    [request] = receiver.requests
    [delivery] = deliveries()
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Portal-Event"] == "material.withdrawn"
    assert request.headers["X-Portal-Delivery"] == str(delivery.id)
    assert (
        before <= verify(secret, request.headers["X-Portal-Signature"], request.body) <= before + 5
    )
    body = json.loads(request.body)
    assert body == {
        "id": delivery.event_id,
        "type": "material.withdrawn",
        "created_at": body["created_at"],
        "delivery_id": delivery.id,
        "data": {"material_id": 42, "family_id": 1},
    }
    assert body["created_at"].endswith("Z")
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.DELIVERED, 1, 200,
    )  # fmt: skip
    assert delivery.delivered_at is not None and delivery.last_error is None
    assert subscription.id == delivery.subscription_id


def test_a_signature_made_with_another_secret_does_not_verify(app: Flask, admin, receiver):
    subscribe(admin, receiver.url())
    withdrawn(1)
    deliver_pending(worker="w1")

    [request] = receiver.requests
    with pytest.raises(AssertionError, match="does not verify"):
        verify("whsec_someone-else", request.headers["X-Portal-Signature"], request.body)


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(app: Flask, admin, receiver):
    subscribe(admin, receiver.url())
    receiver.statuses = [302]
    withdrawn(1)

    assert deliver_pending(worker="w1") == (0, 1)

    assert [r.path for r in receiver.requests] == ["/hook"]  # not /elsewhere
    [delivery] = deliveries()
    assert (delivery.state, delivery.last_status_code, delivery.last_error) == (
        DeliveryState.PENDING, 302, "HTTP 302",
    )  # fmt: skip


# --- retries --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (20, 3600)],
)
def test_backoff_doubles_from_30_seconds_up_to_an_hour(attempts, seconds):
    assert backoff(attempts) == dt.timedelta(seconds=seconds)


def test_two_500s_are_retried_after_their_backoff_then_delivered(app: Flask, admin, receiver):
    subscribe(admin, receiver.url())
    receiver.statuses = [500, 500]
    start = utcnow().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        withdrawn(7)
        assert deliver_pending(worker="w1") == (0, 1)
        [delivery] = deliveries()
        assert delivery.next_attempt_at == start + dt.timedelta(seconds=30)
        assert (delivery.attempts, delivery.last_error) == (1, "HTTP 500")
        assert deliver_pending(worker="w1") == (0, 0)  # not due yet
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        assert deliver_pending(worker="w1") == (0, 1)
        [delivery] = deliveries()
        assert delivery.next_attempt_at == start + dt.timedelta(seconds=30 + 60)
    with time_machine.travel(start + dt.timedelta(seconds=89), tick=False):
        assert deliver_pending(worker="w1") == (0, 0)
    with time_machine.travel(start + dt.timedelta(seconds=90), tick=False):
        assert deliver_pending(worker="w1") == (1, 0)

    [delivery] = deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.DELIVERED, 3, 200,
    )  # fmt: skip
    assert receiver.delivery_ids() == [delivery.id] * 3
    assert len({r.body for r in receiver.requests}) == 1  # the same event each time


def test_a_delivery_fails_for_good_after_the_maximum_attempts_and_can_be_sent_again(
    app: Flask, admin, receiver
):
    from portal.webhooks import service

    subscription, _secret = subscribe(admin, receiver.url())
    receiver.statuses = [500] * 4
    withdrawn(7)
    for attempt in range(4):
        with time_machine.travel(utcnow() + dt.timedelta(hours=attempt + 1)):
            assert deliver_pending(worker="w1") == (0, 1)

    [delivery] = deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        DeliveryState.FAILED, 4, "HTTP 500",
    )  # fmt: skip
    with time_machine.travel(utcnow() + dt.timedelta(days=1)):
        assert deliver_pending(worker="w1") == (0, 0)
    assert len(receiver.requests) == 4

    service.send_again(admin, subscription.id, delivery.id)
    assert deliver_pending(worker="w1") == (1, 0)
    [delivery] = deliveries()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)


def test_an_unreachable_receiver_is_a_failed_attempt_with_its_error(app: Flask, admin, receiver):
    subscribe(admin, receiver.url())
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
    withdrawn(1)
    [row] = deliveries()
    # Nothing listens there any more (the port of a receiver that went away).
    from portal.webhooks.models import WebhookSubscription

    db.session.get(WebhookSubscription, row.subscription_id).url = "http://127.0.0.1:9/hook"
    db.session.commit()

    assert deliver_pending(worker="w1") == (0, 1)
    [delivery] = deliveries()
    assert delivery.state is DeliveryState.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("ConnectionRefusedError")


# --- order ---------------------------------------------------------------------------------------
def test_a_later_delivery_waits_while_an_earlier_one_of_its_subscription_is_pending(
    app: Flask, admin, receiver
):
    subscribe(admin, receiver.url("/a"), name="A")
    subscribe(admin, receiver.url("/b"), name="B")
    receiver.statuses = [500]  # the first request: the first event, to A
    withdrawn(1)
    withdrawn(2)
    a1, b1, a2, b2 = deliveries()

    assert deliver_pending(worker="w1") == (2, 1)
    # A's second event waits behind its first; B is not held back by A.
    assert receiver.delivery_ids() == [a1.id, b1.id, b2.id]

    with time_machine.travel(utcnow() + dt.timedelta(seconds=31)):
        assert deliver_pending(worker="w1") == (2, 0)
    assert receiver.delivery_ids("/a") == [a1.id, a1.id, a2.id]
    assert {d.state for d in deliveries()} == {DeliveryState.DELIVERED}


def test_a_delivery_that_failed_for_good_no_longer_holds_back_the_later_ones(
    app: Flask, admin, receiver
):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 1
    subscribe(admin, receiver.url())
    receiver.statuses = [500]
    withdrawn(1)
    withdrawn(2)

    assert deliver_pending(worker="w1") == (1, 1)

    first, second = deliveries()
    assert (first.state, second.state) == (DeliveryState.FAILED, DeliveryState.DELIVERED)
    assert receiver.delivery_ids() == [first.id, second.id]


def test_a_disabled_subscription_gets_no_new_event_and_its_pending_ones_wait(
    app: Flask, admin, receiver
):
    from portal.webhooks import service

    subscription, _secret = subscribe(admin, receiver.url())
    withdrawn(1)
    service.set_active(admin, subscription.id, active=False)
    withdrawn(2)  # not queued: the subscription is disabled

    assert deliver_pending(worker="w1") == (0, 0)
    [delivery] = deliveries()
    assert delivery.state is DeliveryState.PENDING

    service.set_active(admin, subscription.id, active=True)
    assert deliver_pending(worker="w1") == (1, 0)
    assert receiver.delivery_ids() == [delivery.id]


# --- many workers, each delivery once ----------------------------------------------------------
@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_workers_deliver_each_event_once_and_in_order(app: Flask, admin, receiver):
    paths = {subscribe(admin, receiver.url(f"/s{n}"))[0].id: f"/s{n}" for n in range(4)}
    for n in range(6):
        withdrawn(n)
    expected: dict[str, list[int]] = {path: [] for path in paths.values()}
    for row in deliveries():
        expected[paths[row.subscription_id]].append(row.id)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            jobs.Worker(app, role=f"w{i}").run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    ids = receiver.delivery_ids()
    assert sorted(ids) == sorted(d.id for d in deliveries())  # each exactly once
    for path, in_order in expected.items():
        assert receiver.delivery_ids(path) == in_order
    rows = deliveries()
    assert {(d.state, d.attempts) for d in rows} == {(DeliveryState.DELIVERED, 1)}


# --- server-side request forgery -----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/hook",
        "file:///etc/passwd",
        "http:///no-host",
        "http://user:secret@8.8.8.8/hook",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://100.64.0.1/hook",
        "http://203.0.113.9/hook",
        "http://name.invalid/hook",
        "http://8.8.8.8/hook/caf\u00e9",  # HTTP cannot send it: percent-encode it
        "http://8.8.8.8/a hook",
        "http://[2002:7f00:1::1]/hook",  # 6to4 for 127.0.0.1
        "http://[fec0::1]/hook",  # site-local
    ],
)
def test_urls_that_are_not_http_or_not_public_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_private=False)


def test_a_public_address_is_accepted_and_the_connection_pinned_to_it():
    target = check_url("https://8.8.8.8:8443/hook?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "8.8.8.8", 8443, "/hook?x=1", "8.8.8.8",
    )  # fmt: skip


def test_loopback_is_refused_at_subscription_unless_private_addresses_are_allowed(
    app: Flask, admin, receiver
):
    from portal.errors import InvalidInput
    from portal.webhooks.models import WebhookSubscription

    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    with pytest.raises(InvalidInput) as refused:
        subscribe(admin, receiver.url())
    assert "private or reserved address" in refused.value.errors["url"]
    assert db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_the_address_is_checked_again_at_delivery(app: Flask, admin, receiver: Receiver):
    subscribe(admin, receiver.url())  # allowed when it was made
    withdrawn(1)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False

    assert deliver_pending(worker="w1") == (0, 1)

    assert receiver.requests == []
    [delivery] = deliveries()
    assert delivery.last_error.startswith("UnsafeUrl: 127.0.0.1 resolves to a private")
