"""The API token's lifecycle: created on the page or the command line (its secret shown once,
stored hashed), used, refused (missing, unknown, wrong scope, revoked), rate limited, audited."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.api import tokens
from portal.api.auth import require_scope
from portal.api.models import ApiScope, ApiToken
from portal.extensions import db
from portal.models import AuditRecord, Role
from tests.conftest import login
from tests.factories import make_user

PROBLEM = "application/problem+json"
TYPES = "https://hcp-portal.invalid/problems/"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def signed_in(client: FlaskClient, role: Role) -> Any:
    user = make_user(role)
    login(client, user.email)
    return user


def created_secret(response: Any) -> str:
    match = re.search(r'value="(hcpp_[A-Za-z0-9_\-]+)" data-testid="token-secret"', response.text)
    assert match, "the page shows the new token"
    return match.group(1)


def audit_of(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def add_scoped_route(app: Flask) -> None:
    """A route under /api/v1 that needs read:pv, to test require_scope through the real hook
    and the real error handling."""

    def scoped() -> dict[str, str]:
        require_scope(ApiScope.READ_PV)
        return {"ok": "yes"}

    app.add_url_rule("/api/v1/test-pv-only", "test_pv_only", scoped)


# --- the page ------------------------------------------------------------------------------------


def test_admin_creates_a_token_on_the_page_and_sees_its_secret_once(app, client):
    admin = signed_in(client, Role.ADMIN)

    response = client.post(
        "/admin/api-tokens/new",
        data={"name": "  CRM   (Veeva) ", "scopes": ["read:commercial", "write:interactions"]},
    )

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    secret = created_secret(response)
    token = db.session.scalars(select(ApiToken)).one()
    assert token.name == "CRM (Veeva)"
    assert token.scopes == "read:commercial write:interactions"
    assert token.created_by_id == admin.id
    assert secret.startswith(token.prefix) and len(secret) > 40
    listing = client.get("/admin/api-tokens")
    assert listing.status_code == 200
    assert "CRM (Veeva)" in listing.text and token.prefix in listing.text
    assert secret not in listing.text  # never again
    assert [r.details["name"] for r in audit_of("api_token.created")] == ["CRM (Veeva)"]


def test_page_refuses_a_token_without_name_or_scope_and_creates_nothing(app, client):
    signed_in(client, Role.ADMIN)

    response = client.post("/admin/api-tokens/new", data={"name": "", "scopes": []})
    no_scope = client.post("/admin/api-tokens/new", data={"name": "Warehouse"})

    assert response.status_code == 200 and "Give the token a name" in response.text
    assert no_scope.status_code == 200 and "Choose at least one scope" in no_scope.text
    assert db.session.scalars(select(ApiToken)).all() == []


def test_compliance_reads_the_list_but_creates_and_revokes_nothing(app, client):
    token, _secret = tokens.create_token(None, name="Warehouse", scopes=["read:medical"])
    signed_in(client, Role.COMPLIANCE)

    listing = client.get("/admin/api-tokens")
    create = client.post("/admin/api-tokens/new", data={"name": "X", "scopes": ["read:pv"]})
    revoke = client.post(f"/admin/api-tokens/{token.id}/revoke")

    assert listing.status_code == 200 and "Warehouse" in listing.text
    assert 'data-testid="read-only-notice"' in listing.text
    assert f"/admin/api-tokens/{token.id}/revoke" not in listing.text
    assert (create.status_code, revoke.status_code) == (403, 403)
    assert [t.name for t in db.session.scalars(select(ApiToken))] == ["Warehouse"]
    assert db.session.get(ApiToken, token.id).revoked_at is None


@pytest.mark.parametrize("role", [Role.REP, Role.MSL, Role.HCP])
def test_nobody_else_knows_the_tokens_page_exists(app, client, role):
    signed_in(client, role)

    assert client.get("/admin/api-tokens").status_code == 404
    assert client.get("/admin/api-tokens/new").status_code == 404


def test_admin_revokes_a_token_on_the_page_and_it_authenticates_nothing(app, client):
    token, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    signed_in(client, Role.ADMIN)

    response = client.post(f"/admin/api-tokens/{token.id}/revoke", follow_redirects=True)

    assert response.status_code == 200 and "revoked" in response.text
    assert db.session.get(ApiToken, token.id).revoked_at is not None
    refused = client.get("/api/v1/me", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json["detail"] == "The API token is unknown or revoked."
    assert len(audit_of("api_token.revoked")) == 1


def test_page_shows_the_last_use_of_a_token(app, client):
    _token, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    signed_in(client, Role.ADMIN)
    before = client.get("/admin/api-tokens").text
    assert re.search(r'data-testid="last-used"><span class="text-muted">never', before)

    client.get("/api/v1/me", headers=bearer(secret))

    after = client.get("/admin/api-tokens").text
    assert not re.search(r'data-testid="last-used"><span class="text-muted">never', after)
    assert db.session.scalars(select(ApiToken)).one().last_used_at is not None


# --- the command line ----------------------------------------------------------------------------


def test_cli_create_prints_exactly_one_json_object_with_id_and_token(app):
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=[
            "api", "token", "create", "--name", "N",
            "--scope", "read:commercial", "--scope", "write:interactions",
        ]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)  # one object, nothing else on stdout
    assert set(printed) == {"id", "token"}
    assert isinstance(printed["id"], int) and isinstance(printed["token"], str)
    token = db.session.get(ApiToken, printed["id"])
    assert token is not None and token.name == "N" and token.created_by_id is None
    assert token.scope_set == {ApiScope.READ_COMMERCIAL, ApiScope.WRITE_INTERACTIONS}


def test_cli_refuses_an_unknown_scope_and_creates_nothing(app):
    result = app.test_cli_runner().invoke(
        args=["api", "token", "create", "--name", "N", "--scope", "read:everything"]
    )

    assert result.exit_code != 0
    assert db.session.scalars(select(ApiToken)).all() == []


def test_cli_revoke_turns_the_token_off(app, client):
    runner = app.test_cli_runner()
    created = json.loads(
        runner.invoke(args=["api", "token", "create", "--name", "N", "--scope", "read:pv"]).output
    )

    result = runner.invoke(args=["api", "token", "revoke", str(created["id"])])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["id"] == created["id"] and printed["revoked_at"]
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 401
    unknown = runner.invoke(args=["api", "token", "revoke", str(created["id"] + 1000)])
    assert unknown.exit_code == 1
    assert json.loads(unknown.output) == {"error": "No such API token."}


def test_the_secret_is_stored_nowhere_only_its_hash(app, client):
    token, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    client.get("/api/v1/me", headers=bearer(secret))

    assert token.token_hash == tokens.hash_token(secret) != secret
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).all():
            assert secret not in repr(tuple(row)), f"the secret is in {table.name}"


# --- use -----------------------------------------------------------------------------------------


def test_a_token_reads_me_and_every_use_is_audited(app, client):
    token, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial", "read:pv"])

    first = client.get("/api/v1/me", headers=bearer(secret))
    second = client.get("/api/v1/me?x=1", headers=bearer(secret))
    missing = client.get("/api/v1/no-such-thing", headers=bearer(secret))

    assert first.status_code == 200
    assert first.json == {"id": token.id, "name": "CRM", "scopes": ["read:commercial", "read:pv"]}
    assert second.status_code == 200 and missing.status_code == 404
    records = audit_of("api.request")
    assert [
        (r.target_type, r.target_id, r.details["method"], r.details["path"], r.details["status"])
        for r in records
    ] == [
        ("api_tokens", str(token.id), "GET", "/api/v1/me", 200),
        ("api_tokens", str(token.id), "GET", "/api/v1/me?x=1", 200),
        ("api_tokens", str(token.id), "GET", "/api/v1/no-such-thing", 404),
    ]
    assert {r.details["token"] for r in records} == {"CRM"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Send a valid API token as 'Authorization: Bearer <token>'."),
        (bearer("hcpp_not-a-token"), "The API token is unknown or revoked."),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "The API token is unknown or revoked."),
    ],
    ids=["missing", "unknown", "not-bearer"],
)
def test_missing_or_unknown_token_is_a_401_problem_with_a_challenge(app, client, headers, detail):
    response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json["type"] == TYPES + "unauthenticated"
    assert response.json["detail"] == detail
    assert audit_of("api.request") == []  # nobody to attribute it to


def test_a_signed_in_session_is_no_credential_for_the_api(app, client):
    signed_in(client, Role.ADMIN)

    assert client.get("/api/v1/me").status_code == 401


def test_wrong_scope_is_a_403_problem_and_the_right_one_passes(app, client):
    add_scoped_route(app)
    _c, commercial = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    _p, pv = tokens.create_token(None, name="PV system", scopes=["read:pv"])

    refused = client.get("/api/v1/test-pv-only", headers=bearer(commercial))
    allowed = client.get("/api/v1/test-pv-only", headers=bearer(pv))

    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert refused.json["type"] == TYPES + "insufficient-scope"
    assert refused.json["detail"] == "This needs the scope read:pv."
    assert allowed.status_code == 200 and allowed.json == {"ok": "yes"}
    assert [r.details["status"] for r in audit_of("api.request")] == [403, 200]


# --- rate limits ---------------------------------------------------------------------------------


@pytest.mark.app_config(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
def test_fourth_call_in_a_minute_is_429_with_retry_after_and_other_tokens_are_unaffected(
    app, client
):
    _a, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    _b, other = tokens.create_token(None, name="Warehouse", scopes=["read:commercial"])

    statuses = [client.get("/api/v1/me", headers=bearer(secret)).status_code for _ in range(3)]
    fourth = client.get("/api/v1/me", headers=bearer(secret))

    assert statuses == [200, 200, 200]
    assert fourth.status_code == 429 and fourth.mimetype == PROBLEM
    assert fourth.json["type"] == TYPES + "rate-limited"
    assert 1 <= int(fourth.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    # The refused call is not recorded: a flood does not write a flood.
    assert len(audit_of("api.request")) == 4


@pytest.mark.app_config(RATELIMIT_ENABLED=True, API_AUTH_FAILURE_LIMIT="2 per minute")
def test_failed_authentications_spend_the_client_address_budget(app, client):
    _t, secret = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    guess = bearer("hcpp_guess")
    here = {"REMOTE_ADDR": "198.51.100.7"}

    failures = [client.get("/api/v1/me", headers=guess, environ_base=here) for _ in range(3)]
    elsewhere = client.get(
        "/api/v1/me", headers=guess, environ_base={"REMOTE_ADDR": "198.51.100.8"}
    )

    assert [r.status_code for r in failures] == [401, 401, 429]
    assert failures[2].mimetype == PROBLEM and int(failures[2].headers["Retry-After"]) >= 1
    assert elsewhere.status_code == 401
    # A valid token from the throttled address still works: only failures spend that budget.
    assert client.get("/api/v1/me", headers=bearer(secret), environ_base=here).status_code == 200
