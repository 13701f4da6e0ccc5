"""The question services: asking, routing as stored, working the queue, PV cases, the clock."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import OutboxMail, Role, Side, TeamKey, Verification
from portal.questions import intake, routing, sweeps, thread, work
from portal.questions.models import (
    EntryKind,
    Holiday,
    Question,
    QuestionEventKind,
    QuestionStatus,
)
from portal.safety import services as safety
from portal.safety.models import PvCaseStatus
from portal.services import mail
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import (
    NOTHING,
    ask,
    mail_to,
    notifications_of,
    pv_cases_of,
    question_audit,
)

FRIDAY_EVENING = dt.datetime(2026, 11, 27, 22, 0, tzinfo=dt.UTC)  # 17:00 in New York


@pytest.fixture
def hcp(app):
    return make_hcp(territory=make_territory(code="US-NE"))


@pytest.fixture
def mi(app):
    return make_user(Role.MEDICAL_INFORMATION, name="Mina Information")


# --- asking ------------------------------------------------------------------------------------
def test_a_question_is_routed_stored_with_its_reasons_and_assigned(hcp, mi):
    question = ask(hcp)

    assert question.owner_team is TeamKey.MEDICAL_INFORMATION
    assert question.assignee_id == mi.id
    assert question.status is QuestionStatus.IN_PROGRESS
    assert question.routing["teams"] == ["medical_information"]
    assert any("default team" in r for r in question.reasons)
    assert [e.kind for e in question.events] == [
        QuestionEventKind.RECEIVED,
        QuestionEventKind.ROUTED,
        QuestionEventKind.ASSIGNED,
    ]
    assert question_audit(question) == ["question.submit"]
    assert question.consent_wording.text.startswith("I agree")


def test_every_bad_field_is_reported_at_once_and_nothing_is_stored(hcp):
    with pytest.raises(InvalidInput) as refused:
        ask(
            hcp,
            text="short",
            category="gossip",
            channel="fax",
            urgency="yesterday",
            product_id=999_999,
            consent=False,
        )
    assert set(refused.value.errors) == {
        "text", "category", "channel", "urgency", "product_id", "consent",
    }  # fmt: skip
    assert db.session.scalar(select(Question.id)) is None


def test_text_longer_than_the_limit_is_refused_with_the_count(hcp):
    with pytest.raises(InvalidInput) as refused:
        ask(hcp, text="x" * 4001)
    assert "4,001" in refused.value.errors["text"]


def test_a_changed_consent_wording_must_be_read_again(hcp):
    with pytest.raises(InvalidInput) as refused:
        ask(hcp, consent_wording_id=12345)
    assert "changed" in refused.value.errors["consent"]


def test_chat_is_not_a_reply_channel_without_a_chat_opt_in(hcp):
    with pytest.raises(InvalidInput) as refused:
        ask(hcp, channel="chat")
    assert "opted in" in refused.value.errors["channel"]


@pytest.mark.parametrize("verification", [Verification.PENDING, Verification.REJECTED])
def test_only_verified_hcps_may_ask(app, verification):
    with pytest.raises(PermissionDenied):
        ask(make_hcp(verification=verification))


def test_staff_cannot_ask_questions(app):
    with pytest.raises(PermissionDenied):
        ask(make_user(Role.REP))


def test_a_question_is_never_lost_when_routing_fails(hcp, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("rules table unreadable")

    monkeypatch.setattr(routing, "route", broken)
    question = ask(hcp)

    assert question.id is not None
    assert question.teams == [TeamKey.MEDICAL_INFORMATION, TeamKey.PHARMACOVIGILANCE]
    assert "routing failed" in question.reasons[0]
    assert len(pv_cases_of(question)) == 1


def test_a_possible_adverse_event_opens_a_pv_case_on_a_one_day_clock(hcp, mi):
    pv = make_user(Role.PHARMACOVIGILANCE)
    product = make_product(name="Cardiovex")
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        question = ask(
            hcp, text="My patient was hospitalised after the first dose.", product=product
        )

    assert question.teams == [TeamKey.MEDICAL_INFORMATION, TeamKey.PHARMACOVIGILANCE]
    assert question.ae_flag
    [case] = pv_cases_of(question)
    assert case.status is PvCaseStatus.OPEN
    assert case.source_text == question.text
    assert case.reporter == hcp.name
    assert case.suspect_product == "Cardiovex"
    assert set(case.missing_elements) == {"patient", "event"}
    # Received Friday 17:00 New York time: one business day is the end of Monday.
    assert case.due_at == dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)
    assert [n.kind for n in notifications_of(pv)] == ["pv_case"]


def test_due_time_skips_configured_holidays(hcp, mi):
    db.session.add(Holiday(day=dt.date(2026, 11, 30), name="Company day"))
    db.session.commit()
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        question = ask(hcp, category="adverse_event", text="Patient reaction after the dose.")
    assert question.due_at == dt.datetime(2026, 12, 1, 22, 0, tzinfo=dt.UTC)


def test_the_assignee_is_notified_and_the_email_carries_no_question_text(hcp, mi):
    secret = "dose in renal impairment for my patient Jane"
    ask(hcp, text=secret)

    [note] = notifications_of(mi)
    assert note.kind == "question_new"
    [sent] = mail_to(mi)
    assert "Jane" not in sent.body and "renal" not in sent.body
    assert "Jane" not in note.title
    assert "/questions/" in sent.body


def test_without_anyone_on_the_team_the_whole_team_queue_is_notified(hcp):
    # Market access works by territory; nobody covers US-NE, so it waits in the queue.
    colleague = make_user(Role.MARKET_ACCESS)
    question = ask(hcp, category="access", text="Which co-pay programme applies here?")
    assert question.assignee_id is None
    assert question.status is QuestionStatus.RECEIVED
    assert [n.kind for n in notifications_of(colleague)] == ["question_new"]


# --- the staff side ----------------------------------------------------------------------------
def test_claim_reply_and_close_write_the_history_and_the_audit_trail(hcp, mi):
    colleague = make_user(Role.MEDICAL_INFORMATION)
    question = ask(hcp)
    work.claim_question(colleague, question.id)
    work.reply_to_question(
        colleague, question.id, body="**Yes**, see section 4.2.", attestation=NOTHING
    )
    work.close_question(colleague, question.id, reason="answered", attestation=NOTHING)

    assert question.status is QuestionStatus.CLOSED
    assert question.assignee_id == colleague.id
    [reply] = [e for e in question.entries if e.kind is EntryKind.REPLY]
    assert reply.body == "<p><strong>Yes</strong>, see section 4.2.</p>\n"
    assert question_audit(question) == [
        "question.submit", "question.claim", "question.reply", "question.close",
    ]  # fmt: skip
    assert [n.kind for n in notifications_of(hcp)] == ["question_answered"]
    [answered] = mail_to(hcp)
    assert "section 4.2" not in answered.body


def test_reply_html_is_sanitised(hcp, mi):
    question = ask(hcp)
    entry = work.reply_to_question(
        mi,
        question.id,
        body="<script>alert(1)</script>[x](javascript:alert(1)) ok",
        attestation=NOTHING,
    )
    assert "<script" not in entry.body
    assert "href" not in entry.body
    assert entry.body.endswith(" ok</p>\n")


def test_someone_outside_the_owning_team_cannot_work_the_question(hcp, mi):
    question = ask(hcp)
    msl = make_user(Role.MSL)
    with pytest.raises(PermissionDenied):
        work.reply_to_question(msl, question.id, body="Hello", attestation=NOTHING)
    with pytest.raises(PermissionDenied):
        work.claim_question(msl, question.id)


def test_medical_staff_attach_medical_material_and_reps_only_promotional(hcp):
    medical = make_material(classification="medical")
    promotional = make_material(classification="promotional")
    rep = make_user(
        Role.REP, territories=[hcp.territory], products=[medical.product, promotional.product]
    )
    question = ask(hcp, category="samples", text="Could I get starter samples please?")
    assert question.assignee_id == rep.id

    with pytest.raises(InvalidInput):
        work.reply_to_question(
            rep, question.id, body="See this", material_ids=[medical.id], attestation=NOTHING
        )
    entry = work.reply_to_question(
        rep, question.id, body="See this", material_ids=[promotional.id], attestation=NOTHING
    )
    assert [a.material_id for a in entry.attachments] == [promotional.id]


def test_a_rep_cannot_attach_material_for_europe_or_an_uncovered_product(hcp):
    covered = make_product()
    rep = make_user(Role.REP, territories=[hcp.territory], products=[covered])
    for_europe = make_material(product=covered, countries=["DE", "FR"])
    uncovered = make_material()
    question = ask(hcp, category="samples", text="Could I get starter samples please?")

    assert work.shareable_materials(rep, question) == []
    for material, reason in (
        (for_europe, "not meant for their profession, specialty or country"),
        (uncovered, "a product you do not cover"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            work.reply_to_question(
                rep, question.id, body="See this", material_ids=[material.id],
                attestation=NOTHING,
            )  # fmt: skip
    assert question.answered_at is None


def test_the_attachment_list_is_empty_for_someone_who_cannot_work_the_question(hcp, mi):
    make_material(classification="medical")
    question = ask(hcp)

    assert work.shareable_materials(mi, question) != []
    assert work.shareable_materials(make_user(Role.COMPLIANCE), question) == []


def test_a_withdrawn_attachment_shows_as_unavailable(hcp, mi):
    from content import services as content_services
    from tests.content.factories import make_reviewer

    material = make_material(classification="medical")
    question = ask(hcp)
    entry = work.reply_to_question(
        mi, question.id, body="Here", material_ids=[material.id], attestation=NOTHING
    )
    assert thread.attachments_for(hcp, entry) == [(material, True)]

    content_services.withdraw_material(make_reviewer(), material, reason="outdated")
    assert thread.attachments_for(hcp, entry) == [(material, False)]


def test_internal_notes_stay_on_their_side_of_the_firewall(hcp, mi):
    rep = make_user(Role.REP, territories=[hcp.territory])
    question = ask(hcp, category="samples", text="Could I get starter samples please?")
    work.add_note(mi, question.id, body="Medical view: check the renal status first.")
    work.add_note(rep, question.id, body="Samples shipped last month.")

    def notes(viewer):
        shown = thread.visible_entries(viewer, question)
        return [e.body for e in shown if e.kind is EntryKind.NOTE]

    assert notes(rep) == ["Samples shipped last month."]
    assert notes(mi) == ["Medical view: check the renal status first."]
    assert len(notes(make_user(Role.COMPLIANCE))) == 2
    assert notes(hcp) == []
    assert {e.side for e in question.entries} == {Side.MEDICAL, Side.COMMERCIAL}


def test_reassigning_needs_a_reason_and_moves_the_question(hcp, mi):
    msl = make_user(Role.MSL, territories=[hcp.territory])
    question = ask(hcp)
    with pytest.raises(InvalidInput):
        work.reassign_question(mi, question.id, to_team="msl", reason=" ")
    work.reassign_question(mi, question.id, to_team="msl", reason="Needs a field visit")

    assert question.owner_team is TeamKey.MSL
    assert question.assignee_id == msl.id
    assert question.teams[0] is TeamKey.MSL
    assert any("Needs a field visit" in r for r in question.reasons)
    assert question_audit(question)[-1] == "question.reassign"


@pytest.mark.parametrize("to_team", ["sales", "market_access"])
def test_a_medical_question_is_never_reassigned_to_a_commercial_team(hcp, mi, to_team):
    question = ask(hcp)
    with pytest.raises(InvalidInput):
        work.reassign_question(mi, question.id, to_team=to_team, reason="Not mine")
    assert question.owner_team is TeamKey.MEDICAL_INFORMATION


def test_an_off_label_samples_question_cannot_go_back_to_sales(hcp, mi):
    question = ask(hcp, category="samples", text="Samples for off-label use in children please")
    assert question.owner_team is TeamKey.MEDICAL_INFORMATION
    with pytest.raises(InvalidInput):
        work.reassign_question(mi, question.id, to_team="sales", reason="It says samples")


def test_escalation_goes_to_the_team_lead(hcp, mi):
    lead = make_user(Role.MEDICAL_INFORMATION)
    lead.memberships[0].is_lead = True
    db.session.commit()
    question = ask(hcp)
    work.escalate_question(mi, question.id, reason="Complex renal case")

    assert question.assignee_id == lead.id
    assert question.escalated_at is not None
    assert [n.kind for n in notifications_of(lead)] == ["question_escalated"]
    with pytest.raises(PermissionDenied):
        work.escalate_question(mi, question.id, reason="again")


def test_escalation_without_a_lead_says_so(hcp, mi):
    question = ask(hcp)
    with pytest.raises(InvalidInput) as refused:
        work.escalate_question(mi, question.id, reason="Complex")
    assert "no team lead" in refused.value.message


def test_compliance_reads_but_cannot_work(hcp, mi):
    auditor = make_user(Role.COMPLIANCE)
    question = ask(hcp)
    assert thread.get_question(auditor, question.id) is question
    with pytest.raises(PermissionDenied):
        work.add_note(auditor, question.id, body="A note from compliance")
    with pytest.raises(PermissionDenied):
        work.close_question(auditor, question.id, attestation=NOTHING)


# --- the HCP side --------------------------------------------------------------------------------
def test_hcp_a_cannot_open_hcp_b_question(hcp, mi):
    question = ask(hcp)
    other = make_hcp()
    with pytest.raises(NotFound):
        thread.get_question(other, question.id)
    with pytest.raises(NotFound):
        intake.follow_up(other, question.id, "Let me add something to it")


def test_a_follow_up_puts_the_question_back_and_may_open_a_pv_case(hcp, mi):
    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Use 10 mg.", attestation=NOTHING)
    intake.follow_up(hcp, question.id, "Thanks. Since then the patient developed a rash.")

    assert question.status is QuestionStatus.IN_PROGRESS
    assert question.ae_flag
    [case] = pv_cases_of(question)
    assert case.source == "follow_up"
    assert "rash" in case.source_text
    assert [n.kind for n in notifications_of(mi)] == ["question_new", "question_follow_up"]


def test_timeline_reads_received_with_team_answered_closed(hcp, mi):
    question = ask(hcp)
    steps = intake.timeline(question)
    assert [s.label for s in steps] == [
        "Received", "With Medical Information", "Answered", "Closed",
    ]  # fmt: skip
    assert [s.done for s in steps] == [True, True, False, False]
    work.reply_to_question(mi, question.id, body="Answer", attestation=NOTHING)
    intake.rate_answer(hcp, question.id, helpful=False)
    work.close_question(hcp, question.id)
    assert [s.done for s in intake.timeline(question)] == [True, True, True, True]
    assert question.helpful is False


def test_rating_needs_an_answer(hcp, mi):
    question = ask(hcp)
    with pytest.raises(PermissionDenied):
        intake.rate_answer(hcp, question.id, helpful=True)


def test_a_closed_question_takes_no_follow_up(hcp, mi):
    question = ask(hcp)
    work.close_question(hcp, question.id)
    with pytest.raises(PermissionDenied):
        intake.follow_up(hcp, question.id, "One more thing about it")


# --- queues ---------------------------------------------------------------------------------------
def test_queue_is_sorted_by_due_time_and_respects_the_firewall(hcp, mi):
    rep = make_user(Role.REP, territories=[hcp.territory])
    now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    late = ask(hcp, now=now - dt.timedelta(days=10))
    soon = ask(hcp, now=now)
    samples = ask(hcp, category="samples", text="Could I get starter samples please?", now=now)

    assert [q.id for q in work.queue(mi, view="mine")] == [late.id, soon.id]
    assert late.is_overdue(now) and not soon.is_overdue(now)
    assert [q.id for q in work.queue(rep, view="mine")] == [samples.id]
    assert [q.id for q in work.queue(rep, view="all")] == [samples.id]
    assert {q.id for q in work.queue(mi, view="all")} == {late.id, soon.id, samples.id}


def test_people_without_a_queue_get_not_found(app):
    with pytest.raises(NotFound):
        work.queue(make_user(Role.CONTENT_MANAGER))


# --- PV cases -----------------------------------------------------------------------------------
def test_acknowledging_stops_the_clock_and_closing_needs_four_elements(hcp, mi):
    pv = make_user(Role.PHARMACOVIGILANCE)
    question = ask(hcp, text="The patient died a week after the first dose.")
    [case] = pv_cases_of(question)
    with pytest.raises(InvalidInput):
        safety.close_pv_case(pv, case.id)
    safety.acknowledge_pv_case(pv, case.id)
    assert case.status is PvCaseStatus.ACKNOWLEDGED
    assert not case.is_overdue(case.due_at + dt.timedelta(days=5))
    with pytest.raises(InvalidInput) as missing:
        safety.close_pv_case(pv, case.id)
    assert "patient" in missing.value.message

    safety.update_pv_case(
        pv,
        case.id,
        safety.PvCaseInput(
            patient="Male, 70s", reporter=hcp.name, suspect_product="Cardiovex", event="Death",
            seriousness=["death"],
        ),
    )  # fmt: skip
    safety.close_pv_case(pv, case.id)
    assert case.status is PvCaseStatus.CLOSED


@pytest.mark.parametrize(
    "role", [Role.REP, Role.MARKET_ACCESS, Role.MSL, Role.MEDICAL_INFORMATION, Role.ADMIN]
)
def test_only_pv_and_compliance_open_pv_cases(hcp, mi, role):
    question = ask(hcp, text="The patient had an overdose.")
    [case] = pv_cases_of(question)
    with pytest.raises(NotFound):
        safety.get_pv_case(make_user(role), case.id)
    assert safety.get_pv_case(make_user(Role.COMPLIANCE), case.id) is case


# --- the clock ----------------------------------------------------------------------------------
def test_sweep_tells_the_assignee_once_when_a_question_goes_overdue(hcp, mi):
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        question = ask(hcp)
    assert sweeps.sweep_overdue(now=question.due_at - dt.timedelta(minutes=1)) == {
        "questions": 0, "pv_cases": 0,
    }  # fmt: skip
    later = question.due_at + dt.timedelta(minutes=1)
    assert sweeps.sweep_overdue(now=later)["questions"] == 1
    assert sweeps.sweep_overdue(now=later + dt.timedelta(hours=1))["questions"] == 0
    assert [n.kind for n in notifications_of(mi)] == ["question_new", "question_overdue"]
    assert question_audit(question)[-1] == "question.overdue"


def test_sweep_flags_unacknowledged_pv_cases(hcp, mi):
    pv = make_user(Role.PHARMACOVIGILANCE)
    question = ask(hcp, text="Pregnant patient exposed in the first trimester.")
    [case] = pv_cases_of(question)
    assert sweeps.sweep_overdue(now=case.due_at + dt.timedelta(hours=1))["pv_cases"] == 1
    assert [n.kind for n in notifications_of(pv)] == ["pv_case", "pv_case_overdue"]


def test_the_answer_email_is_retried_until_the_mail_server_takes_it(hcp, mi, app):
    from tests.portal.services.test_mail import free_port, use_smtp

    question = ask(hcp)
    work.reply_to_question(mi, question.id, body="Answer", attestation=NOTHING)
    [answered] = mail_to(hcp)
    use_smtp(app, free_port())  # nobody listens: delivery fails
    app.config["MAIL_USE_TLS"] = False
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        mail.send_pending()
    failed = db.session.get(OutboxMail, answered.id)
    assert failed is not None and failed.sent_at is None and failed.attempts == 1

    app.config["MAIL_SERVER"] = None  # back (the log delivers)
    with time_machine.travel(start + dt.timedelta(minutes=3), tick=False):
        mail.send_pending()
    assert db.session.get(OutboxMail, answered.id).sent_at is not None
