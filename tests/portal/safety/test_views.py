"""Wiring of the PV workspace and the HCP's request pages: status codes, redirects (old URLs
included), what each page shows, flashes, the export's responses."""

from __future__ import annotations

import json
from html import unescape

import pytest
from babel.dates import format_datetime
from flask import Flask, url_for
from werkzeug.test import TestResponse

from chat import presence
from portal.extensions import db
from portal.models import Notification, Role, User
from portal.questions import intake
from portal.safety import follow_ups, services
from portal.safety.models import PvCase, PvCaseStatus
from tests.chat.factories import active_conversation, chat_pair, send
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.helpers import browser
from tests.portal.questions.factories import ask, pv_cases_of
from tests.portal.safety.factories import open_case, pv_officer

AE = "The patient died a week after the first dose."


def text_of(response: TestResponse) -> str:
    return unescape(response.get_data(as_text=True))


@pytest.fixture(autouse=True)
def _nobody_online(app):
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def hcp(app: Flask) -> User:
    make_user(Role.MEDICAL_INFORMATION)
    return make_hcp(territory=make_territory(), name="Dr. Ada Cole")


# --- the case list and the case ----------------------------------------------------------------
def test_pv_acknowledges_completes_and_closes_a_case(app, hcp):
    question = ask(hcp, text=AE)
    [case] = pv_cases_of(question)
    pv = browser(app, pv_officer())

    listed = text_of(pv.get("/safety/cases"))
    assert case.reference in listed and question.reference in listed
    page = text_of(pv.get(f"/safety/cases/{case.id}"))
    assert AE in page and 'data-testid="acknowledge"' in page

    early = pv.post(f"/safety/cases/{case.id}/close", follow_redirects=True)
    assert "Acknowledge the case before closing it." in text_of(early)
    acknowledged = pv.post(f"/safety/cases/{case.id}/acknowledge", follow_redirects=True)
    assert "acknowledged: the clock has stopped" in text_of(acknowledged)
    assert case.status is PvCaseStatus.ACKNOWLEDGED

    saved = pv.post(
        f"/safety/cases/{case.id}",
        data={
            "patient": "Retired teacher", "patient_initials": "R.T.", "patient_age": "70s",
            "patient_sex": "male", "reporter": hcp.name, "suspect_product": "Cardiovex 10 mg",
            "event": "Death", "seriousness": ["death", "hospitalisation"],
        },
        follow_redirects=True,
    )  # fmt: skip
    assert f"{case.reference} saved." in text_of(saved)
    assert case.serious is True and case.seriousness == ["death", "hospitalisation"]
    assert (case.patient_initials, case.patient_sex) == ("R.T.", "male")
    closed = pv.post(f"/safety/cases/{case.id}/close", follow_redirects=True)
    assert f"{case.reference} is closed." in text_of(closed)
    assert case.status is PvCaseStatus.CLOSED
    assert case.reference in text_of(pv.get("/safety/cases?status=closed"))


def test_a_bad_field_is_shown_on_the_form_with_the_text_kept(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    pv = browser(app, pv_officer())

    page = text_of(
        pv.post(
            f"/safety/cases/{case.id}",
            data={"patient_initials": "ABCDEFGHIJKLMNOPQ", "event": "Kept text"},
        )
    )
    assert "Initials only" in page and "Kept text" in page
    assert case.patient_initials == ""


def test_the_list_shows_day_zero_clock_product_and_source_and_filters(app, hcp):
    product = make_product(name="Cardiovex")
    question = ask(hcp, text=AE, product=product)
    [case] = pv_cases_of(question)
    pv = browser(app, pv_officer())

    page = text_of(pv.get("/safety/cases"))
    row = page[page.index(f'data-case-id="{case.id}"') :]
    row = row[: row.index("</tr>")]
    # Day zero, in the officer's zone and language (no choice, no browser cookie: UTC, English).
    assert format_datetime(case.created_at, "MMM d, y, h:mm\u202fa", locale="en") in row
    assert 'data-testid="clock"' in row and "left" in row
    assert "Cardiovex" in row
    assert f'href="/questions/{question.id}"' in row
    assert case.reference not in text_of(pv.get("/safety/cases?source=chat"))
    assert case.reference in text_of(pv.get("/safety/cases?source=question&origin=detected"))
    assert case.reference not in text_of(pv.get("/safety/cases?overdue=1"))


def test_the_list_pages_through_every_case(app, hcp):
    reporter = make_hcp()
    cases = [open_case(reporter=reporter) for _ in range(services.PAGE_SIZE + 2)]
    pv = browser(app, pv_officer())

    first = text_of(pv.get("/safety/cases"))
    second = text_of(pv.get("/safety/cases?page=2"))
    assert f"{len(cases)} cases · page 1 of 2" in first
    assert 'href="/safety/cases?status=open&amp;page=2"' in pv.get("/safety/cases").get_data(
        as_text=True
    )
    assert cases[-1].reference in second and cases[-1].reference not in first


def test_the_case_page_links_to_the_follow_up_and_shows_the_reporter(app, hcp):
    question = ask(hcp, text="What is the usual dose?")
    intake.follow_up(hcp, question.id, "Since the first dose my patient has had a severe rash.")
    [case] = pv_cases_of(question)
    pv = browser(app, pv_officer())

    page = text_of(pv.get(f"/safety/cases/{case.id}"))
    assert f'href="/questions/{question.id}#entry-{case.entry_id}"' in page
    assert "my patient has had a severe rash" in page
    assert hcp.email in page and hcp.hcp_profile.npi in page and "Physician" in page
    question_page = text_of(pv.get(f"/questions/{question.id}"))
    assert f'id="entry-{case.entry_id}"' in question_page  # the anchor exists


def test_compliance_reads_the_case_without_any_form(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    compliance = browser(app, make_user(Role.COMPLIANCE))

    page = text_of(compliance.get(f"/safety/cases/{case.id}"))
    assert AE in page and 'data-testid="read-only"' in page
    assert 'data-testid="pv-form"' not in page and 'data-testid="ask-form"' not in page
    assert compliance.post(f"/safety/cases/{case.id}/acknowledge").status_code == 302
    assert case.status is PvCaseStatus.OPEN  # refused (flashed), nothing changed


@pytest.mark.parametrize("role", [Role.MEDICAL_INFORMATION, Role.REP, Role.MSL, Role.HCP])
def test_the_workspace_does_not_exist_for_anyone_else(app, hcp, role):
    [case] = pv_cases_of(ask(hcp, text=AE))
    outsider = browser(app, make_hcp() if role is Role.HCP else make_user(role))

    for path in (
        "/safety/cases",
        f"/safety/cases/{case.id}",
        "/safety/cases/export.csv?since=2026-01-01&until=2026-12-31",
    ):
        assert outsider.get(path).status_code == 404
    assert outsider.post(f"/safety/cases/{case.id}/acknowledge").status_code == 404
    assert (
        outsider.post(f"/safety/cases/{case.id}/follow-ups", data={"ask-body": "Hi"}).status_code
        == 404
    )
    assert case.status is PvCaseStatus.OPEN and case.follow_ups == []


# --- the old URLs ------------------------------------------------------------------------------
def test_the_old_urls_redirect_to_the_workspace(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    pv = browser(app, pv_officer())

    for old, new, code in [
        ("/questions/pv", "/safety/cases", 301),
        ("/questions/pv?status=closed", "/safety/cases?status=closed", 301),
        (f"/questions/pv/{case.id}", f"/safety/cases/{case.id}", 301),
    ]:
        response = pv.get(old)
        assert (response.status_code, response.headers["Location"]) == (code, new)
    for old, new in [
        (f"/questions/pv/{case.id}/acknowledge", f"/safety/cases/{case.id}/acknowledge"),
        (f"/questions/pv/{case.id}/close", f"/safety/cases/{case.id}/close"),
        (f"/questions/pv/{case.id}", f"/safety/cases/{case.id}"),
    ]:
        response = pv.post(old)
        assert (response.status_code, response.headers["Location"]) == (308, new)
    assert pv.post(f"/questions/pv/{case.id}/acknowledge", follow_redirects=True).status_code == 200
    assert case.status is PvCaseStatus.ACKNOWLEDGED


def test_old_endpoint_names_and_stored_notifications_still_lead_to_the_case(app, hcp):
    pv_user = pv_officer()
    [case] = pv_cases_of(ask(hcp, text=AE))
    with app.test_request_context():
        assert url_for("questions.pv_case", case_id=case.id) == f"/questions/pv/{case.id}"
        assert url_for("questions.pv_cases") == "/questions/pv"
    old = Notification(
        user_id=pv_user.id, kind="pv_case", title="old", url=f"/questions/pv/{case.id}"
    )
    db.session.add(old)
    db.session.commit()
    pv = browser(app, pv_user)

    opened = pv.post(f"/notifications/{old.id}", follow_redirects=True)
    assert opened.status_code == 200 and AE in text_of(opened)


# --- follow-ups through the pages ---------------------------------------------------------------
def test_pv_asks_the_hcp_answers_on_their_page_and_pv_reads_it(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    pv = browser(app, pv_officer())

    sent = pv.post(
        f"/safety/cases/{case.id}/follow-ups",
        data={"ask-body": "Was an autopsy done?"},
        follow_redirects=True,
    )
    assert "Question sent." in text_of(sent)
    [asked] = case.follow_ups

    doctor = browser(app, hcp)
    home = text_of(doctor.get("/"))
    assert 'data-testid="pv-requests-panel"' in home and "1 question" in home
    listing = text_of(doctor.get("/safety/requests"))
    assert f'href="/safety/requests/{asked.id}"' in listing
    request_page = text_of(doctor.get(f"/safety/requests/{asked.id}"))
    assert "Was an autopsy done?" in request_page
    for secret in (case.reference, AE, *case.reasons):  # never the case, its words or reasons
        assert secret not in listing and secret not in request_page
    answered = doctor.post(
        f"/safety/requests/{asked.id}", data={"answer": "No autopsy."}, follow_redirects=True
    )
    assert "your answer was sent to Pharmacovigilance" in text_of(answered)
    assert "No autopsy." in text_of(answered) and 'data-testid="answer-form"' not in text_of(
        answered
    )

    assert "No autopsy." in text_of(pv.get(f"/safety/cases/{case.id}"))


def test_a_blank_question_or_answer_is_shown_on_its_form(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    pv = browser(app, pv_officer())
    assert "Write your question." in text_of(
        pv.post(f"/safety/cases/{case.id}/follow-ups", data={"ask-body": " "})
    )
    asked = follow_ups.ask_follow_up(pv_officer(), case.id, "Age?")
    assert "Write your answer." in text_of(
        browser(app, hcp).post(f"/safety/requests/{asked.id}", data={"answer": ""})
    )


def test_another_hcp_and_staff_get_404_on_a_request(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    asked = follow_ups.ask_follow_up(pv_officer(), case.id, "Age?")

    for user in (make_hcp(), make_user(Role.PHARMACOVIGILANCE), make_user(Role.COMPLIANCE)):
        other = browser(app, user)
        assert other.get(f"/safety/requests/{asked.id}").status_code == 404
        assert other.post(f"/safety/requests/{asked.id}", data={"answer": "x"}).status_code == 404
    assert browser(app, make_user(Role.MSL)).get("/safety/requests").status_code == 404
    assert asked.answer is None


# --- the export ----------------------------------------------------------------------------------
def test_the_export_downloads_csv_and_json(app, hcp):
    [case] = pv_cases_of(ask(hcp, text=AE))
    pv = browser(app, pv_officer())
    day = case.created_at.date().isoformat()

    as_csv = pv.get(f"/safety/cases/export.csv?since={day}&until={day}")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"] == (
        f'attachment; filename="pv-cases-{day}-to-{day}.csv"'
    )
    assert case.reference in as_csv.get_data(as_text=True)
    as_json = pv.get(f"/safety/cases/export.json?since={day}&until={day}")
    assert as_json.mimetype == "application/json"
    document = json.loads(as_json.get_data(as_text=True))
    assert [c["case_id"] for c in document["cases"]] == [case.reference]


@pytest.mark.parametrize(
    "query", ["", "?since=2026-13-01&until=2026-12-31", "?since=2026-05-01&until=2026-04-01"]
)
def test_a_bad_export_range_is_a_400_with_a_message(app, query):
    pv = browser(app, pv_officer())

    as_csv = pv.get(f"/safety/cases/export.csv{query}")
    assert as_csv.status_code == 400
    assert "since" in text_of(as_csv)
    as_json = pv.get(f"/safety/cases/export.json{query}")
    assert as_json.status_code == 400
    assert as_json.get_json()["error"] == "invalid" and as_json.get_json()["message"]


# --- the chat transcript, for PV ----------------------------------------------------------------
def test_pv_reads_the_transcript_of_a_conversation_a_case_came_from(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")
    send(hcp, conversation, "My patient developed a rash after the first dose.")
    case = db.session.scalar(db.select(PvCase))
    pv = browser(app, pv_officer())

    page = text_of(pv.get(f"/safety/cases/{case.id}"))
    assert f'href="/compliance/chats/{conversation.id}#seq-2"' in page
    transcript = text_of(pv.get(f"/compliance/chats/{conversation.id}"))
    assert 'id="seq-2"' in transcript and "developed a rash" in transcript
    assert f'href="/safety/cases/{case.id}"' in transcript  # the message's case
    assert 'data-testid="pv-breadcrumb"' in transcript
    assert "Restricted phrases" not in transcript  # compliance's navigation is not PV's


def test_pv_cannot_read_a_conversation_no_case_came_from(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    quiet = active_conversation(hcp, msl)
    send(hcp, quiet, "Hello")
    pv = browser(app, pv_officer())

    assert pv.get(f"/compliance/chats/{quiet.id}").status_code == 404
    assert pv.get("/compliance/chats/").status_code == 404  # no list of every conversation
