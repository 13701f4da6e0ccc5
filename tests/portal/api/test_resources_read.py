"""The API's read resources: scopes, the firewall per token, filters, cursor paging with
concurrent inserts, and bad input as problem documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from content.models import Classification, MaterialEvent
from content.models import EventKind as MaterialEventKind
from portal.accounts import timeline
from portal.accounts.models import CallNote, InteractionKind
from portal.api import tokens
from portal.extensions import db
from portal.models import Role, utcnow
from portal.models.reference import Side, Verification
from portal.safety import services as safety
from portal.safety.models import CaseOrigin
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.accounts.test_timeline import EXPECTED, MSL_SECRETS, seed_record
from tests.portal.questions.factories import ask

PROBLEM = "application/problem+json"
TYPES = "https://hcp-portal.invalid/problems/"


def bearer(*scopes: str) -> dict[str, str]:
    _token, secret = tokens.create_token(None, name=f"CRM {' '.join(scopes)}", scopes=scopes)
    return {"Authorization": f"Bearer {secret}"}


def get(client: Any, path: str, headers: dict[str, str]) -> Any:
    return client.get(path, headers=headers)


def every_page(client: Any, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url = path
    for _ in range(1000):
        body = client.get(url, headers=headers).json
        items.extend(body["items"])
        if body["next"] is None:
            return items
        joiner = "&" if "?" in path else "?"
        url = f"{path}{joiner}cursor={body['next']}"
    raise AssertionError("the pages never ended")


# --- interactions: the firewall per token --------------------------------------------------------
COMMERCIAL_READS = {label for label, (_kind, readers) in EXPECTED.items() if "rep" in readers} | {
    "rep_chat_started"
}


@pytest.mark.parametrize(
    ("scopes", "readable"),
    [
        (("read:commercial",), COMMERCIAL_READS),
        (("read:medical",), set(EXPECTED)),
        (("read:commercial", "read:medical"), set(EXPECTED)),
    ],
)
def test_interactions_show_each_event_with_content_only_for_the_tokens_sides(
    app, client, scopes, readable
):
    record = seed_record()
    headers = bearer(*scopes)
    items = every_page(client, "/api/v1/interactions?limit=7", headers)
    assert len(items) == len(EXPECTED)
    by_moment = {(i["kind"], i["at"]): i for i in items}
    wrong = []
    for label, (kind, _readers) in EXPECTED.items():
        at = timeline.iso(record.at[label])
        item = by_moment[(kind, at)]
        assert item["hcp_id"] == record.hcp.id
        if (item["detail"] is not None) != (label in readable):
            wrong.append(label)
    assert not wrong, wrong
    assert len({i["id"] for i in items}) == len(items)


def test_a_commercial_token_never_reads_medical_words_nor_medical_names(app, client):
    record = seed_record()
    body = client.get("/api/v1/interactions?limit=200", headers=bearer("read:commercial")).get_data(
        as_text=True
    )
    for secret in MSL_SECRETS:
        assert secret not in body
    assert "Sam Medic" not in body and "Mina Info" not in body
    assert "A question to Medical Information" in body
    assert record.hcp.name in body or "Dr. Avery Cole" in body


@pytest.mark.parametrize("scopes", [("read:pv",), ("write:interactions",)])
def test_interactions_need_a_side_to_read(app, client, scopes):
    response = client.get("/api/v1/interactions", headers=bearer(*scopes))
    assert response.status_code == 403
    assert response.mimetype == PROBLEM
    assert response.json["type"] == TYPES + "insufficient-scope"


def test_interactions_filter_by_kind_time_and_hcp(app, client):
    record = seed_record()
    other = make_hcp()
    headers = bearer("read:medical")
    kinds = client.get(
        "/api/v1/interactions?kind=call_note&kind=question_asked&limit=200", headers=headers
    ).json["items"]
    assert sorted(i["kind"] for i in kinds) == ["call_note"] * 2 + ["question_asked"] * 2
    since, until = record.at["medical_asked"], record.at["commercial_asked"]
    window = client.get(
        "/api/v1/interactions",
        query_string={"since": since.isoformat(), "until": until.isoformat(), "limit": 200},
        headers=headers,
    ).json["items"]
    assert [i["kind"] for i in window] == ["question_closed", "question_answered", "question_asked"]
    mine = client.get(f"/api/v1/interactions?hcp_id={other.id}", headers=headers).json
    assert [i["kind"] for i in mine["items"]] == ["verified", "registered"] or [
        i["kind"] for i in mine["items"]
    ] == ["registered"]
    assert all(i["hcp_id"] == other.id for i in mine["items"])
    staff = client.get(f"/api/v1/interactions?hcp_id={record.people['rep'].id}", headers=headers)
    assert staff.json == {"items": [], "next": None}


def _note(author: Any, hcp: Any, at: dt.datetime, summary: str) -> CallNote:
    note = CallNote(
        hcp_id=hcp.id, author_id=author.id, side=Side.COMMERCIAL, kind=InteractionKind.VISIT,
        occurred_at=at, summary=summary, created_at=at,
    )  # fmt: skip
    db.session.add(note)
    db.session.commit()
    return note


def test_paging_with_inserts_before_after_and_among_pages_skips_and_repeats_nothing(app, client):
    territory = make_territory()
    rep = make_user(Role.REP, territories=[territory])
    hcps = [make_hcp(territory=territory) for _ in range(3)]
    material = make_material(make_user(Role.CONTENT_MANAGER), direct=True)
    base = utcnow() - dt.timedelta(days=2)
    # Ties on purpose: several events at the same moment, of several kinds and HCPs.
    for i in range(12):
        at = base + dt.timedelta(minutes=i // 3)
        hcp = hcps[i % 3]
        _note(rep, hcp, at, f"note {i}")
        db.session.add(
            MaterialEvent(material_id=material.id, family_id=material.family_id,
                          user_id=hcp.id, kind=MaterialEventKind.VIEW, at=at)
        )  # fmt: skip
    db.session.commit()
    headers = bearer("read:commercial")
    path = "/api/v1/interactions?kind=call_note&kind=material_viewed&limit=5"
    before = every_page(client, path, headers)
    assert len(before) == 24
    existing = {i["id"] for i in before}

    seen: list[dict[str, Any]] = []
    first = client.get(path, headers=headers).json
    seen.extend(first["items"])
    cursor = first["next"]
    newest = base + dt.timedelta(hours=1)
    inserted = 0
    while cursor is not None:
        # After the first page (newer than everything), among the pages (at a tied moment and
        # between), and before everything (older than the last page).
        _note(rep, hcps[0], newest + dt.timedelta(minutes=inserted), "newer")
        _note(rep, hcps[1], base + dt.timedelta(minutes=1), "tied")
        _note(rep, hcps[2], base + dt.timedelta(seconds=30), "between")
        _note(rep, hcps[0], base - dt.timedelta(minutes=5 + inserted), "older")
        inserted += 1
        page = client.get(f"{path}&cursor={cursor}", headers=headers).json
        seen.extend(page["items"])
        cursor = page["next"]
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)), "no event comes twice"
    assert existing <= set(ids), "no pre-existing event is skipped"
    assert [i["at"] for i in seen] == sorted((i["at"] for i in seen), reverse=True)
    assert inserted >= 4


@pytest.mark.parametrize(
    ("query", "status", "slug"),
    [
        ("limit=0", 422, "invalid-input"),
        ("limit=201", 422, "invalid-input"),
        ("limit=many", 422, "invalid-input"),
        ("kind=not_a_kind", 422, "invalid-input"),
        ("since=yesterday", 422, "invalid-input"),
        ("since=2026-01-01T00:00:00", 422, "invalid-input"),  # no time zone
        ("hcp_id=0", 422, "invalid-input"),
        ("since=0001-01-01T00:00:00%2B05:00", 422, "invalid-input"),  # overflows as UTC
        ("until=9999-12-31T23:00:00-05:00", 422, "invalid-input"),
        ("hcp_id=99999999999", 422, "invalid-input"),
        ("cursor=garbage", 400, "invalid-request"),
        ("cursor=MXwyMDI2LTAxLTAxfGZvb3wx", 400, "invalid-request"),
    ],
)
def test_bad_input_to_interactions_is_a_problem_document(app, client, query, status, slug):
    response = client.get(f"/api/v1/interactions?{query}", headers=bearer("read:medical"))
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    assert response.json["type"] == TYPES + slug
    if slug == "invalid-request":
        assert set(response.json["errors"]) == {"cursor"}  # the parameter the client sent


def test_an_empty_cursor_is_the_first_page(app, client):
    headers = bearer("read:medical")
    first = client.get("/api/v1/interactions", headers=headers)
    empty = client.get("/api/v1/interactions?cursor=", headers=headers)
    assert empty.status_code == 200 and empty.json == first.json


# --- materials -----------------------------------------------------------------------------------
def test_materials_are_the_published_ones_and_commercial_tokens_see_promotional_only(app, client):
    author = make_user(Role.CONTENT_MANAGER)
    product = make_product(name="Cardiovex")
    promo = make_material(author, product=product, direct=True, title="Promo",
                          classification=Classification.PROMOTIONAL.value)  # fmt: skip
    science = make_material(author, product=product, direct=True, title="Science",
                            classification=Classification.MEDICAL.value)  # fmt: skip
    draft = make_material(author, "draft", product=product, direct=True, title="Draft")
    expired = make_material(author, "expired", product=product, direct=True, title="Expired")
    withdrawn = make_material(author, "withdrawn", product=product, title="Gone")

    commercial = bearer("read:commercial")
    medical = bearer("read:medical")
    pv = bearer("read:pv")
    listed = every_page(client, "/api/v1/materials?limit=1", medical)
    assert [m["title"] for m in listed] == ["Science", "Promo"]
    assert listed[1]["product"] == {"id": product.id, "code": product.code, "name": "Cardiovex"}
    assert [m["title"] for m in every_page(client, "/api/v1/materials", commercial)] == ["Promo"]
    assert [m["title"] for m in every_page(client, "/api/v1/materials", pv)] == [
        "Science", "Promo",
    ]  # fmt: skip
    assert client.get(f"/api/v1/materials/{promo.id}", headers=commercial).json["id"] == promo.id
    assert client.get(f"/api/v1/materials/{science.id}", headers=commercial).status_code == 404
    assert client.get(f"/api/v1/materials/{science.id}", headers=medical).status_code == 200
    for hidden in (draft, expired, withdrawn):
        response = client.get(f"/api/v1/materials/{hidden.id}", headers=medical)
        assert response.status_code == 404 and response.mimetype == PROBLEM
    only = client.get("/api/v1/materials?classification=promotional", headers=medical).json
    assert [m["id"] for m in only["items"]] == [promo.id]
    write_only = client.get("/api/v1/materials", headers=bearer("write:interactions"))
    assert write_only.status_code == 403


def test_a_retired_version_is_not_listed_its_successor_is(app, client):
    author = make_user(Role.CONTENT_MANAGER)
    successor = make_material(author, "retired", title="Guide")
    items = every_page(client, "/api/v1/materials", bearer("read:medical"))
    assert len(items) == 1
    assert items[0]["family_id"] == successor.family_id
    assert items[0]["version"] == 2


# --- HCPs ----------------------------------------------------------------------------------------
def test_hcps_carry_profile_terms_and_consent_with_the_firewall_on_names(app, client):
    record = seed_record()
    commercial = client.get(f"/api/v1/hcps/{record.hcp.id}", headers=bearer("read:commercial")).json
    assert commercial["name"] == "Dr. Avery Cole"
    assert commercial["verification"]["state"] == "verified"
    assert commercial["verification"]["verified_at"] == timeline.iso(record.at["verified"])
    assert commercial["npi"] == record.hcp.hcp_profile.npi
    assert commercial["contact_terms"]["chosen"] is True
    consents = {c["staff_role"]: c for c in commercial["chat_consents"]}
    assert set(consents) == {"rep", "msl"}
    assert consents["rep"]["staff_name"] == "Jordan Lee" and consents["rep"]["active"] is True
    assert consents["msl"]["staff_name"] is None and consents["msl"]["staff_id"] is None
    assert consents["msl"]["active"] is False
    assert consents["msl"]["withdrawn_at"] == timeline.iso(record.at["msl_chat_ended"])
    medical = client.get(f"/api/v1/hcps/{record.hcp.id}", headers=bearer("read:medical")).json
    named = {c["staff_role"]: c["staff_name"] for c in medical["chat_consents"]}
    assert named == {"rep": "Jordan Lee", "msl": "Sam Medic"}


def test_hcps_list_filters_and_pages_and_refuses_staff_and_pv_tokens(app, client):
    pending = make_hcp(verification=Verification.PENDING)
    german = make_hcp(country="DE")
    us = make_hcp()
    staff = make_user(Role.REP)
    headers = bearer("read:commercial")
    ids = [h["id"] for h in every_page(client, "/api/v1/hcps?limit=2", headers)]
    assert ids == [us.id, german.id, pending.id]
    assert [
        h["id"] for h in client.get("/api/v1/hcps?country=DE", headers=headers).json["items"]
    ] == [german.id]
    pend = client.get("/api/v1/hcps?verification=pending", headers=headers).json["items"]
    assert [h["id"] for h in pend] == [pending.id]
    assert pend[0]["verification"] == {"state": "pending", "verified_at": None}
    default_terms = client.get(f"/api/v1/hcps/{us.id}", headers=headers).json["contact_terms"]
    assert default_terms["chosen"] is False and default_terms["quiet_hours"] is None
    assert client.get(f"/api/v1/hcps/{staff.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/hcps", headers=bearer("read:pv")).status_code == 403


# --- questions -----------------------------------------------------------------------------------
def test_questions_text_only_for_the_scope_that_may_read_it(app, client):
    hcp = make_hcp(territory=make_territory())
    medical = ask(hcp, text="SECRET renal dosing question", category="dosing")
    commercial = ask(hcp, text="Could you send samples?", category="samples")
    com, med = bearer("read:commercial"), bearer("read:medical")

    hidden = client.get(f"/api/v1/questions/{medical.id}", headers=com).json
    assert hidden["readable"] is False
    assert hidden["text"] is None and hidden["category"] is None and hidden["routing"] is None
    assert hidden["replies"] is None and hidden["product"] is None
    assert hidden["owner_team"] == medical.owner_team.value
    assert hidden["status"] == "received" and hidden["due_at"] == timeline.iso(medical.due_at)
    shown = client.get(f"/api/v1/questions/{commercial.id}", headers=com).json
    assert shown["text"] == "Could you send samples?" and shown["category"] == "samples"
    assert shown["routing"]["teams"][0] == commercial.owner_team.value
    assert [m["step"] for m in shown["routing"]["moves"]] == ["routed"] or shown["routing"][
        "moves"
    ] == []
    full = client.get(f"/api/v1/questions/{medical.id}", headers=med).json
    assert full["text"] == "SECRET renal dosing question" and full["replies"] == []
    listed = client.get("/api/v1/questions", headers=com).get_data(as_text=True)
    assert "SECRET" not in listed and "Could you send samples?" in listed
    assert client.get("/api/v1/questions", headers=bearer("read:pv")).status_code == 403


def test_a_commercial_category_question_medical_information_answered_stays_medical(app, client):
    from portal.questions import work
    from portal.questions.models import Category, TeamKey
    from tests.portal.questions.factories import NOTHING

    hcp = make_hcp(territory=make_territory())
    question = ask(hcp, text="SECRET what else should I know?", category="other")
    question.category, question.owner_team = Category.OTHER, TeamKey.MEDICAL_INFORMATION
    db.session.commit()
    mi = make_user(Role.MEDICAL_INFORMATION)
    work.reply_to_question(mi, question.id, body="SECRET clinical answer", attestation=NOTHING)

    hidden = client.get(f"/api/v1/questions/{question.id}", headers=bearer("read:commercial"))
    assert hidden.json["readable"] is False and hidden.json["replies"] is None
    assert "SECRET" not in hidden.get_data(as_text=True)
    assert mi.name not in hidden.get_data(as_text=True)
    full = client.get(f"/api/v1/questions/{question.id}", headers=bearer("read:medical")).json
    assert [r["author_role"] for r in full["replies"]] == ["medical_information"]


def test_questions_page_by_cursor_and_filter(app, client):
    hcp = make_hcp(territory=make_territory())
    start = utcnow() - dt.timedelta(hours=5)
    made = [ask(hcp, now=start + dt.timedelta(minutes=i // 2)) for i in range(5)]
    headers = bearer("read:medical")
    ids = [q["id"] for q in every_page(client, "/api/v1/questions?limit=2", headers)]
    assert ids == [q.id for q in sorted(made, key=lambda q: (q.created_at, q.id), reverse=True)]
    assert client.get("/api/v1/questions?status=closed", headers=headers).json["items"] == []
    bad = client.get("/api/v1/questions?status=lost", headers=headers)
    assert bad.status_code == 422 and bad.mimetype == PROBLEM


# --- PV cases ------------------------------------------------------------------------------------
def test_pv_cases_are_read_with_read_pv_only(app, client):
    hcp = make_hcp()
    case = safety.open_case(
        None, source=safety.CaseSource.QUESTION, text="Patient hospitalised after the dose",
        reasons=["hospitalised"], reporter=hcp, received_at=utcnow(),
        origin=CaseOrigin.DETECTED,
    )  # fmt: skip
    for scopes in (
        ("read:commercial",),
        ("read:medical",),
        ("read:commercial", "read:medical", "write:interactions"),
    ):
        headers = bearer(*scopes)
        for path in ("/api/v1/pv-cases", f"/api/v1/pv-cases/{case.id}"):
            response = client.get(path, headers=headers)
            assert response.status_code == 403, (scopes, path)
            assert "hospitalised" not in response.get_data(as_text=True)
    pv = bearer("read:pv")
    listed = client.get("/api/v1/pv-cases", headers=pv).json
    assert [c["id"] for c in listed["items"]] == [case.id] and listed["next"] is None
    one = client.get(f"/api/v1/pv-cases/{case.id}", headers=pv).json
    assert one["status"] == "open" and one["origin"] == "detected"
    assert one["reporter_hcp_id"] == hcp.id and one["acknowledged_at"] is None
    assert one["links"]["question_id"] is None
    assert client.get("/api/v1/pv-cases/999999", headers=pv).status_code == 404
    assert client.get("/api/v1/pv-cases?status=acknowledged", headers=pv).json["items"] == []


def test_the_document_lists_every_resource(app: Flask, client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/materials", "/api/v1/materials/{material_id}", "/api/v1/hcps",
        "/api/v1/hcps/{hcp_id}", "/api/v1/interactions", "/api/v1/questions",
        "/api/v1/questions/{question_id}", "/api/v1/pv-cases", "/api/v1/pv-cases/{case_id}",
        "/api/v1/call-notes",
    ):  # fmt: skip
        assert path in paths, path
    post = paths["/api/v1/call-notes"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(post)
