"""An HCP's own download: every kind of record about them, nobody else's, audited."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Role
from portal.privacy import collect
from tests.factories import make_user
from tests.portal import helpers
from tests.portal.privacy.seed import seed_history


def test_download_holds_every_kind_of_record_about_the_hcp(app):
    history = seed_history()
    helpers.signed_in(app, history.hcp)  # a session and a sign-in
    hcp = helpers.fresh(history.hcp)

    data = collect.collect_person(hcp)

    assert data["profile"]["email"] == hcp.email
    assert data["profile"]["professional"]["npi"] == hcp.hcp_profile.npi
    assert data["profile"]["verification"]["status"] == "verified"
    assert len(data["consents"]["chat"]) == 2
    assert data["consents"]["chat"][0]["wording"]["text"]
    assert data["consents"]["contact_preferences"]["channels"] == ["email", "phone"]
    chats = {c["id"]: c for c in data["conversations"]}
    plain = chats[history.plain_chat]["messages"]
    assert [m["body"] for m in plain] == [
        "Could you send me the dosing summary?", "Here it is.", "Thanks a lot",
    ]  # fmt: skip
    # Their own edit with its original; a colleague's message as they see it now.
    assert plain[2]["revisions"][0]["previous_body"] == "Thanks a lot, typo here"
    assert "revisions" not in plain[1]
    questions = {q["id"]: q for q in data["questions"]}
    assert questions[history.plain_question]["entries"][0]["kind"] == "reply"
    assert questions[history.safety_question]["category"] == "adverse_event"
    assert data["safety"]["cases"], "the adverse event's PV case is listed by reference"
    assert "patient" not in data["safety"]["cases"][0]
    assert data["about_you"]["call_notes"][0]["summary"].startswith("Discussed the new study")
    assert data["about_you"]["plan_notes"][0]["text"] == "Bring renal data."
    assert len(data["activity"]["material_views"]) == 1
    assert data["activity"]["sessions"][0]["device"]
    assert data["activity"]["notifications"]
    actions = {r["action"] for r in data["audit_trail"]["records"]}
    assert {"auth.login", "chat.message_edited"} & actions
    json.dumps(data)  # JSON-safe


def test_another_hcps_data_never_appears(app):
    mine = seed_history()
    theirs = seed_history(name="Dr. Other Person", specialty="Oncology")

    data = collect.collect_person(helpers.fresh(mine.hcp))
    text = json.dumps(data)

    other = helpers.fresh(theirs.hcp)
    assert other.email not in text
    assert "Dr. Other Person" not in text
    assert other.hcp_profile.npi not in text
    assert {c["id"] for c in data["conversations"]} == {mine.plain_chat, mine.safety_chat}
    assert {q["id"] for q in data["questions"]} == {mine.plain_question, mine.safety_question}
    assert "Oncology" not in text


def test_hcp_downloads_json_and_reads_the_page_each_audited(app):
    history = seed_history()
    browser = helpers.browser(app, history.hcp)

    page = browser.get("/account/privacy")
    response = browser.get("/account/privacy/data.json")
    readable = browser.get("/account/privacy/data.html")

    assert page.status_code == 200
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["profile"]["id"] == history.hcp.id
    assert readable.status_code == 200
    assert "Thanks a lot" in readable.get_data(as_text=True)
    exported = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "privacy.exported")
    ).all()
    assert [r.details.get("form") for r in exported] == ["json", "html"]


def test_the_account_page_links_to_the_data_page_for_hcps_only(app):
    history = seed_history()
    hcp_page = helpers.browser(app, history.hcp).get("/account").get_data(as_text=True)
    staff_page = helpers.browser(app, history.msl).get("/account").get_data(as_text=True)

    assert 'data-testid="link-privacy"' in hcp_page
    assert 'data-testid="link-privacy"' not in staff_page


def test_staff_have_no_data_rights_pages(app):
    staff = make_user(Role.COMPLIANCE)
    browser = helpers.browser(app, staff)

    assert browser.get("/account/privacy").status_code == 404
    assert browser.get("/account/privacy/data.json").status_code == 404
