"""Sending webhook deliveries: the worker drains the outbox each round, like the mail outbox.

Each delivery is claimed by one worker with a single ``UPDATE ... WHERE id = (SELECT ... FOR
UPDATE SKIP LOCKED)`` that counts the attempt and sets a lease, so concurrent workers (threads,
processes, hosts) pass over each other's rows and send each delivery once; a worker that dies
mid-send leaves the lease to run out and the delivery is tried again (receivers deduplicate on
``X-Portal-Delivery``).

Order: a subscription's deliveries go out in event order. A delivery is not claimed while an
earlier one of the same subscription is still pending (waiting for a retry, or in flight), so a
receiver that fails holds back the later events until the earlier one is delivered or has
failed for good (after ``WEBHOOK_MAX_ATTEMPTS``); then the later ones go. Deliveries of an
inactive (disabled) subscription wait until it is enabled again.

Every request is checked against server-side request forgery: http(s) only, and unless
``WEBHOOK_ALLOW_PRIVATE`` the host must resolve to public addresses only, checked again at each
delivery (DNS can change) and the connection made to the very address checked. Redirects are
not followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.jobs import worker_name
from portal.models import utcnow
from portal.webhooks.models import DeliveryState, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
USER_AGENT = "HCP-Portal-Webhooks/1"


class UnsafeUrl(ValueError):
    """A URL the portal will not post to (scheme, host, or the addresses it resolves to)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to post: the URL's parts, and the address checked (the one connected to)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.is_site_local:
            return False
        else:
            # 6to4 and Teredo carry an IPv4 address a router may reach: it must be public too.
            embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
            if embedded is not None and not _public(embedded):
                return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def check_url(url: str, *, allow_private: bool) -> Target:
    """Resolve ``url`` and decide whether the portal may post to it; raises :class:`UnsafeUrl`.

    Refused: a scheme other than http or https, no host, credentials in the URL, a host that
    does not resolve, and (unless ``allow_private``) a host with any address that is private,
    loopback, link-local, reserved, multicast or otherwise not public.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs can receive webhooks")
    if not url.strip().isascii() or any(ch.isspace() or ord(ch) < 32 for ch in url.strip()):
        # HTTP sends the path as ASCII: percent-encode other characters (%C3%A9 for é).
        raise UnsafeUrl("the URL must be ASCII without spaces (percent-encode other characters)")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL must not carry a user name or password")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"{host} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeUrl(f"{host} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise UnsafeUrl(f"{host} resolves to a private or reserved address ({refused[0]})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, str(addresses[0]))


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Portal-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
    ``f"{t}.{body}"`` keyed with the subscription's secret."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def body_of(delivery_id: int, event_id: str, event_type: str, created_at: dt.datetime,
            data: dict[str, Any]) -> bytes:  # fmt: skip
    """The JSON body (the same bytes on every attempt)."""
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "delivery_id": delivery_id,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says a moment later."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the host name of the URL (SNI too).
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``target`` and return the status code (redirects are not followed)."""
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = cls(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # what the receiver says is not kept; the status is
        return response.status
    finally:
        connection.close()


def backoff(attempts: int) -> dt.timedelta:
    """The wait after ``attempts`` failed attempts: 30 s, 1 min, 2 min, … at most an hour."""
    return min(BASE_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


class _Claimed(NamedTuple):
    id: int
    subscription_id: int
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime


def _lease() -> dt.timedelta:
    # Longer than one request can take (connect, send and read each bounded by the timeout).
    return dt.timedelta(seconds=4 * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 60)


def _claim_next(owner: str) -> _Claimed | None:
    """Claim the oldest due delivery that no earlier pending delivery of its subscription
    holds back, for ``owner``, and count the attempt (committed). One statement, atomic on
    SQLite too; ``SKIP LOCKED`` on PostgreSQL lets concurrent workers pass each other."""
    now = utcnow()
    earlier = aliased(WebhookDelivery)
    held_back = exists().where(
        earlier.subscription_id == WebhookDelivery.subscription_id,
        earlier.state == DeliveryState.PENDING,
        earlier.id < WebhookDelivery.id,
    )
    active = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            WebhookDelivery.subscription_id.in_(active),
            ~held_back,
        )
        .order_by(WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due)
        .values(
            attempts=WebhookDelivery.attempts + 1,
            claimed_by=owner,
            claimed_until=now + _lease(),
        )
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.subscription_id,
            WebhookDelivery.event_id,
            WebhookDelivery.event_type,
            WebhookDelivery.payload,
            WebhookDelivery.attempts,
            WebhookDelivery.created_at,
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()
    db.session.commit()
    return None if row is None else _Claimed._make(row)


def _send(claimed: _Claimed) -> int:
    """Make one attempt; returns the status code, raises on a refused URL or a network error."""
    config = current_app.config
    url, secret = db.session.execute(
        select(WebhookSubscription.url, WebhookSubscription.secret).where(
            WebhookSubscription.id == claimed.subscription_id
        )
    ).one()
    db.session.commit()  # no transaction held open during the request
    target = check_url(url, allow_private=bool(config["WEBHOOK_ALLOW_PRIVATE"]))
    body = body_of(
        claimed.id, claimed.event_id, str(claimed.event_type), claimed.created_at,
        dict(claimed.payload or {}),
    )  # fmt: skip
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Portal-Event": str(claimed.event_type),
        "X-Portal-Delivery": str(claimed.id),
        "X-Portal-Signature": sign(secret, body, int(time.time())),
    }
    return post(target, body, headers, timeout=float(config["WEBHOOK_TIMEOUT_SECONDS"]))


def deliver_pending(*, limit: int = 100, worker: str | None = None) -> tuple[int, int]:
    """Send every due delivery, one at a time; returns ``(delivered, failed attempts)``.

    Safe in any number of processes and threads at once (see the module's docstring). A 2xx
    answer delivers; anything else (another status, a timeout, a refused address) schedules
    the next attempt after :func:`backoff`, or marks the delivery ``failed`` once it made
    ``WEBHOOK_MAX_ATTEMPTS`` attempts, with the last status code and error kept for the
    administrator's list.
    """
    owner = (worker or worker_name())[:120]
    max_attempts = int(current_app.config["WEBHOOK_MAX_ATTEMPTS"])
    delivered = failed = 0
    for _ in range(limit):
        claimed = _claim_next(owner)
        if claimed is None:
            break
        status: int | None = None
        error: str | None = None
        try:
            status = _send(claimed)
        except (OSError, UnsafeUrl, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        except Exception as exc:  # any other failure is a failed attempt too
            # Recorded like the others, so a delivery never stays claimed and retried forever
            # (holding back its subscription's later deliveries); logged with its traceback.
            log.exception("webhook delivery %s raised", claimed.id)
            db.session.rollback()
            error = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        now = utcnow()
        outcome: dict[str, Any] = {"claimed_until": None, "last_status_code": status}
        if error is None:
            delivered += 1
            outcome.update(state=DeliveryState.DELIVERED, delivered_at=now, last_error=None)
        else:
            failed += 1
            log.warning(
                "webhook delivery %s failed (attempt %s): %s", claimed.id, claimed.attempts, error
            )
            outcome["last_error"] = error
            if claimed.attempts >= max_attempts:
                outcome["state"] = DeliveryState.FAILED
            else:
                outcome["next_attempt_at"] = now + backoff(claimed.attempts)
        db.session.execute(
            update(WebhookDelivery)
            # Still ours: had the lease run out, another worker holds it and records its outcome.
            .where(WebhookDelivery.id == claimed.id, WebhookDelivery.claimed_by == owner)
            .values(outcome)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return delivered, failed
