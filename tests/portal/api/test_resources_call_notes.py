"""``POST /api/v1/call-notes``: a CRM records an interaction through the pages' service (the
author's permission, the contact rule, the safety attestation), idempotently by external_id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.accounts.models import CallNote, Contact
from portal.api import tokens
from portal.api.call_notes import ApiCallNote
from portal.extensions import db
from portal.models import Role, utcnow
from portal.safety.models import PvCase
from tests.factories import make_hcp, make_territory, make_user

PROBLEM = "application/problem+json"
TYPES = "https://hcp-portal.invalid/problems/"


@pytest.fixture
def field(app: Any) -> dict[str, Any]:
    territory = make_territory()
    return {
        "hcp": make_hcp(territory=territory, name="Dr. Cole"),
        "rep": make_user(Role.REP, territories=[territory], email="jordan@company.test"),
        "outsider": make_user(Role.REP, territories=[make_territory()], email="otto@company.test"),
        "compliance": make_user(Role.COMPLIANCE, email="casey@company.test"),
    }


def bearer(*scopes: str) -> dict[str, str]:
    _token, secret = tokens.create_token(None, name="CRM", scopes=scopes or ["write:interactions"])
    return {"Authorization": f"Bearer {secret}"}


def body(field: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "author_email": "Jordan@company.test",
        "hcp_id": field["hcp"].id,
        "kind": "visit",
        "occurred_at": (utcnow() - dt.timedelta(hours=1)).isoformat(),
        "summary": "Went through the titration guide.",
        "attestation": "none",
    }
    values.update(overrides)
    return values


def count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_crm_records_a_note_for_its_author_through_the_contact_rule(field, client):
    response = client.post("/api/v1/call-notes", json=body(field), headers=bearer())
    assert response.status_code == 201
    note = response.json
    assert note["author"]["id"] == field["rep"].id and note["side"] == "commercial"
    assert note["hcp_id"] == field["hcp"].id and note["pv_case_opened"] is False
    assert note["requested_by_hcp"] is False and note["external_id"] is None
    [contact] = db.session.scalars(select(Contact)).all()
    assert contact.subject_id == note["id"] and contact.counted is True


@pytest.mark.parametrize("scopes", [("read:commercial",), ("read:medical", "read:pv")])
def test_posting_needs_write_interactions(field, client, scopes):
    response = client.post("/api/v1/call-notes", json=body(field), headers=bearer(*scopes))
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert count(CallNote) == 0


@pytest.mark.parametrize(
    ("email", "status"),
    [("otto@company.test", 404), ("casey@company.test", 403), ("nobody@company.test", 404)],
)
def test_the_author_must_be_allowed_to_write_the_note(field, client, email, status):
    response = client.post(
        "/api/v1/call-notes", json=body(field, author_email=email), headers=bearer()
    )
    assert response.status_code == status and response.mimetype == PROBLEM
    assert count(CallNote) == 0


def test_a_refusal_of_the_contact_rule_is_a_409_with_when_contact_is_next_allowed(field, client):
    headers = bearer()
    first = client.post("/api/v1/call-notes", json=body(field), headers=headers)
    assert first.status_code == 201
    # The company's gap between unsolicited visits refuses a second one right after.
    again = client.post(
        "/api/v1/call-notes",
        json=body(field, occurred_at=(utcnow() - dt.timedelta(minutes=30)).isoformat()),
        headers=headers,
    )
    assert again.status_code == 409 and again.mimetype == PROBLEM
    problem = again.json
    assert problem["type"] == TYPES + "contact-refused"
    assert problem["rule"] == "min_gap"
    assert problem["next_allowed_at"] is not None and problem["next_allowed_at"].endswith("Z")
    assert count(CallNote) == 1
    asked = client.post(
        "/api/v1/call-notes",
        json=body(field, requested_by_hcp=True,
                  occurred_at=(utcnow() - dt.timedelta(minutes=20)).isoformat()),
        headers=headers,
    )  # fmt: skip
    assert asked.status_code == 201


def test_an_adverse_event_attestation_opens_a_pv_case_for_the_note(field, client):
    response = client.post(
        "/api/v1/call-notes", json=body(field, attestation="adverse_event"), headers=bearer()
    )
    assert response.status_code == 201 and response.json["pv_case_opened"] is True
    [case] = db.session.scalars(select(PvCase)).all()
    assert case.call_note_id == response.json["id"] and case.reporter_id == field["hcp"].id


def test_a_retry_with_the_same_external_id_returns_the_first_note(field, client):
    headers = bearer()
    first = client.post(
        "/api/v1/call-notes", json=body(field, external_id="crm-1"), headers=headers
    )
    retry = client.post(
        "/api/v1/call-notes", json=body(field, external_id="crm-1"), headers=headers
    )
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json == first.json and first.json["external_id"] == "crm-1"
    assert count(CallNote) == 1 and count(Contact) == 1 and count(ApiCallNote) == 1
    # Another token's "crm-1" is its own note (here refused by the gap: nothing was reused).
    other = client.post("/api/v1/call-notes", json=body(field, external_id="crm-1"),
                        headers=bearer())  # fmt: skip
    assert other.status_code == 409 and count(CallNote) == 1


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"kind": "telepathy"}, 422),
        ({"attestation": "maybe"}, 422),
        ({"author_email": "not an email"}, 422),
        ({"occurred_at": "2026-01-01T10:00:00"}, 422),
        ({"hcp_id": "x"}, 422),
        ({"summary": "   "}, 400),
        ({"occurred_at": "2001-01-01T10:00:00Z"}, 400),
        ({"external_id": ""}, 422),
    ],
)
def test_bad_input_is_a_problem_and_saves_nothing(field, client, override, status):
    response = client.post("/api/v1/call-notes", json=body(field, **override), headers=bearer())
    assert response.status_code == status, response.json
    assert response.mimetype == PROBLEM
    assert count(CallNote) == 0


def test_a_medical_colleagues_note_needs_a_token_trusted_with_the_medical_side(field, client):
    msl = make_user(
        Role.MSL, email="Sasha.msl@company.test", territories=[field["hcp"].hcp_profile.territory]
    )
    note = body(field, author_email=msl.email, requested_by_hcp=True)
    refused = client.post("/api/v1/call-notes", json=note, headers=bearer())
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert count(CallNote) == 0
    both = bearer("write:interactions", "read:medical")
    assert client.post("/api/v1/call-notes", json=note, headers=both).status_code == 201
