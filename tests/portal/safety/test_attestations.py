"""People close the loop: attestations on answering and closing questions, on chats, and
colleagues' one-click reports to Pharmacovigilance (portal.safety.attestations)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from chat import consent
from chat.history import message_id_at
from chat.models import Conversation, Message
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Role, User, utcnow
from portal.questions import intake, work
from portal.questions.models import EntryKind, Question, QuestionEntry, QuestionStatus
from portal.safety import attestations
from portal.safety.attestations import Attestation
from portal.safety.models import (
    AttestationSubject,
    CaseOrigin,
    PvCase,
    PvCaseStatus,
    SafetyAttestation,
)
from tests.chat.factories import active_conversation, chat_pair, send
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.questions.factories import NOTHING, ask, notifications_of, pv_cases_of

AE = Attestation(adverse_event=True)
COMPLAINT = Attestation(adverse_event=False, product_complaint=True)
QUESTION_TEXT = "What is the recommended dose in renal impairment?"


@pytest.fixture
def hcp(app) -> User:
    return make_hcp(territory=make_territory(code="US-NE"))


@pytest.fixture
def mi(app) -> User:
    return make_user(Role.MEDICAL_INFORMATION, name="Mina Information")


def all_cases() -> list[PvCase]:
    return list(db.session.scalars(select(PvCase).order_by(PvCase.id)))


def attestation_rows() -> list[SafetyAttestation]:
    return list(db.session.scalars(select(SafetyAttestation).order_by(SafetyAttestation.id)))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


# --- answering and closing a question ------------------------------------------------------------
def test_an_answer_without_an_attestation_is_refused_and_nothing_changes(hcp, mi):
    question = ask(hcp)
    before = actions()
    with pytest.raises(InvalidInput) as refused:
        work.reply_to_question(mi, question.id, body="Use 10 mg.")
    assert refused.value.errors["attestation"] == attestations.CHOOSE
    db.session.expire_all()
    assert question.entries == []
    assert question.status is QuestionStatus.IN_PROGRESS
    assert actions() == before
    assert attestation_rows() == []


def test_an_empty_answer_without_an_attestation_names_both_problems(hcp, mi):
    question = ask(hcp)
    with pytest.raises(InvalidInput) as refused:
        work.reply_to_question(mi, question.id, body=" ")
    assert set(refused.value.errors) == {"body", "attestation"}


def test_staff_closing_without_an_attestation_is_refused_and_nothing_changes(hcp, mi):
    question = ask(hcp)
    with pytest.raises(InvalidInput) as refused:
        work.close_question(mi, question.id, reason="answered by phone")
    assert refused.value.field == "attestation"
    db.session.expire_all()
    assert question.status is QuestionStatus.IN_PROGRESS
    assert question.closed_at is None
    assert attestation_rows() == []


def test_the_hcp_closes_their_own_question_without_attesting(hcp, mi):
    question = ask(hcp)
    work.close_question(hcp, question.id)
    assert question.status is QuestionStatus.CLOSED
    assert attestation_rows() == []


def test_a_no_is_recorded_and_audited_with_the_answer_and_opens_no_case(hcp, mi):
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=NOTHING)

    [row] = attestation_rows()
    assert row.subject is AttestationSubject.QUESTION
    assert (row.question_id, row.actor_id) == (question.id, mi.id)
    assert (row.adverse_event, row.product_complaint, row.case_id) == (False, False, None)
    assert actions()[-2:] == ["question.reply", "safety.attest"]
    assert pv_cases_of(question) == []
    assert attestations.attestations_of_question(mi, question) == [row]


def test_a_yes_opens_one_case_with_the_question_and_its_follow_ups(hcp, mi):
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=NOTHING)
    intake.follow_up(hcp, question.id, "Thanks, we will check the creatinine first.")
    work.reply_to_question(mi, question.id, body="Good.", attestation=AE)
    work.close_question(mi, question.id, attestation=AE)  # said twice, one case

    [case] = pv_cases_of(question)
    assert case.origin is CaseOrigin.ATTESTATION
    assert case.reported_by_id == mi.id
    assert case.status is PvCaseStatus.OPEN
    assert QUESTION_TEXT in case.source_text
    assert "creatinine" in case.source_text
    assert case.created_at == question.created_at  # PV's clock runs from when we received it
    assert [r.case_id for r in attestation_rows()] == [None, case.id, case.id]
    assert actions().count("pv_case.open") == 1


def test_a_yes_on_words_pv_already_has_links_to_that_case(hcp, mi):
    question = ask(hcp, text="My patient was hospitalised after the first dose of it.")
    [detected] = pv_cases_of(question)
    work.reply_to_question(mi, question.id, body="PV will call you.", attestation=AE)
    assert pv_cases_of(question) == [detected]
    [row] = attestation_rows()
    assert row.case_id == detected.id


def test_a_product_complaint_marks_the_case_and_tells_quality(hcp, mi):
    quality = make_user(Role.QUALITY)
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Please keep the pack.", attestation=COMPLAINT)

    [case] = pv_cases_of(question)
    assert case.product_complaint
    [told] = [n for n in notifications_of(quality) if n.kind == "product_complaint"]
    assert question.reference in told.title
    assert QUESTION_TEXT not in told.title  # minimum necessary


def test_a_complaint_attested_on_a_case_pv_has_marks_it_and_tells_quality(hcp, mi):
    quality = make_user(Role.QUALITY)
    question = ask(hcp, text="My patient was hospitalised after the first dose of it.")
    [case] = pv_cases_of(question)
    assert not case.product_complaint
    both = Attestation(adverse_event=True, product_complaint=True)
    work.close_question(mi, question.id, attestation=both)
    assert case.product_complaint
    assert [n.kind for n in notifications_of(quality)] == ["product_complaint"]


def test_the_attestation_and_its_case_roll_back_with_the_answer(hcp, mi, monkeypatch):
    question = ask(hcp)
    audited = count(AuditRecord)

    def broken(*args, **kwargs):
        raise RuntimeError("the notification store is down")

    # The HCP is notified after the attestation: a failure there takes everything back.
    monkeypatch.setattr(work.notifications, "notify", broken)
    with pytest.raises(RuntimeError):
        work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=AE)
    db.session.rollback()
    assert attestation_rows() == []
    assert pv_cases_of(question) == []
    assert count(AuditRecord) == audited
    assert db.session.get(Question, question.id).status is QuestionStatus.IN_PROGRESS


# --- one-click reports: questions ----------------------------------------------------------------
def test_medical_information_reports_a_question_once(hcp, mi):
    pv = make_user(Role.PHARMACOVIGILANCE)
    question = ask(hcp)
    first = attestations.report_to_pv(mi, question_id=question.id, note="Sounds like a rash.")
    assert first.created
    case = first.case
    assert case.origin is CaseOrigin.STAFF_REPORT
    assert case.reported_by_id == mi.id
    assert case.source_text == question.text
    assert (case.source, case.source_ref) == ("question", question.reference)
    assert (case.question_id, case.entry_id, case.message_id) == (question.id, None, None)
    assert any("Sounds like a rash." in r for r in case.reasons)
    assert first.message == f"Reported to Pharmacovigilance as {case.reference}."
    assert [n.kind for n in notifications_of(pv)] == ["pv_case"]
    report = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "pv_case.report"))
    assert report is not None and report.target_id == str(case.id)
    assert "rash" not in str(report.details)  # the note stays with the case

    again = attestations.report_to_pv(make_user(Role.MEDICAL_INFORMATION), question_id=question.id)
    assert not again.created
    assert again.case.id == case.id
    assert "already has these words as" in again.message
    assert len(pv_cases_of(question)) == 1
    assert actions().count("pv_case.report") == 2


def test_a_rep_reports_a_commercial_question_they_can_read(hcp):
    rep = make_user(Role.REP, territories=[hcp.territory])
    question = ask(hcp, category="samples", text="Could I get starter samples please?")
    assert question.assignee_id == rep.id
    report = attestations.report_to_pv(rep, question_id=question.id)
    assert report.created and report.case.reported_by_id == rep.id


def test_a_follow_up_is_reported_as_itself(hcp, mi):
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=NOTHING)
    intake.follow_up(hcp, question.id, "Thanks, we will check the creatinine first.")
    [entry] = [e for e in question.entries if e.kind is EntryKind.FOLLOW_UP]

    report = attestations.report_to_pv(mi, question_id=question.id, entry_id=entry.id)
    case = report.case
    assert (case.source, case.entry_id, case.question_id) == ("follow_up", entry.id, question.id)
    assert case.source_text == entry.body
    assert case.created_at == entry.created_at
    # The question's own words are another source: reporting them opens their own case.
    assert attestations.report_to_pv(mi, question_id=question.id).created


def test_a_follow_up_of_another_question_is_not_found(hcp, mi):
    question, other = ask(hcp), ask(hcp)
    work.reply_to_question(mi, other.id, body="Use 10 mg.", attestation=NOTHING)
    intake.follow_up(hcp, other.id, "Thanks, we will check the creatinine first.")
    entry = db.session.scalar(select(QuestionEntry).where(QuestionEntry.question_id == other.id))
    assert entry is not None
    with pytest.raises(NotFound):
        attestations.report_to_pv(mi, question_id=question.id, entry_id=entry.id)


@pytest.mark.parametrize(
    ("who", "refusal"),
    [("rep", NotFound), ("hcp", PermissionDenied), ("compliance", PermissionDenied)],
)
def test_who_may_not_report_a_medical_question(hcp, mi, who, refusal):
    question = ask(hcp)  # a dosing question: medical
    actor = {
        "rep": lambda: make_user(Role.REP, territories=[hcp.territory]),
        "hcp": lambda: hcp,
        "compliance": lambda: make_user(Role.COMPLIANCE),
    }[who]()
    with pytest.raises(refusal):
        attestations.report_to_pv(actor, question_id=question.id)
    assert all_cases() == []


def test_a_report_names_one_source(hcp, mi):
    with pytest.raises(InvalidInput):
        attestations.report_to_pv(mi)
    with pytest.raises(InvalidInput):
        attestations.report_to_pv(mi, question_id=ask(hcp).id, message_id=1)


# --- one-click reports: chat ---------------------------------------------------------------------
@pytest.fixture
def chat_world(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello, a question about the titration schedule.")
    send(msl, conversation, "Happy to help.")
    return hcp, msl, conversation


def message_id(conversation: Conversation, seq: int) -> int:
    return message_id_at(conversation.staff, conversation.id, seq)


def test_the_msl_reports_an_hcp_message_once(chat_world):
    hcp, msl, conversation = chat_world
    report = attestations.report_to_pv(msl, message_id=message_id(conversation, 1))
    case = report.case
    assert report.created
    assert (case.source, case.source_ref) == ("chat", f"C-{conversation.id}#1")
    assert (case.conversation_id, case.message_id) == (conversation.id, message_id(conversation, 1))
    assert case.source_text == "Hello, a question about the titration schedule."
    assert case.reporter_id == hcp.id and case.reported_by_id == msl.id
    again = attestations.report_to_pv(msl, message_id=message_id(conversation, 1))
    assert not again.created and again.case.id == case.id
    # Their own message is reportable too (it may recount a phone call).
    assert attestations.report_to_pv(msl, message_id=message_id(conversation, 2)).created


def test_a_message_detection_flagged_is_already_pvs(chat_world):
    _hcp, msl, conversation = chat_world
    send(conversation.hcp, conversation, "My patient was hospitalised after the first dose.")
    [detected] = all_cases()
    report = attestations.report_to_pv(msl, message_id=message_id(conversation, 3))
    assert not report.created and report.case.id == detected.id


@pytest.mark.parametrize(
    ("who", "refusal"),
    [("outsider", NotFound), ("hcp", PermissionDenied), ("compliance", PermissionDenied)],
)
def test_who_may_not_report_a_chat_message(chat_world, who, refusal):
    hcp, _msl, conversation = chat_world
    actor = {
        "outsider": lambda: make_user(Role.MSL),
        "hcp": lambda: hcp,
        "compliance": lambda: make_user(Role.COMPLIANCE),
    }[who]()
    with pytest.raises(refusal):
        attestations.report_to_pv(actor, message_id=message_id(conversation, 1))
    assert all_cases() == []


# --- chat attestations ---------------------------------------------------------------------------
def test_an_ended_chat_waits_for_its_staff_attestation(chat_world):
    hcp, msl, conversation = chat_world
    assert attestations.conversations_awaiting_attestation(msl) == []
    consent.end_chat(hcp, conversation.id)

    assert attestations.conversations_awaiting_attestation(msl) == [conversation]
    assert attestations.attestation_due(msl, conversation.id)
    assert [n.kind for n in notifications_of(msl)] == ["safety_attestation"]
    assert "titration" not in notifications_of(msl)[0].title
    assert attestations.conversations_awaiting_attestation(hcp) == []
    assert attestations.conversations_awaiting_attestation(make_user(Role.MSL)) == []


def test_an_open_chat_waits_once_the_period_has_passed(chat_world):
    _hcp, msl, conversation = chat_world
    first = db.session.scalar(
        select(func.min(Message.sent_at)).where(Message.conversation_id == conversation.id)
    )
    assert first is not None
    week = dt.timedelta(days=7)
    almost, past = week - dt.timedelta(minutes=1), week + dt.timedelta(minutes=1)
    assert attestations.conversations_awaiting_attestation(msl, now=first + almost) == []
    later = first + past
    assert attestations.conversations_awaiting_attestation(msl, now=later) == [conversation]

    attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=2,
        now=later,
    )  # fmt: skip
    # Everything is attested: nothing is due, however long the chat stays open.
    assert attestations.conversations_awaiting_attestation(msl, now=later + 5 * week) == []
    with time_machine.travel(later + dt.timedelta(days=1), tick=False):
        send(conversation.hcp, conversation, "One more question about the dose.")
    # A week after the last attestation, what came since is due.
    assert attestations.conversations_awaiting_attestation(msl, now=later + almost) == []
    assert attestations.conversations_awaiting_attestation(msl, now=later + past) == [conversation]


def test_the_home_panel_lists_the_oldest_and_counts_them_all_in_one_statement(chat_world):
    hcp, msl, first = chat_world
    others = []
    for _ in range(3):
        colleague_hcp = make_hcp(territory=hcp.hcp_profile.territory)
        conversation = active_conversation(colleague_hcp, msl)
        send(colleague_hcp, conversation, "Hello")
        others.append((colleague_hcp, conversation))
    for who, conversation in [(hcp, first), *others]:
        consent.end_chat(who, conversation.id)

    listed, total = attestations.awaiting_attestation(msl, limit=2)
    assert [c.id for c in listed] == [first.id, others[0][1].id]  # oldest first
    assert total == 4
    assert attestations.awaiting_attestation(msl, limit=10)[1] == 4
    assert attestations.awaiting_attestation(make_user(Role.MSL), limit=2) == ([], 0)
    assert attestations.awaiting_attestation(hcp, limit=2) == ([], 0)


@pytest.mark.app_config(SAFETY_ATTESTATION_DAYS=1)
def test_the_period_is_configurable(chat_world):
    _hcp, msl, conversation = chat_world
    assert attestations.conversations_awaiting_attestation(
        msl, now=utcnow() + dt.timedelta(days=1, minutes=1)
    ) == [conversation]


def test_a_no_moves_the_mark_and_opens_no_case(chat_world):
    hcp, msl, conversation = chat_world
    consent.end_chat(hcp, conversation.id)
    row = attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=2
    )
    db.session.refresh(conversation)
    assert (conversation.attested_seq, conversation.attested_at) == (2, row.at)
    assert (row.subject, row.conversation_id, row.through_seq) == (
        AttestationSubject.CONVERSATION, conversation.id, 2,
    )  # fmt: skip
    assert row.case_id is None and all_cases() == []
    assert actions()[-1] == "safety.attest"
    assert attestations.conversations_awaiting_attestation(msl) == []
    assert attestations.attestations_of_conversation(make_user(Role.COMPLIANCE), conversation.id)


def test_a_yes_opens_a_case_with_the_hcps_messages_of_the_range(chat_world):
    hcp, msl, conversation = chat_world
    attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=2
    )
    send(hcp, conversation, "As I said on the phone, it happened again yesterday.")
    send(msl, conversation, "Thank you, I will pass this on.")
    consent.end_chat(hcp, conversation.id)

    row = attestations.attest_conversation(
        msl, conversation.id, adverse_event=True, product_complaint=False, through_seq=4
    )
    [case] = all_cases()
    assert row.case_id == case.id
    assert case.origin is CaseOrigin.ATTESTATION and case.reported_by_id == msl.id
    assert (case.source, case.conversation_id) == ("chat", conversation.id)
    assert case.source_ref == f"C-{conversation.id}#3-4"
    assert "it happened again yesterday" in case.source_text
    assert "titration" not in case.source_text  # attested before: not this range
    assert "pass this on" not in case.source_text  # the HCP's words only
    assert case.reporter_id == hcp.id


def test_stale_or_impossible_ranges_are_refused_and_nothing_changes(chat_world):
    _hcp, msl, conversation = chat_world
    attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=1
    )
    rows = len(attestation_rows())
    with pytest.raises(Conflict):  # a second window, or a reload of an old page
        attestations.attest_conversation(
            msl, conversation.id, adverse_event=True, product_complaint=False, through_seq=1
        )
    with pytest.raises(InvalidInput):
        attestations.attest_conversation(
            msl, conversation.id, adverse_event=True, product_complaint=False, through_seq=3
        )
    with pytest.raises(InvalidInput):
        attestations.attest_conversation(
            msl, conversation.id, adverse_event=True, product_complaint=False, through_seq="2"
        )
    db.session.refresh(conversation)
    assert conversation.attested_seq == 1
    assert len(attestation_rows()) == rows
    assert all_cases() == []


@pytest.mark.parametrize("who", ["hcp", "compliance", "outsider"])
def test_only_the_staff_participant_attests(chat_world, who):
    hcp, _msl, conversation = chat_world
    actor = {
        "hcp": lambda: hcp,
        "compliance": lambda: make_user(Role.COMPLIANCE),
        "outsider": lambda: make_user(Role.MSL),
    }[who]()
    with pytest.raises(NotFound):
        attestations.attest_conversation(
            actor, conversation.id, adverse_event=False, product_complaint=False, through_seq=2
        )
    with pytest.raises(NotFound):
        attestations.unattested_messages(actor, conversation.id)
    assert attestation_rows() == []


def test_the_attest_page_shows_what_comes_after_the_last_attestation(chat_world):
    _hcp, msl, conversation = chat_world
    attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=1
    )
    _conversation, messages = attestations.unattested_messages(msl, conversation.id)
    assert [m.seq for m in messages] == [2]
