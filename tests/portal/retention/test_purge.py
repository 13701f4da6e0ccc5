"""The purge: each kind of record at its boundary, safety-linked records on the safety period,
legal holds, the run's report and audit record, the daily job, and the dry run."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from chat.models import Conversation, Message, MessageRevision
from portal import audit, jobs
from portal.extensions import db
from portal.models import AuditRecord, Job, JobState
from portal.questions.models import Question
from portal.retention import holds, purge
from portal.retention.models import RecordKind, RetentionRun, RunState
from portal.retention.periods import current_periods
from portal.safety.models import PvCase
from tests.portal.retention.conftest import (
    MAKERS,
    T0,
    at,
    case_on_conversation,
    case_on_question,
    closed_question,
    count,
    ended_conversation,
    hold,
)

DAY = dt.timedelta(days=1)
# Kinds that name no person: only a hold on everything keeps them.
_NOBODYS = (RecordKind.SEARCH_TERMS, RecordKind.JOBS, RecordKind.EXPORT_FILES)


def days(kind: RecordKind) -> dt.timedelta:
    return dt.timedelta(days=current_periods()[kind])


@pytest.mark.parametrize("kind", list(MAKERS))
def test_each_kind_is_kept_the_day_before_its_period_ends_and_removed_the_day_after(
    app: Flask, kind: RecordKind
):
    with at(T0):
        made = MAKERS[kind]()
    period = days(kind)

    with at(T0 + period - DAY):
        before = purge.purge()
    assert made.exists()
    assert before.counts[kind.value] == 0

    with at(T0 + period + DAY):
        after = purge.purge()
    assert not made.exists()
    assert after.counts[kind.value] >= 1


def test_a_conversation_goes_with_its_messages_revisions_and_consents(app: Flask):
    with at(T0):
        conversation, _hcp = ended_conversation()
    cid = conversation.id
    message_ids = list(db.session.scalars(select(Message.id).where(Message.conversation_id == cid)))

    with at(T0 + days(RecordKind.CONVERSATIONS) + DAY):
        run = purge.purge()

    assert run.counts["conversations"] == 1
    assert count(Message, Message.conversation_id == cid) == 0
    assert count(MessageRevision, MessageRevision.message_id.in_(message_ids)) == 0
    assert count(Conversation, Conversation.id == cid) == 0


def test_an_active_conversation_is_never_purged(app: Flask):
    from tests.chat.factories import active_conversation, chat_pair, send

    with at(T0):
        hcp, staff, _territory = chat_pair()
        conversation = active_conversation(hcp, staff)
        send(hcp, conversation, "Still here.")

    with at(T0 + days(RecordKind.CONVERSATIONS) * 3):
        purge.purge()

    assert count(Conversation, Conversation.id == conversation.id) == 1


def test_an_open_question_is_never_purged(app: Flask):
    from tests.factories import make_hcp
    from tests.portal.questions.factories import ask

    with at(T0):
        question = ask(make_hcp())

    with at(T0 + days(RecordKind.QUESTIONS) * 3):
        purge.purge()

    assert count(Question, Question.id == question.id) == 1


# --- safety-linked records -----------------------------------------------------------------------
def test_a_conversation_with_a_pv_case_outlives_the_ordinary_period_and_goes_on_the_safety_one(
    app: Flask,
):
    closed = T0 + 30 * DAY
    with at(T0):
        conversation, _hcp = ended_conversation()
        case = case_on_conversation(conversation, closed_at=closed)
    cid, case_id = conversation.id, case.id

    with at(T0 + days(RecordKind.CONVERSATIONS) + DAY):
        ordinary = purge.purge()
    assert count(Conversation, Conversation.id == cid) == 1
    assert ordinary.counts["conversations"] == 0

    # The safety period counts from the case's closing, not from the chat's end.
    with at(closed + days(RecordKind.SAFETY_LINKED) - DAY):
        purge.purge()
    assert count(Conversation, Conversation.id == cid) == 1

    with at(closed + days(RecordKind.SAFETY_LINKED) + DAY):
        run = purge.purge()
    assert count(Conversation, Conversation.id == cid) == 0
    assert count(PvCase, PvCase.id == case_id) == 0
    assert run.counts["safety_linked"] == 1


def test_a_record_whose_case_is_still_open_is_kept_past_the_safety_period(app: Flask):
    with at(T0):
        conversation, _hcp = ended_conversation()
        case_on_conversation(conversation, closed_at=None)
        question = closed_question()
        case_on_question(question, closed_at=None)

    with at(T0 + days(RecordKind.SAFETY_LINKED) * 2):
        purge.purge()

    assert count(Conversation, Conversation.id == conversation.id) == 1
    assert count(Question, Question.id == question.id) == 1


def test_a_question_flagged_as_an_adverse_event_is_kept_past_the_ordinary_period(app: Flask):
    with at(T0):
        question = closed_question()
        question.ae_flag = True  # detection flagged it; no case (yet) is needed to keep it
        db.session.commit()
    qid = question.id

    with at(T0 + days(RecordKind.QUESTIONS) + DAY):
        purge.purge()
    assert count(Question, Question.id == qid) == 1

    with at(T0 + days(RecordKind.SAFETY_LINKED) + DAY):
        purge.purge()
    assert count(Question, Question.id == qid) == 0


def test_a_flagged_chat_message_keeps_its_conversation_on_the_safety_period(app: Flask):
    with at(T0):
        conversation, _hcp = ended_conversation()
        message = db.session.scalar(
            select(Message).where(Message.conversation_id == conversation.id)
        )
        assert message is not None
        message.flags = ["adverse_event"]
        db.session.commit()

    with at(T0 + days(RecordKind.CONVERSATIONS) + DAY):
        purge.purge()

    assert count(Conversation, Conversation.id == conversation.id) == 1


def test_a_question_with_a_closed_case_goes_with_it_after_the_safety_period(app: Flask):
    with at(T0):
        question = closed_question()
        case = case_on_question(question, closed_at=T0 + DAY)
    qid, case_id = question.id, case.id

    with at(T0 + DAY + days(RecordKind.SAFETY_LINKED) + DAY):
        run = purge.purge()

    assert count(Question, Question.id == qid) == 0
    assert count(PvCase, PvCase.id == case_id) == 0
    assert run.counts["safety_linked"] == 1


# --- legal holds ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [k for k in MAKERS if k not in _NOBODYS])
def test_a_held_persons_records_are_kept_past_their_period(app: Flask, compliance, kind):
    with at(T0):
        made = MAKERS[kind]()
        assert made.person is not None
        hold(compliance, made.person)

    with at(T0 + days(kind) + DAY):
        run = purge.purge()

    assert made.exists()
    assert run.counts[kind.value] == 0


def test_a_hold_on_the_staff_member_keeps_the_conversation(app: Flask, compliance):
    with at(T0):
        conversation, _hcp = ended_conversation()
        hold(compliance, conversation.staff)

    with at(T0 + days(RecordKind.CONVERSATIONS) + DAY):
        purge.purge()

    assert count(Conversation, Conversation.id == conversation.id) == 1


def test_a_hold_on_everything_stops_the_purge(app: Flask, compliance):
    with at(T0):
        made = [maker() for maker in MAKERS.values()]
        hold(compliance)

    with at(T0 + 20 * 365 * DAY):
        run = purge.purge()

    assert all(m.exists() for m in made)
    assert set(run.counts.values()) == {0}
    [record] = _audit("retention.purged")
    assert record.details["held_everything"] is True


def test_once_the_hold_is_released_the_next_purge_removes_what_is_past(app: Flask, compliance):
    with at(T0):
        made = MAKERS[RecordKind.NOTIFICATIONS]()
        placed = hold(compliance, made.person)
    later = T0 + days(RecordKind.NOTIFICATIONS) + DAY
    with at(later):
        purge.purge()
        assert made.exists()
        holds.release_hold(compliance, placed.id, reason="The matter settled.")
        purge.purge()

    assert not made.exists()


# --- the run, its report and its audit record ----------------------------------------------------
def _audit(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def test_a_run_is_recorded_with_its_counts_and_audited(app: Flask):
    with at(T0):
        MAKERS[RecordKind.NOTIFICATIONS]()
        MAKERS[RecordKind.NOTIFICATIONS]()
        MAKERS[RecordKind.JOBS]()
    moment = T0 + days(RecordKind.NOTIFICATIONS) + DAY

    with at(moment):
        run = purge.purge()

    stored = db.session.get(RetentionRun, run.id)
    assert stored is not None
    assert stored.state is RunState.DONE
    assert (stored.started_at, stored.finished_at, stored.dry_run) == (moment, moment, False)
    assert stored.counts["notifications"] == 2
    assert set(stored.counts) == {k.value for k in RecordKind}
    [record] = _audit("retention.purged")
    assert record.actor_id is None
    assert (record.target_type, record.target_id) == ("retention_runs", str(run.id))
    assert record.details["removed"] == stored.counts
    assert audit.verify().ok


def test_the_purge_deletes_in_batches(app: Flask):
    app.config["RETENTION_BATCH_SIZE"] = 2
    with at(T0):
        made = [MAKERS[RecordKind.JOBS]() for _ in range(5)]

    with at(T0 + days(RecordKind.JOBS) + DAY):
        run = purge.purge()

    assert run.counts["jobs"] == 5
    assert not any(m.exists() for m in made)


def test_a_failing_purge_is_recorded_as_failed_and_raises(app: Flask, monkeypatch):
    def broken(cutoff):
        raise RuntimeError("the disk is on fire")

    sweep = purge.SWEEPS[0]
    monkeypatch.setattr(
        purge, "SWEEPS", (purge.Sweep(sweep.kind, sweep.key, broken, sweep.remove),)
    )

    with pytest.raises(RuntimeError):
        purge.purge()

    [run] = db.session.scalars(select(RetentionRun)).all()
    assert run.state is RunState.FAILED
    assert "disk is on fire" in (run.error or "")
    assert _audit("retention.purged") == []


def test_the_dry_run_counts_and_changes_nothing(app: Flask):
    with at(T0):
        made = [maker() for maker in MAKERS.values()]
    audit_before = count(AuditRecord)

    with at(T0 + 20 * 365 * DAY):
        counts = purge.count_due()
        db.session.rollback()

    assert all(counts[kind.value] >= 1 for kind in MAKERS)
    assert all(m.exists() for m in made)
    assert count(RetentionRun) == 0
    assert count(AuditRecord) == audit_before


def test_the_dry_run_counts_what_the_purge_then_removes(app: Flask):
    with at(T0):
        for maker in MAKERS.values():
            maker()
    with at(T0 + 20 * 365 * DAY):
        expected = purge.count_due()
        run = purge.purge()

    assert run.counts == expected


# --- the daily job -------------------------------------------------------------------------------
def test_the_daily_job_runs_once_however_many_workers_ask(app: Flask):
    with at(T0):
        made = MAKERS[RecordKind.NOTIFICATIONS]()
    with at(T0 + days(RecordKind.NOTIFICATIONS) + DAY):
        first, second = jobs.Worker(app, role="one"), jobs.Worker(app, role="two")
        first.run_once()
        second.run_once()
        first.run_once()

    runs = db.session.scalars(select(RetentionRun)).all()
    assert len(runs) == 1
    assert runs[0].trigger == "job"
    assert not made.exists()
    job = db.session.scalar(select(Job).where(Job.unique_key == "periodic:retention.purge"))
    assert job is not None
    assert job.state is JobState.PENDING  # periodic: waits for tomorrow
    assert job.run_at > T0 + days(RecordKind.NOTIFICATIONS)

    # A day later, the next run.
    with at(T0 + days(RecordKind.NOTIFICATIONS) + 2 * DAY + dt.timedelta(minutes=1)):
        jobs.Worker(app, role="three").run_once()
    assert count(RetentionRun) == 2


def test_the_purge_runs_through_a_whole_portal_and_leaves_the_chain_verifiable(app: Flask):
    from tests.security.matrix import build_world

    with at(T0):
        build_world()
        made = [maker() for maker in MAKERS.values()]

    with at(T0 + 20 * 365 * DAY):
        run = purge.purge()

    assert run.state is RunState.DONE
    assert not any(m.exists() for m in made)
    assert audit.verify().ok
