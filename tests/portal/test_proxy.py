"""What the portal believes of the headers a client or a proxy sends: ``X-Forwarded-*`` only from
``TRUSTED_PROXIES`` hops, and an ``X-Request-ID`` only when it is safe to log and show."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord
from portal.security import REQUEST_ID
from tests.conftest import login
from tests.factories import make_hcp

PROXY = "10.0.0.5"  # the reverse proxy's own address, as the portal's socket sees it
CLIENT = "203.0.113.7"
SPOOFED = "198.51.100.66"


def from_proxy(forwarded_for: str, **headers: str) -> dict[str, Any]:
    return {
        "environ_base": {"REMOTE_ADDR": PROXY},
        "headers": {"X-Forwarded-For": forwarded_for, **headers},
    }


def sign_in_address(client: FlaskClient, **request: Any) -> str:
    """Sign an HCP in and return the address the audit trail recorded for it."""
    hcp = make_hcp()
    response = login(client, hcp.email, **request)
    assert response.status_code == 302
    record = db.session.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == "auth.login", AuditRecord.actor_id == hcp.id)
        .order_by(AuditRecord.id.desc())
    ).first()
    assert record is not None
    return str(record.shown_details["ip"])


# --- addresses -------------------------------------------------------------------------------


def test_without_trusted_proxies_the_audit_trail_records_the_socket_address(client):
    assert sign_in_address(client, **from_proxy(SPOOFED)) == PROXY


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_behind_one_proxy_the_audit_trail_records_the_client_address(client):
    # The client may send its own X-Forwarded-For; the proxy appends what it saw last.
    assert sign_in_address(client, **from_proxy(f"{SPOOFED}, {CLIENT}")) == CLIENT


@pytest.mark.app_config(TRUSTED_PROXIES=2)
def test_behind_two_proxies_the_address_the_first_proxy_saw_is_recorded(client):
    assert sign_in_address(client, **from_proxy(f"{SPOOFED}, {CLIENT}, 10.0.0.2")) == CLIENT


ATTEMPT = {"email": "nobody@example.org", "password": "not-the-password"}


@pytest.mark.app_config(TRUSTED_PROXIES=1, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_behind_a_proxy_each_client_has_its_own_sign_in_bucket(client):
    for _ in range(3):
        client.post("/login", data=ATTEMPT, **from_proxy(CLIENT))

    assert client.post("/login", data=ATTEMPT, **from_proxy(CLIENT)).status_code == 429
    assert client.post("/login", data=ATTEMPT, **from_proxy("203.0.113.8")).status_code == 200


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(client):
    for n in range(3):
        client.post("/login", data=ATTEMPT, **from_proxy(f"198.51.100.{n}"))

    assert client.post("/login", data=ATTEMPT, **from_proxy("198.51.100.99")).status_code == 429


# --- scheme and host -------------------------------------------------------------------------


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_behind_a_proxy_that_terminates_tls_pages_are_marked_https_only(client):
    response = client.get("/login", **from_proxy(CLIENT, **{"X-Forwarded-Proto": "https"}))

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_without_trusted_proxies_a_forged_forwarded_proto_is_ignored(client):
    response = client.get("/login", **from_proxy(CLIENT, **{"X-Forwarded-Proto": "https"}))

    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.app_config(TRUSTED_PROXIES=1)
@pytest.mark.parametrize(
    ("forwarded_host", "status"), [("portal.test", 200), ("evil.example", 400)]
)
def test_behind_a_proxy_the_forwarded_host_must_be_trusted(client, forwarded_host, status):
    response = client.get("/login", **from_proxy(CLIENT, **{"X-Forwarded-Host": forwarded_host}))

    assert response.status_code == status


def test_trusted_proxies_cannot_be_negative(app_config):
    from portal import create_app

    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        create_app({**app_config, "TRUSTED_PROXIES": -1})


# --- request ids -----------------------------------------------------------------------------

MALICIOUS_IDS = [
    pytest.param("abc\nERROR forged log line", id="newline"),
    pytest.param("<script>alert(1)</script>", id="markup"),
    pytest.param('"><img src=x onerror=alert(1)>', id="attribute-break"),
    pytest.param("a" * 200, id="200-chars"),
    pytest.param("short", id="too-short"),
    pytest.param("spaces are not allowed", id="spaces"),
    pytest.param("caf\u00e9-\u202e-1234", id="non-ascii"),
]


def _failing_app(app: Flask) -> None:
    def fail() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/test-failure", "test_failure", fail)


@pytest.mark.parametrize("sent", MALICIOUS_IDS)
def test_an_unsafe_request_id_is_replaced_everywhere_it_would_appear(app, client, caplog, sent):
    _failing_app(app)

    with caplog.at_level(logging.INFO):
        # Through the WSGI environment: a real server hands over what the test client refuses.
        response = client.get("/test-failure", environ_base={"HTTP_X_REQUEST_ID": sent})

    reference = response.headers["X-Request-ID"]
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert REQUEST_ID.fullmatch(reference)
    assert reference != sent and not sent.startswith(reference)
    assert f"<code>{reference}</code>" in text
    assert sent not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert reference in logged
    assert sent not in logged and sent[:64] not in logged


@pytest.mark.parametrize("sent", ["req-0123456789abcdef", "a1b2c3d4", "trace.id_" + "x" * 55])
def test_a_well_formed_request_id_is_kept_for_correlation(client, sent):
    response = client.get("/login", headers={"X-Request-ID": sent})

    assert response.headers["X-Request-ID"] == sent


def test_without_a_request_id_one_is_generated_per_request(client):
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert first != second
