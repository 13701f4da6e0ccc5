"""PV asks the reporting HCP through the portal; the HCP, and only that HCP, answers there."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import OutboxMail, Role, User
from portal.safety import follow_ups, services
from portal.safety.models import PvFollowUp
from tests.factories import make_hcp, make_user
from tests.portal.safety.factories import audit_of, notifications_of, open_case, pv_officer

QUESTION = "How old is the patient, and did the rash resolve?"


def mails_to(user: User) -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == user.email)))


def follow_up_count() -> int:
    return len(db.session.scalars(select(PvFollowUp)).all())


def test_pv_asks_the_hcp_who_is_told_without_the_text(app):
    pv = pv_officer()
    hcp = make_hcp()
    case = open_case(reporter=hcp, text="My patient developed a severe rash on Cardiovex.")

    asked = follow_ups.ask_follow_up(pv, case.id, f"  {QUESTION}  ")

    assert (asked.body, asked.hcp_id, asked.author_id, asked.case_id) == (
        QUESTION,
        hcp.id,
        pv.id,
        case.id,
    )
    [note] = notifications_of(hcp)
    assert note.title == "Pharmacovigilance has a question about your report"
    assert note.url == f"/safety/requests/{asked.id}"
    [mail] = mails_to(hcp)
    assert mail.subject == "Pharmacovigilance has a question about your report"
    for text in (mail.subject, mail.body):  # minimum necessary: no question, no case
        assert QUESTION not in text and "rash" not in text and case.reference not in text
    [record] = audit_of("pv_follow_up.ask")
    assert record.actor_id == pv.id and record.details == {"case": case.id, "hcp": hcp.id}


def test_compliance_reads_cases_but_asks_nobody(app):
    case = open_case()

    with pytest.raises(PermissionDenied):
        follow_ups.ask_follow_up(make_user(Role.COMPLIANCE), case.id, QUESTION)
    assert follow_up_count() == 0


@pytest.mark.parametrize("role", [Role.MEDICAL_INFORMATION, Role.REP, Role.MSL, Role.HCP])
def test_nobody_else_even_finds_the_case(app, role):
    case = open_case()
    outsider = make_hcp() if role is Role.HCP else make_user(role)

    with pytest.raises(NotFound):
        follow_ups.ask_follow_up(outsider, case.id, QUESTION)
    assert follow_up_count() == 0


def test_a_case_whose_words_a_colleague_wrote_cannot_be_asked_through_the_portal(app):
    case = open_case(reporter=make_user(Role.MSL))

    with pytest.raises(PermissionDenied):
        follow_ups.ask_follow_up(pv_officer(), case.id, QUESTION)


def test_a_closed_case_asks_nothing_and_a_blank_question_is_refused(app):
    pv = pv_officer()
    case = open_case()
    with pytest.raises(InvalidInput) as blank:
        follow_ups.ask_follow_up(pv, case.id, "   ")
    assert "body" in blank.value.errors
    services.acknowledge_pv_case(pv, case.id)
    services.update_pv_case(
        pv,
        case.id,
        services.PvCaseInput(patient="Adult", reporter="Dr", suspect_product="X", event="Rash"),
    )
    services.close_pv_case(pv, case.id)

    with pytest.raises(PermissionDenied):
        follow_ups.ask_follow_up(pv, case.id, QUESTION)
    assert follow_up_count() == 0


def test_the_hcp_sees_their_requests_and_answers_once(app):
    pv = pv_officer()
    hcp = make_hcp()
    asked = follow_ups.ask_follow_up(pv, open_case(reporter=hcp).id, QUESTION)
    other = follow_ups.ask_follow_up(pv, open_case(reporter=hcp).id, "Which batch?")

    assert [f.id for f in follow_ups.my_requests(hcp)] == [other.id, asked.id]
    assert follow_ups.count_waiting(hcp) == 2

    follow_ups.answer_follow_up(hcp, asked.id, "She is 54; the rash resolved in a week.")

    assert asked.answer == "She is 54; the rash resolved in a week." and asked.answered_at
    assert [f.id for f in follow_ups.my_requests(hcp)] == [other.id, asked.id]  # waiting first
    assert follow_ups.count_waiting(hcp) == 1
    [record] = audit_of("pv_follow_up.answer")
    assert record.actor_id == hcp.id and record.target_id == str(asked.id)
    assert [n.url for n in notifications_of(pv) if n.kind == "pv_follow_up_answer"] == [
        f"/safety/cases/{asked.case_id}"
    ]
    with pytest.raises(InvalidInput):
        follow_ups.answer_follow_up(hcp, asked.id, "Changed my mind")
    assert asked.answer == "She is 54; the rash resolved in a week."
    assert len(audit_of("pv_follow_up.answer")) == 1


def test_another_hcp_finds_nothing(app):
    asked = follow_ups.ask_follow_up(pv_officer(), open_case(reporter=make_hcp()).id, QUESTION)
    intruder = make_hcp()

    with pytest.raises(NotFound):
        follow_ups.get_request(intruder, asked.id)
    with pytest.raises(NotFound):
        follow_ups.answer_follow_up(intruder, asked.id, "Not mine")
    assert follow_ups.my_requests(intruder) == []
    assert asked.answer is None


@pytest.mark.parametrize("role", [Role.PHARMACOVIGILANCE, Role.COMPLIANCE, Role.MSL])
def test_staff_have_no_request_pages(app, role):
    asked = follow_ups.ask_follow_up(pv_officer(), open_case().id, QUESTION)
    staff = make_user(role)

    with pytest.raises(NotFound):
        follow_ups.my_requests(staff)
    with pytest.raises(NotFound):
        follow_ups.get_request(staff, asked.id)
    assert follow_ups.count_waiting(staff) == 0


def test_a_blank_answer_is_refused(app):
    hcp = make_hcp()
    asked = follow_ups.ask_follow_up(pv_officer(), open_case(reporter=hcp).id, QUESTION)

    with pytest.raises(InvalidInput) as blank:
        follow_ups.answer_follow_up(hcp, asked.id, " \n ")
    assert "answer" in blank.value.errors and asked.answered_at is None
