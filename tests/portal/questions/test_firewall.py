"""The commercial/medical firewall and object-level access on the question pages.

Every staff role against every kind of page; HCPs against each other's questions; notes that stay
on their writer's side; compliance reading everything and changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from portal.models import Role, TeamKey, User
from portal.questions import work
from portal.questions.models import Question, QuestionStatus
from portal.safety.models import PvCase
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.helpers import browser
from tests.portal.questions.factories import ask, pv_cases_of


def text_of(response: TestResponse) -> str:
    """The page as a reader sees it (entities such as &#39; decoded)."""
    return unescape(response.get_data(as_text=True))


@dataclass
class World:
    hcp: User
    rep: User  # covers the HCP's territory: the samples question is theirs
    mi: User
    medical: Question
    commercial: Question
    case: PvCase


@pytest.fixture
def world(app: Flask) -> World:
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    rep = make_user(Role.REP, territories=[hcp.territory], name="Rita Rep")
    mi = make_user(Role.MEDICAL_INFORMATION, name="Mina Information")
    medical = ask(hcp, text="My patient was hospitalised after the first dose.")
    commercial = ask(hcp, category="samples", text="Could I get starter samples please?")
    assert medical.owner_team is TeamKey.MEDICAL_INFORMATION
    assert commercial.owner_team is TeamKey.SALES
    [case] = pv_cases_of(medical)
    return World(hcp, rep, mi, medical, commercial, case)


PAGES = {
    "medical question": lambda w: f"/questions/{w.medical.id}",
    "commercial question": lambda w: f"/questions/{w.commercial.id}",
    "queue": lambda w: "/questions/queue",
    "pv case": lambda w: f"/safety/cases/{w.case.id}",
}

# role: (medical question, commercial question, queue, PV case)
EXPECTED = {
    Role.REP: (404, 200, 200, 404),
    Role.MARKET_ACCESS: (404, 404, 200, 404),  # the samples question is Sales', not theirs
    Role.MSL: (200, 200, 200, 404),
    Role.MEDICAL_INFORMATION: (200, 200, 200, 404),
    Role.PHARMACOVIGILANCE: (200, 200, 200, 200),
    Role.QUALITY: (200, 200, 200, 404),
    Role.CONTENT_MANAGER: (404, 404, 404, 404),
    Role.MLR_REVIEWER: (404, 404, 404, 404),
    Role.COMPLIANCE: (200, 200, 200, 200),
    Role.ADMIN: (404, 404, 404, 404),
}
CASES = [
    pytest.param(role, page, EXPECTED[role][i], id=f"{role.value}-{page.replace(' ', '_')}")
    for role in EXPECTED
    for i, page in enumerate(PAGES)
]


@pytest.mark.parametrize(("role", "page", "status"), CASES)
def test_each_staff_role_sees_only_its_side(app, world, role, page, status):
    viewer = browser(app, make_user(role))
    response = viewer.get(PAGES[page](world))
    assert response.status_code == status


def test_the_pv_case_list_is_pvs_and_compliances(app, world):
    for role, status in [(Role.PHARMACOVIGILANCE, 200), (Role.COMPLIANCE, 200)]:
        assert browser(app, make_user(role)).get("/safety/cases").status_code == status
    for role in (Role.MEDICAL_INFORMATION, Role.MSL, Role.REP, Role.ADMIN):
        assert browser(app, make_user(role)).get("/safety/cases").status_code == 404


def test_a_rep_queue_never_lists_a_medical_question(app, world):
    html = text_of(browser(app, world.rep).get("/questions/queue?view=all"))
    assert world.commercial.reference in html
    assert world.medical.reference not in html


def test_a_rep_cannot_work_a_medical_question_by_id(app, world):
    rep = browser(app, world.rep)
    for action, data in [
        ("claim", {}),
        ("reply", {"body": "Try the higher dose."}),
        ("note", {"note-text": "A note on a medical question"}),
        ("close", {}),
    ]:
        assert rep.post(f"/questions/{world.medical.id}/{action}", data=data).status_code == 404
    assert world.medical.entries == []
    assert world.medical.assignee_id == world.mi.id


# --- HCPs ----------------------------------------------------------------------------------------
def test_hcp_a_cannot_open_or_change_hcp_b_question(app, world):
    other = browser(app, make_hcp())
    question = world.medical
    assert other.get(f"/questions/{question.id}").status_code == 404
    follow = other.post(
        f"/questions/{question.id}/follow-up", data={"text": "Let me add something to it"}
    )
    assert follow.status_code == 404
    assert other.post(f"/questions/{question.id}/close").status_code == 404
    assert other.post(f"/questions/{question.id}/helpful", data={"value": "no"}).status_code == 404
    assert question.entries == []
    assert question.status is not QuestionStatus.CLOSED
    assert question.reference not in text_of(other.get("/questions/"))


def test_an_hcp_cannot_reach_staff_pages_or_actions(app, world):
    hcp = browser(app, world.hcp)
    assert hcp.get("/questions/queue").status_code == 404
    assert hcp.get(f"/safety/cases/{world.case.id}").status_code == 404
    assert hcp.post(f"/safety/cases/{world.case.id}/acknowledge").status_code == 404
    assert hcp.post(f"/questions/{world.medical.id}/claim").status_code == 302
    assert world.medical.assignee_id == world.mi.id  # refused with a flash, nothing changed
    note = hcp.post(f"/questions/{world.medical.id}/note", data={"note-text": "x" * 20})
    assert note.status_code == 302
    assert world.medical.entries == []


def test_the_hcp_never_sees_notes_reasons_flags_or_pv_cases(app, world):
    work.add_note(world.mi, world.medical.id, body="Medical view: check renal status.")
    html = text_of(browser(app, world.hcp).get(f"/questions/{world.medical.id}"))
    assert "hospitalised after the first dose" in html  # their own question
    assert "Medical view" not in html
    assert "Internal note" not in html
    assert "Possible adverse event" not in html
    assert world.case.reference not in html
    for reason in world.medical.reasons:
        assert reason not in html
    assert "Pharmacovigilance" not in html


# --- notes across the firewall -------------------------------------------------------------------
def test_a_rep_sees_a_colleagues_commercial_note_but_never_a_medical_one(app, world):
    question = world.commercial
    work.add_note(world.mi, question.id, body="Medical view: check the renal status first.")
    work.add_note(world.rep, question.id, body="Samples shipped last month.")
    colleague = make_user(Role.REP)

    html = text_of(browser(app, colleague).get(f"/questions/{question.id}"))
    assert "Samples shipped last month." in html
    assert "Medical view" not in html
    assert "Internal note — commercial side only" in html

    medical_html = text_of(browser(app, world.mi).get(f"/questions/{question.id}"))
    assert "Medical view: check the renal status first." in medical_html
    assert "Internal note — medical side only" in medical_html


# --- compliance ----------------------------------------------------------------------------------
def test_compliance_reads_everything_and_sees_no_forms(app, world):
    work.add_note(world.mi, world.commercial.id, body="Medical view: renal status.")
    work.add_note(world.rep, world.commercial.id, body="Samples shipped last month.")
    auditor = browser(app, make_user(Role.COMPLIANCE))

    for question in (world.medical, world.commercial):
        html = text_of(auditor.get(f"/questions/{question.id}"))
        assert 'data-testid="read-only"' in html
        for action in ("reply", "note", "claim", "reassign", "escalate", "close"):
            assert f'action="/questions/{question.id}/{action}"' not in html
    assert "Medical view: renal status." in html and "Samples shipped last month." in html

    case_page = text_of(auditor.get(f"/safety/cases/{world.case.id}"))
    assert 'data-testid="read-only"' in case_page
    assert 'data-testid="pv-form"' not in case_page
    assert "/acknowledge" not in case_page
    refused = auditor.post(f"/safety/cases/{world.case.id}/acknowledge", follow_redirects=True)
    assert "Only Pharmacovigilance can do that." in text_of(refused)
    note = auditor.post(f"/questions/{world.medical.id}/note", data={"note-text": "x" * 20})
    assert note.status_code == 302
    assert all(e.body != "x" * 20 for e in world.medical.entries)
