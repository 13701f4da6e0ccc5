"""Wiring of the question pages: status codes, redirects, flashes, kept input, panels."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.extensions import db
from portal.models import Role, TeamKey, User, Verification, utcnow
from portal.questions import intake, routing, work
from portal.questions.models import EntryKind, Question, QuestionStatus
from portal.safety import attestations
from portal.safety.models import CaseOrigin
from portal.services.consent import current_wording
from tests.conftest import IsolatedClient, login
from tests.content.factories import make_material
from tests.factories import PASSWORD, make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import NOTHING, ask, pv_cases_of


def text_of(response: TestResponse) -> str:
    """The page as a reader sees it (entities such as &#39; decoded)."""
    return unescape(response.get_data(as_text=True))


@pytest.fixture
def hcp(app: Flask) -> User:
    return make_hcp(territory=make_territory(code="US-NE"))


@pytest.fixture
def mi(app: Flask) -> User:
    return make_user(Role.MEDICAL_INFORMATION, name="Mina Information")


def client_for(app: Flask, user: User) -> FlaskClient:
    """A separate browser, signed in as ``user``."""
    app.test_client_class = IsolatedClient  # requests never share the test's ``g``
    browser = app.test_client()
    login(browser, user.email)
    return browser


def _valid_form(**overrides: str) -> dict[str, str]:
    data = {
        "product_id": "",
        "about_family_id": "",
        "category": "dosing",
        "text": "What is the recommended dose in renal impairment?",
        "channel": "portal",
        "urgency": "routine",
        "consent": "y",
        "consent_wording_id": str(current_wording(intake.CONSENT_PURPOSE).id),
    }
    data.update(overrides)
    return data


def _only_question() -> Question:
    question = db.session.scalar(db.select(Question))
    assert question is not None
    return question


# --- asking ------------------------------------------------------------------------------------
def test_the_ask_form_shows_the_consent_wording_and_the_emergency_note(client, hcp):
    login(client, hcp.email)
    page = client.get("/questions/ask")
    assert page.status_code == 200
    html = text_of(page)
    wording = current_wording(intake.CONSENT_PURPOSE)
    assert wording.text in html
    assert f'name="consent_wording_id" type="hidden" value="{wording.id}"' in html
    assert "call emergency services" in html
    assert f'maxlength="{intake.max_text_length()}"' in html
    assert 'data-counter="text-counter"' in html
    for label in ("Use outside the label", "Samples and supply", "No specific product"):
        assert label in html


def test_every_bad_field_is_shown_and_the_typed_text_is_kept(client, hcp):
    login(client, hcp.email)
    response = client.post(
        "/questions/ask",
        data=_valid_form(text="Too short", category="", channel="fax", consent=""),
    )
    assert response.status_code == 200
    html = text_of(response)
    assert "Write your question in at least 10 characters." in html
    assert "Choose what your question is about." in html
    assert "Choose how you would like the answer." in html
    assert "We can only answer if you agree to be contacted about it." in html
    assert re.search(r"<textarea[^>]*>\s*Too short</textarea>", html)
    assert db.session.scalar(db.select(Question.id)) is None


def test_a_changed_consent_wording_is_shown_again_with_its_new_id(client, hcp):
    login(client, hcp.email)
    response = client.post("/questions/ask", data=_valid_form(consent_wording_id="999"))
    html = text_of(response)
    assert "The consent wording has changed" in html
    wording = current_wording(intake.CONSENT_PURPOSE)
    assert f'name="consent_wording_id" type="hidden" value="{wording.id}"' in html
    assert "What is the recommended dose in renal impairment?" in html


def test_ask_from_a_material_preselects_its_product_and_remembers_it(client, hcp):
    product = make_product(name="Cardiovex")
    material = make_material(product=product, title="Cardiovex dosing guide")
    login(client, hcp.email)
    opened = client.get(f"/library/{material.id}")
    link = f"/questions/ask?material={material.family_id}&product={product.id}"
    assert link in text_of(opened)

    page = client.get(f"/questions/ask?material={material.family_id}&product={product.id}")
    html = text_of(page)
    assert f'<option selected value="{product.id}">Cardiovex</option>' in html
    assert "Cardiovex dosing guide" in html
    response = client.post(
        "/questions/ask",
        data=_valid_form(product_id=str(product.id), about_family_id=str(material.family_id)),
    )
    assert response.status_code == 302
    question = _only_question()
    assert question.product_id == product.id
    assert question.about_family_id == material.family_id


@pytest.mark.parametrize("which", ["unknown", "withdrawn", "draft"])
def test_a_material_the_hcp_may_not_see_is_not_kept_with_the_question(client, hcp, which):
    """The form's hidden material id is the browser's to change: a family that does not exist, or
    one this HCP may not open, is dropped and the question itself is still taken."""
    product = make_product(name="Cardiovex")
    family_id = (
        2_000_000_000
        if which == "unknown"
        else make_material(status=which, product=product, title="Not for you").family_id
    )
    login(client, hcp.email)
    response = client.post(
        "/questions/ask",
        data=_valid_form(product_id=str(product.id), about_family_id=str(family_id)),
    )
    assert response.status_code == 302
    question = _only_question()
    assert question.about_family_id is None
    assert question.product_id == product.id


@pytest.mark.parametrize("verification", [Verification.PENDING, Verification.REJECTED])
def test_an_unverified_hcp_cannot_ask(client, verification):
    login(client, make_hcp(verification=verification).email)
    assert client.get("/questions/ask").status_code == 404
    assert client.post("/questions/ask", data={"text": "x" * 20}).status_code == 404
    assert client.get("/questions/").status_code == 404


def test_my_questions_tells_two_questions_of_one_category_apart_by_their_start(client, hcp):
    renal = "What is the recommended dose in renal impairment for a patient on dialysis?"
    long_text = "Is <b>titration</b> needed in hepatic impairment " + "and in the elderly " * 10
    ask(hcp, category="dosing", text=renal)
    ask(hcp, category="dosing", text=long_text)
    login(client, hcp.email)

    raw = client.get("/questions/").get_data(as_text=True)

    excerpts = [
        unescape(e) for e in re.findall(r'data-testid="question-excerpt">([^<]*)</div>', raw)
    ]
    assert len(excerpts) == 2
    assert renal in excerpts  # short enough to show whole
    [truncated] = [e for e in excerpts if e != renal]
    assert len(truncated) == 80
    assert truncated == long_text[:79] + "…"
    assert "<b>titration</b>" not in raw  # escaped, never rendered as markup
    assert "&lt;b&gt;titration&lt;/b&gt;" in raw


def test_the_material_page_offers_no_question_link_to_staff(client):
    material = make_material()
    login(client, make_user(Role.MEDICAL_INFORMATION).email)
    assert b"ask-about" not in client.get(f"/library/{material.id}").data


# --- the whole journey ---------------------------------------------------------------------------
def test_an_hcp_asks_a_colleague_answers_and_the_hcp_rates_follows_up_and_closes(
    app, client, hcp, mi
):
    login(client, hcp.email)
    sent = client.post("/questions/ask", data=_valid_form())
    question = _only_question()
    assert sent.status_code == 302
    assert sent.headers["Location"].endswith(f"/questions/{question.id}")
    landing = text_of(client.get(sent.headers["Location"]))
    assert f"Your question {question.reference} was sent to Medical Information" in landing
    assert 'data-testid="timeline"' in landing

    mine = text_of(client.get("/questions/"))
    assert question.reference in mine
    assert "With Medical Information" in mine

    # A colleague on the owning team takes it over and answers with a medical material.
    colleague = make_user(Role.MEDICAL_INFORMATION, name="Colin League")
    material = make_material(classification="medical", title="Renal dosing study")
    staff = client_for(app, colleague)
    staff_page = text_of(staff.get(f"/questions/{question.id}"))
    assert "Take it over from Mina Information" in staff_page
    assert "Renal dosing study" in staff_page  # offered as an attachment
    claimed = staff.post(f"/questions/{question.id}/claim", follow_redirects=True)
    assert f"Question {question.reference} is now assigned to you." in text_of(claimed)
    assert question.assignee_id == colleague.id
    staff.post(f"/questions/{question.id}/note", data={"note-text": "Checked the SmPC 4.2."})
    replied = staff.post(
        f"/questions/{question.id}/reply",
        data={
            "body": "**Halve the dose** below 30 mL/min.",
            "materials": [str(material.id)],
            "attestation": "none",
        },
    )
    assert replied.status_code == 302
    assert question.status is QuestionStatus.ANSWERED

    detail = text_of(client.get(f"/questions/{question.id}"))
    assert "<strong>Halve the dose</strong>" in detail
    assert f'href="/library/{material.id}">Renal dosing study</a>' in detail
    assert "Checked the SmPC" not in detail  # internal notes never reach the HCP
    assert 'data-testid="status">Answered<' in detail
    assert "Was this helpful?" in detail

    rated = client.post(
        f"/questions/{question.id}/helpful", data={"value": "yes"}, follow_redirects=True
    )
    assert "Thank you for telling us." in text_of(rated)
    assert question.helpful is True

    followed = client.post(
        f"/questions/{question.id}/follow-up",
        data={"text": "And for patients on dialysis?"},
        follow_redirects=True,
    )
    html = text_of(followed)
    assert "Your follow-up was added." in html
    assert "And for patients on dialysis?" in html
    assert question.status is QuestionStatus.IN_PROGRESS
    assert "With Medical Information" in text_of(client.get("/questions/"))

    closed = client.post(f"/questions/{question.id}/close", follow_redirects=True)
    assert f"Question {question.reference} is closed." in text_of(closed)
    assert question.status is QuestionStatus.CLOSED
    after = text_of(client.get(f"/questions/{question.id}"))
    assert "follow-up-form" not in after and "close-question" not in after


def test_a_too_short_follow_up_is_shown_again_with_its_error(client, hcp, mi):
    question = ask(hcp)
    login(client, hcp.email)
    response = client.post(f"/questions/{question.id}/follow-up", data={"text": "Thanks!"})
    assert response.status_code == 200
    html = text_of(response)
    assert "Write your follow-up in at least 10 characters." in html
    assert re.search(r"<textarea[^>]*>\s*Thanks!</textarea>", html)


def test_a_follow_up_posted_while_routing_fails_is_kept(client, hcp, mi, monkeypatch):
    # The page's action is a unit of work around the service's: the service still recovers from
    # the failed routing (nothing was written before it) and the follow-up is stored.
    question = ask(hcp)
    login(client, hcp.email)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("detector down")

    monkeypatch.setattr(routing, "route_follow_up", broken)
    followed = client.post(
        f"/questions/{question.id}/follow-up",
        data={"text": "And for patients on dialysis?"},
        follow_redirects=True,
    )
    assert "Your follow-up was added." in text_of(followed)
    assert question.entries[-1].body == "And for patients on dialysis?"
    assert len(pv_cases_of(question)) == 1


def test_rating_before_an_answer_is_refused_with_a_flash(client, hcp, mi):
    question = ask(hcp)
    login(client, hcp.email)
    response = client.post(
        f"/questions/{question.id}/helpful", data={"value": "yes"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "There is no answer to rate yet." in text_of(response)
    assert question.helpful is None


def test_an_empty_reply_keeps_the_page_and_says_why(app, hcp, mi):
    question = ask(hcp)
    staff = client_for(app, mi)
    response = staff.post(
        f"/questions/{question.id}/reply", data={"body": "  ", "attestation": "none"}
    )
    assert response.status_code == 200
    assert "Write the answer before sending it." in text_of(response)
    assert question.status is QuestionStatus.IN_PROGRESS


def test_the_answer_form_offers_only_material_for_this_hcp_and_refuses_the_rest(app, hcp, mi):
    mine = make_material(classification="medical", title="US renal dosing guide")
    for_europe = make_material(
        classification="medical", countries=["DE", "FR"], title="EU renal dosing guide"
    )
    question = ask(hcp)  # a US cardiologist's question, assigned to Medical Information
    staff = client_for(app, mi)

    page = text_of(staff.get(f"/questions/{question.id}"))
    assert mine.title in page
    assert for_europe.title not in page

    response = staff.post(
        f"/questions/{question.id}/reply",
        data={"body": "See this.", "materials": [str(for_europe.id)], "attestation": "none"},
    )
    assert response.status_code == 200
    assert "not meant for their profession, specialty or country" in text_of(response)
    assert question.status is QuestionStatus.IN_PROGRESS


# --- the staff side ------------------------------------------------------------------------------
def test_the_queue_is_sorted_by_due_time_and_flags_what_is_overdue(app, hcp, mi):
    now = utcnow()
    late = ask(hcp, now=now - dt.timedelta(days=10))
    soon = ask(hcp, now=now)
    ae = ask(hcp, text="My patient was hospitalised after the first dose.", now=now)
    staff = client_for(app, mi)

    html = text_of(staff.get("/questions/queue?view=mine"))
    ids = [int(i) for i in re.findall(r'data-question-id="(\d+)"', html)]
    assert ids[0] == late.id
    assert set(ids) == {late.id, soon.id, ae.id}
    rows = {int(m[0]): m[1] for m in re.findall(r'data-question-id="(\d+)"(.*?)</tr>', html, re.S)}
    assert 'data-testid="overdue"' in rows[late.id]
    assert 'data-testid="overdue"' not in rows[soon.id]
    assert 'data-testid="ae-flag"' in rows[ae.id]
    assert "Mina Information" in rows[soon.id]


def test_queue_tabs_and_empty_states(app, hcp, mi):
    question = ask(hcp, category="access", text="Which co-pay programme applies here?")
    assert question.assignee_id is None
    access = client_for(app, make_user(Role.MARKET_ACCESS))
    assert b"Nothing is assigned to you" in access.get("/questions/queue").data
    team = text_of(access.get("/questions/queue?view=team"))
    assert question.reference in team and "Unassigned" in team
    assert "Assigned to me" in team and "All I can see" in team


def test_staff_index_goes_to_the_queue_and_others_get_404(client, app):
    staff = client_for(app, make_user(Role.MSL))
    response = staff.get("/questions/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/questions/queue")
    login(client, make_user(Role.CONTENT_MANAGER).email)
    assert client.get("/questions/").status_code == 404


def test_reassigning_needs_a_reason_and_hands_the_question_on(app, hcp, mi):
    msl = make_user(Role.MSL, territories=[hcp.territory], name="Sam Liaison")
    question = ask(hcp)
    staff = client_for(app, mi)
    page = text_of(staff.get(f"/questions/{question.id}"))
    assert '<option value="msl">MSL team</option>' in page
    assert '<option value="sales">' not in page  # a medical question never goes commercial

    refused = staff.post(
        f"/questions/{question.id}/reassign",
        data={"reassign-to_team": "msl", "reassign-reason": " "},
    )
    assert refused.status_code == 200
    assert "Give a reason" in text_of(refused)
    assert question.owner_team is TeamKey.MEDICAL_INFORMATION

    moved = staff.post(
        f"/questions/{question.id}/reassign",
        data={"reassign-to_team": "msl", "reassign-reason": "Needs a field visit"},
        follow_redirects=True,
    )
    assert "Handed to MSL team (Sam Liaison)." in text_of(moved)
    assert question.owner_team is TeamKey.MSL
    assert question.assignee_id == msl.id


def test_escalating_without_a_team_lead_flashes_why(app, hcp, mi):
    question = ask(hcp)
    staff = client_for(app, mi)
    response = staff.post(
        f"/questions/{question.id}/escalate",
        data={"escalate-reason": "Complex renal case"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Medical Information has no team lead to escalate to" in text_of(response)
    assert question.escalated_at is None


def test_escalating_gives_the_question_to_the_lead(app, hcp, mi):
    lead = make_user(Role.MEDICAL_INFORMATION, name="Lea Lead")
    lead.memberships[0].is_lead = True
    db.session.commit()
    question = ask(hcp)
    staff = client_for(app, question.assignee)
    response = staff.post(
        f"/questions/{question.id}/escalate",
        data={"escalate-reason": "Complex renal case"},
        follow_redirects=True,
    )
    assert "Escalated to Lea Lead." in text_of(response)
    assert question.assignee_id == lead.id


def test_the_staff_page_shows_routing_reasons_flags_and_pv_cases_to_pv(app, hcp, mi):
    question = ask(hcp, text="My patient was hospitalised after the first dose.")
    [case] = pv_cases_of(question)
    pv = client_for(app, make_user(Role.PHARMACOVIGILANCE))
    html = text_of(pv.get(f"/questions/{question.id}"))
    assert "Possible adverse event" in html
    assert "hospitalised" in html
    assert 'data-testid="reasons"' in html
    assert f'href="/safety/cases/{case.id}">{case.reference}</a>' in html
    mi_page = text_of(client_for(app, mi).get(f"/questions/{question.id}"))
    assert case.reference not in mi_page  # PV cases are PV's and compliance's


# PV cases: tests/portal/safety/test_views.py


# --- home page panels ----------------------------------------------------------------------------
def test_home_panels_for_the_hcp_mi_and_pv(app, client, hcp, mi):
    question = ask(hcp, text="My patient was hospitalised after the first dose.")
    login(client, hcp.email)
    home = text_of(client.get("/"))
    assert "Your questions" in home and question.reference in home
    assert "1 open · 0 answered" in home

    mi_home = text_of(client_for(app, mi).get("/"))
    assert "1 assigned to you" in mi_home
    pv_home = text_of(client_for(app, make_user(Role.PHARMACOVIGILANCE)).get("/"))
    assert "1 open PV case" in pv_home


# --- CSRF: the prefixed forms carry their own token ----------------------------------------------
def _token(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]+)"', html)
    if found is None:
        found = re.search(rf'name="{re.escape(name)}" value="([^"]+)"', html)
    assert found is not None, f"no {name} on the page"
    return found.group(1)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_forms_work_with_csrf_protection_on(client, hcp, mi):
    question = ask(hcp)
    page = text_of(client.get("/login"))
    client.post(
        "/login", data={"email": hcp.email, "password": PASSWORD, "csrf_token": _token(page)}
    )
    detail = text_of(client.get(f"/questions/{question.id}"))
    follow = client.post(
        f"/questions/{question.id}/follow-up",
        data={"text": "One more detail for you.", "csrf_token": _token(detail)},
    )
    assert follow.status_code == 302
    detail = text_of(client.get(f"/questions/{question.id}"))
    closed = client.post(
        f"/questions/{question.id}/close",
        data={"close-csrf_token": _token(detail, "close-csrf_token")},
    )
    assert closed.status_code == 302
    assert question.status is QuestionStatus.CLOSED
    assert client.post(f"/questions/{question.id}/close").status_code == 400


# --- safety: attestations and one-click reports to PV -------------------------------------------
def _attestation_fieldset(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}".*?</fieldset>', html, re.S)
    assert found is not None, f"no {testid} on the page"
    return found.group(0)


def test_the_answer_form_asks_for_an_attestation_with_nothing_chosen(app, hcp, mi):
    question = ask(hcp)
    html = text_of(client_for(app, mi).get(f"/questions/{question.id}"))
    for testid in ("reply-attestation", "close-attestation"):
        fieldset = _attestation_fieldset(html, testid)
        assert fieldset.count('type="radio"') == 4
        assert "checked" not in fieldset
        assert "Yes: a possible adverse event" in fieldset and "No: neither" in fieldset


def test_an_answer_without_an_attestation_is_shown_again_with_the_text_kept(app, hcp, mi):
    question = ask(hcp)
    staff = client_for(app, mi)
    response = staff.post(f"/questions/{question.id}/reply", data={"body": "Use **10 mg** daily."})
    assert response.status_code == 200
    html = text_of(response)
    assert attestations.CHOOSE in html
    assert re.search(r"<textarea[^>]*>\s*Use \*\*10 mg\*\* daily.</textarea>", html)
    assert question.status is QuestionStatus.IN_PROGRESS
    assert question.entries == []


def test_an_answer_attesting_an_adverse_event_reaches_pv_and_compliance_sees_who_said_so(
    app, hcp, mi
):
    question = ask(hcp)
    staff = client_for(app, mi)
    replied = staff.post(
        f"/questions/{question.id}/reply",
        data={"body": "PV will call you about it.", "attestation": "adverse_event"},
    )
    assert replied.status_code == 302
    [case] = pv_cases_of(question)
    assert case.origin is CaseOrigin.ATTESTATION

    html = text_of(client_for(app, make_user(Role.COMPLIANCE)).get(f"/questions/{question.id}"))
    [line] = re.findall(r'data-testid="attestation">(.*?)</li>', html, re.S)
    assert "Mina Information" in line
    assert "adverse event: <strong>yes</strong>" in line
    assert "product complaint: <strong>no</strong>" in line
    assert f'href="/safety/cases/{case.id}">{case.reference}</a>' in line


def test_staff_close_a_question_only_with_an_attestation(app, hcp, mi):
    question = ask(hcp)
    staff = client_for(app, mi)
    refused = staff.post(f"/questions/{question.id}/close", data={"close-reason": "by phone"})
    assert refused.status_code == 200
    assert attestations.CHOOSE in text_of(refused)
    assert question.status is QuestionStatus.IN_PROGRESS
    closed = staff.post(
        f"/questions/{question.id}/close",
        data={"close-reason": "by phone", "close-attestation": "none"},
        follow_redirects=True,
    )
    assert f"Question {question.reference} is closed." in text_of(closed)
    assert question.status is QuestionStatus.CLOSED
    assert pv_cases_of(question) == []


def test_mi_reports_the_question_and_a_follow_up_to_pv_in_one_click(app, hcp, mi):
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=NOTHING)
    intake.follow_up(hcp, question.id, "Thanks, we will check the creatinine first.")
    [entry] = [e for e in question.entries if e.kind is EntryKind.FOLLOW_UP]
    staff = client_for(app, mi)
    html = text_of(staff.get(f"/questions/{question.id}"))
    assert html.count(f'action="/questions/{question.id}/report-pv"') == 2
    assert f'name="entry_id" value="{entry.id}"' in html

    first = text_of(staff.post(f"/questions/{question.id}/report-pv", follow_redirects=True))
    [case] = pv_cases_of(question)
    assert f"Reported to Pharmacovigilance as {case.reference}." in first
    again = text_of(staff.post(f"/questions/{question.id}/report-pv", follow_redirects=True))
    assert f"Pharmacovigilance already has these words as {case.reference}" in again
    followed = staff.post(f"/questions/{question.id}/report-pv", data={"entry_id": str(entry.id)})
    assert followed.status_code == 302
    assert sorted(c.entry_id or 0 for c in pv_cases_of(question)) == [0, entry.id]


def test_a_rep_reports_a_commercial_question_but_a_medical_one_does_not_exist(app, hcp, mi):
    rep = make_user(Role.REP, territories=[hcp.territory])
    commercial = ask(hcp, category="samples", text="Could I get starter samples please?")
    medical = ask(hcp)
    browser = client_for(app, rep)
    reported = text_of(browser.post(f"/questions/{commercial.id}/report-pv", follow_redirects=True))
    assert "Reported to Pharmacovigilance as PV-" in reported
    assert browser.post(f"/questions/{medical.id}/report-pv").status_code == 404
    assert pv_cases_of(medical) == []


@pytest.mark.parametrize("who", ["hcp", "compliance"])
def test_the_hcp_and_compliance_get_no_report_button_and_are_refused(app, hcp, mi, who):
    question = ask(hcp)
    user = hcp if who == "hcp" else make_user(Role.COMPLIANCE)
    browser = client_for(app, user)
    assert "/report-pv" not in text_of(browser.get(f"/questions/{question.id}"))
    refused = browser.post(f"/questions/{question.id}/report-pv", follow_redirects=True)
    assert refused.status_code == 200
    assert "alert-danger" in text_of(refused)
    assert pv_cases_of(question) == []


def test_my_questions_is_paged_newest_first_and_the_panel_counts_them_all(app, monkeypatch):
    monkeypatch.setattr(intake, "MY_QUESTIONS_PAGE_SIZE", 2)
    hcp = make_hcp(territory=make_territory())
    asked = [ask(hcp, now=utcnow() - dt.timedelta(minutes=10 - n)) for n in range(3)]
    client = client_for(app, hcp)

    first = client.get("/questions/").get_data(as_text=True)
    second = client.get("/questions/?page=2").get_data(as_text=True)
    beyond = client.get("/questions/?page=9").get_data(as_text=True)

    assert first.count('data-testid="question-row"') == 2 and "Page 1 of 2" in first
    assert asked[2].reference in first and asked[0].reference not in first
    assert second.count('data-testid="question-row"') == 1 and asked[0].reference in second
    assert asked[0].reference in beyond  # past the end: the last page
    assert intake.my_question_counts(hcp).open == 3
