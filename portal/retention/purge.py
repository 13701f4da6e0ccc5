"""The purge: deleting, in bounded batches, the records past their retention period.

Each kind of record (:class:`RecordKind`) is a :class:`Sweep`: a SQL clause saying which of its
records are past their period at a cutoff time and held by no one, and how to delete a batch of
them with what hangs off them. The daily worker job ``retention.purge`` runs :func:`purge`
(once across processes: a periodic job, ``portal/jobs.py``); ``flask retention purge
[--dry-run]`` runs it from the command line.

What is never removed:

* anything of a person under a legal hold, and nothing at all under a hold on everything
  (:mod:`portal.retention.holds`);
* by the ordinary periods, conversations and questions linked to an adverse event or a
  product complaint (a PV case, an attestation that there was one, a flagged message, a
  question classified or routed as such): those have the safety period, counted from when the
  last linked case was closed, and are kept while any linked case is not closed;
* the audit trail (kept: a hash chain cannot lose its start without a checkpoint; only the
  personal part of sign-in records goes, see below), users, and the PV cases that are not
  linked to a conversation or question (Pharmacovigilance's own records; outside these
  periods);
* a PV case that is not closed, or closed less than the safety period ago: a case goes only
  with the conversation or question it came from, under the safety period, and
  :func:`_remove_cases` refuses (the run fails, the batch is rolled back) rather than delete
  one that is not past it, whatever the clauses above selected. The safety period itself never
  drops below ``RETENTION_SAFETY_MINIMUM_DAYS`` (:func:`periods.effective_periods`).

Sign-in details (``RecordKind.SIGN_IN_DETAILS``) delete nothing: the audit records of sign-ins,
sessions, two-factor checks and password changes past the period lose their personal part (IP
address, device) and its salt, the one change the trail's triggers allow; the digest stays, so
``audit.verify()`` still holds. Not for records a held person acted in or that target them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    not_,
    null,
    or_,
    select,
    tuple_,
    update,
)

from chat.models import (
    ConsentPeriod,
    Conversation,
    ConversationState,
    Message,
    MessageRevision,
    ReadState,
)
from content.models import MaterialEvent, SearchTerm
from portal import audit, policy
from portal.accounts.models import CallNote
from portal.extensions import db
from portal.models import (
    AuditRecord,
    Job,
    JobState,
    Notification,
    OutboxMail,
    User,
    UserSession,
    utcnow,
)
from portal.pagination import Page, paginate
from portal.questions.models import (
    Question,
    QuestionAttachment,
    QuestionEntry,
    QuestionEvent,
    QuestionStatus,
)
from portal.records.models import ExportChunk, ExportRun
from portal.retention import holds
from portal.retention.models import RecordKind, RetentionRun, RunState
from portal.retention.periods import effective_periods
from portal.safety import links
from portal.safety.models import PvCase, PvCaseStatus, PvFollowUp, SafetyAttestation

log = logging.getLogger(__name__)

RUNS_PAGE_SIZE = 20


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One kind of record: ``due(cutoff)`` is the clause of its records past their period and
    not held; ``key`` the column(s) naming one record; ``remove(keys, safety_cutoff)`` deletes
    those records and what hangs off them (in the caller's transaction); a PV case among them
    must have closed before ``safety_cutoff``."""

    kind: RecordKind
    key: Sequence[Any]
    due: Callable[[dt.datetime], ColumnElement[bool]]
    remove: Callable[[list[Any], dt.datetime], None]


# --- what links a conversation or a question to safety --------------------------------------------
def _safety_case() -> ColumnElement[bool]:
    return or_(PvCase.conversation_id.is_not(None), PvCase.question_id.is_not(None))


# One definition of "safety-linked", shared with erasure (portal.privacy.erase).
_conversation_cases = links.conversation_cases
_conversation_safety_linked = links.conversation_safety_linked
_question_safety_linked = links.question_safety_linked
SAFETY_CATEGORIES = links.SAFETY_CATEGORIES
SAFETY_TEAMS = links.SAFETY_TEAMS


def _cases_closed_before(link: Any, cutoff: dt.datetime) -> ColumnElement[bool]:
    """No linked case is still open, acknowledged, or closed on or after ``cutoff``."""
    return not_(
        exists().where(
            link,
            or_(
                PvCase.status != PvCaseStatus.CLOSED,
                PvCase.closed_at.is_(None),
                PvCase.closed_at >= cutoff,
            ),
        )
    )


# --- conversations --------------------------------------------------------------------------------
def _conversation_over(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Ended, and nothing happened in it since ``cutoff``."""
    return and_(
        Conversation.state == ConversationState.ENDED,
        Conversation.created_at < cutoff,
        or_(Conversation.ended_at.is_(None), Conversation.ended_at < cutoff),
        or_(Conversation.last_message_at.is_(None), Conversation.last_message_at < cutoff),
        holds.not_held(Conversation.hcp_id, Conversation.staff_id),
    )


def _conversations_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(_conversation_over(cutoff), not_(_conversation_safety_linked()))


def _safety_conversations_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(
        _conversation_over(cutoff),
        _conversation_safety_linked(),
        _cases_closed_before(_conversation_cases(), cutoff),
    )


def _remove_conversations(ids: list[int], safety_cutoff: dt.datetime) -> None:
    messages = select(Message.id).where(Message.conversation_id.in_(ids))
    cases = select(PvCase.id).where(
        or_(PvCase.conversation_id.in_(ids), PvCase.message_id.in_(messages))
    )
    _remove_cases(cases, safety_cutoff)
    _delete(SafetyAttestation, SafetyAttestation.conversation_id.in_(ids))
    _delete(MessageRevision, MessageRevision.message_id.in_(messages))
    _delete(Message, Message.conversation_id.in_(ids))
    _delete(ReadState, ReadState.conversation_id.in_(ids))
    _delete(ConsentPeriod, ConsentPeriod.conversation_id.in_(ids))
    _delete(Conversation, Conversation.id.in_(ids))


class UnsafePurge(RuntimeError):
    """The purge was about to delete a PV case that is not closed or not past the safety
    period: it deletes nothing of the batch and the run fails."""


def _remove_cases(cases: Any, safety_cutoff: dt.datetime) -> None:
    """PV cases (a subquery of ids) with their follow-ups and the attestations naming them:
    only when the conversation or question they came from goes (the safety period).

    The last line of defence for Pharmacovigilance's records: every case must be closed, and
    closed before ``safety_cutoff``; otherwise :class:`UnsafePurge` (nothing is deleted)."""
    ids = list(db.session.scalars(cases))
    if not ids:
        return
    not_past = list(
        db.session.scalars(
            select(PvCase.id).where(
                PvCase.id.in_(ids),
                or_(
                    PvCase.status != PvCaseStatus.CLOSED,
                    PvCase.closed_at.is_(None),
                    PvCase.closed_at >= safety_cutoff,
                ),
            )
        )
    )
    if not_past:
        raise UnsafePurge(
            f"refusing to delete PV case(s) {sorted(not_past)}: not closed before"
            f" {safety_cutoff.isoformat()} (the safety period)"
        )
    _delete(PvFollowUp, PvFollowUp.case_id.in_(ids))
    _delete(SafetyAttestation, SafetyAttestation.case_id.in_(ids))
    _delete(PvCase, PvCase.id.in_(ids))


# --- questions ------------------------------------------------------------------------------------
def _question_over(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Closed before ``cutoff``, held by no one (the HCP, the assignee, any writer)."""
    held_writer = select(QuestionEntry.id).where(
        QuestionEntry.question_id == Question.id,
        QuestionEntry.author_id.in_(holds.held_user_ids()),
    )
    return and_(
        Question.status == QuestionStatus.CLOSED,
        Question.closed_at < cutoff,
        holds.not_held(Question.hcp_id, Question.assignee_id),
        not_(exists(held_writer)),
    )


def _questions_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(_question_over(cutoff), not_(_question_safety_linked()))


def _safety_questions_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(
        _question_over(cutoff),
        _question_safety_linked(),
        _cases_closed_before(links.question_cases(), cutoff),
    )


def _remove_questions(ids: list[int], safety_cutoff: dt.datetime) -> None:
    entries = select(QuestionEntry.id).where(QuestionEntry.question_id.in_(ids))
    _remove_cases(
        select(PvCase.id).where(or_(PvCase.question_id.in_(ids), PvCase.entry_id.in_(entries))),
        safety_cutoff,
    )
    _delete(SafetyAttestation, SafetyAttestation.question_id.in_(ids))
    # A call note that filed the question on the HCP's behalf stays (the interaction happened).
    db.session.execute(
        update(CallNote)
        .where(CallNote.question_id.in_(ids))
        .values(question_id=None)
        .execution_options(synchronize_session=False)
    )
    _delete(QuestionAttachment, QuestionAttachment.entry_id.in_(entries))
    _delete(QuestionEntry, QuestionEntry.question_id.in_(ids))
    _delete(QuestionEvent, QuestionEvent.question_id.in_(ids))
    _delete(Question, Question.id.in_(ids))


# --- the simple kinds ----------------------------------------------------------------------------
def _sessions_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    # A session lives SESSION_ABSOLUTE_HOURS at most: one started and last seen before the
    # cutoff has ended (signed out, revoked or expired) at least a period ago.
    return and_(
        UserSession.created_at < cutoff,
        UserSession.last_seen_at < cutoff,
        or_(UserSession.revoked_at.is_(None), UserSession.revoked_at < cutoff),
        holds.not_held(UserSession.user_id),
    )


def _mail_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    held_addresses = select(User.email).where(User.id.in_(holds.held_user_ids()))
    given_up = and_(
        OutboxMail.sent_at.is_(None),
        OutboxMail.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"],
    )
    return and_(
        OutboxMail.created_at < cutoff,
        or_(OutboxMail.sent_at < cutoff, given_up),
        OutboxMail.to.not_in(held_addresses),
    )


def _jobs_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    # Periodic jobs stay pending for ever: only finished one-off jobs go.
    return and_(Job.state.in_((JobState.DONE, JobState.FAILED)), Job.finished_at < cutoff)


def _exports_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    # The file goes, the run (who exported what, its size and SHA-256) stays. Exports are
    # compliance's copies: only a hold on everything keeps them.
    return and_(
        ExportRun.file_deleted_at.is_(None),
        ExportRun.finished_at < cutoff,
        exists().where(ExportChunk.run_id == ExportRun.id),
    )


def _remove_export_files(ids: list[int], safety_cutoff: dt.datetime) -> None:
    _delete(ExportChunk, ExportChunk.run_id.in_(ids))
    db.session.execute(
        update(ExportRun)
        .where(ExportRun.id.in_(ids))
        .values(file_deleted_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _delete(model: Any, clause: ColumnElement[bool]) -> None:
    db.session.execute(delete(model).where(clause).execution_options(synchronize_session=False))


def _deleting(model: Any) -> Callable[[list[Any], dt.datetime], None]:
    """Delete rows of ``model`` by their single-column primary key."""
    (column,) = model.__mapper__.primary_key

    def remove(keys: list[Any], safety_cutoff: dt.datetime) -> None:
        _delete(model, column.in_(keys))

    return remove


def _remove_search_terms(keys: list[Any], safety_cutoff: dt.datetime) -> None:
    _delete(SearchTerm, tuple_(SearchTerm.day, SearchTerm.query).in_([tuple(k) for k in keys]))


# --- the personal part of sign-in audit records ---------------------------------------------------
# Sign-ins, refusals, throttling, sessions, two-factor checks and changes, password changes:
# their personal part is an IP address and a device.
SIGN_IN_PREFIXES = ("auth.", "session.", "two_factor.")
SIGN_IN_ACTIONS = ("user.password_changed",)


def _sign_in_details_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    """Sign-in audit records made before ``cutoff`` whose personal part is still there, that
    no held person acted in or is the target of."""
    held = holds.held_user_ids().subquery()
    held_targets = select(cast(held.c.user_id, String))
    return and_(
        or_(
            *(AuditRecord.action.startswith(p, autoescape=True) for p in SIGN_IN_PREFIXES),
            AuditRecord.action.in_(SIGN_IN_ACTIONS),
        ),
        AuditRecord.at < cutoff,
        AuditRecord.salt.is_not(None),
        AuditRecord.personal.is_not(None),
        holds.not_held(AuditRecord.actor_id),
        not_(and_(AuditRecord.target_type == "users", AuditRecord.target_id.in_(held_targets))),
    )


def _erase_sign_in_details(ids: list[int], safety_cutoff: dt.datetime) -> None:
    # The one change the trail's triggers let through (migration 0021): the personal part and
    # the salt go; the content, the actor's label, the digest and the hashes stay.
    db.session.execute(
        update(AuditRecord)
        .where(AuditRecord.id.in_(ids), AuditRecord.salt.is_not(None))
        .values(personal=null(), salt=null())
        .execution_options(synchronize_session=False)
    )


SWEEPS: tuple[Sweep, ...] = (
    Sweep(RecordKind.CONVERSATIONS, (Conversation.id,), _conversations_due, _remove_conversations),
    Sweep(RecordKind.QUESTIONS, (Question.id,), _questions_due, _remove_questions),
    Sweep(
        RecordKind.MATERIAL_VIEWS,
        (MaterialEvent.id,),
        lambda cutoff: and_(MaterialEvent.at < cutoff, holds.not_held(MaterialEvent.user_id)),
        _deleting(MaterialEvent),
    ),
    Sweep(
        RecordKind.NOTIFICATIONS,
        (Notification.id,),
        lambda cutoff: and_(Notification.created_at < cutoff, holds.not_held(Notification.user_id)),
        _deleting(Notification),
    ),
    Sweep(RecordKind.SESSIONS, (UserSession.id,), _sessions_due, _deleting(UserSession)),
    Sweep(
        RecordKind.SIGN_IN_DETAILS,
        (AuditRecord.id,),
        _sign_in_details_due,
        _erase_sign_in_details,
    ),
    Sweep(RecordKind.MAIL_OUTBOX, (OutboxMail.id,), _mail_due, _deleting(OutboxMail)),
    Sweep(
        RecordKind.SEARCH_TERMS,
        (SearchTerm.day, SearchTerm.query),
        # Counted per day: a day is past when the whole day is before the cutoff.
        lambda cutoff: SearchTerm.day < cutoff.date(),
        _remove_search_terms,
    ),
    Sweep(RecordKind.JOBS, (Job.id,), _jobs_due, _deleting(Job)),
    Sweep(RecordKind.EXPORT_FILES, (ExportRun.id,), _exports_due, _remove_export_files),
)

# The safety period's own sweeps: both count into RecordKind.SAFETY_LINKED.
SAFETY_SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        RecordKind.SAFETY_LINKED,
        (Conversation.id,),
        _safety_conversations_due,
        _remove_conversations,
    ),
    Sweep(RecordKind.SAFETY_LINKED, (Question.id,), _safety_questions_due, _remove_questions),
)


# --- running -------------------------------------------------------------------------------------
def _cutoffs(now: dt.datetime) -> dict[RecordKind, dt.datetime]:
    return {kind: now - dt.timedelta(days=days) for kind, days in effective_periods().items()}


def count_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """How many records of each kind the purge would remove now (the dry run; changes
    nothing). Zero for every kind under a hold on everything."""
    moment = now or utcnow()
    counts = {kind.value: 0 for kind in RecordKind}
    if holds.everything_held():
        return counts
    cutoffs = _cutoffs(moment)
    for sweep in (*SWEEPS, *SAFETY_SWEEPS):
        query = (
            select(func.count())
            .select_from(sweep.key[0].table)
            .where(sweep.due(cutoffs[sweep.kind]))
        )
        counts[sweep.kind.value] += int(db.session.scalar(query) or 0)
    return counts


def _sweep(sweep: Sweep, cutoff: dt.datetime, batch: int, safety_cutoff: dt.datetime) -> int:
    """Delete what ``sweep`` finds past ``cutoff``, ``batch`` records per transaction (a PV
    case only if closed before ``safety_cutoff``)."""
    removed = 0
    while True:
        if holds.everything_held():  # placed while we run: stop at once
            break
        rows = db.session.execute(
            select(*sweep.key).where(sweep.due(cutoff)).order_by(*sweep.key).limit(batch)
        ).all()
        if not rows:
            break
        keys = [row[0] if len(sweep.key) == 1 else tuple(row) for row in rows]
        sweep.remove(keys, safety_cutoff)
        # A transaction per batch: a long purge never holds locks long, and a crash loses
        # nothing (the next run carries on where this one stopped).
        db.session.commit()
        removed += len(keys)
        if len(rows) < batch:
            break
    return removed


def purge(*, trigger: str = "job", now: dt.datetime | None = None) -> RetentionRun:
    """Remove every record past its period and not held, and report it.

    Called by the daily job and ``flask retention purge``. Unlike other services it commits
    as it goes: the run's row first (so the page shows it running), then each batch of
    ``RETENTION_BATCH_SIZE`` records in a transaction of its own, then the report with the
    audit record ``retention.purged`` (``removed``: records per kind; the run is its target).
    A failure marks the run failed (committed) and raises again.
    """
    moment = now or utcnow()
    db.session.commit()  # the caller's reads end here: each batch is a transaction
    run = RetentionRun(
        state=RunState.RUNNING, dry_run=False, trigger=trigger, started_at=moment, counts={}
    )
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    try:
        counts = {kind.value: 0 for kind in RecordKind}
        held_everything = holds.everything_held()
        if not held_everything:
            cutoffs = _cutoffs(moment)
            batch = max(1, int(current_app.config["RETENTION_BATCH_SIZE"]))
            for sweep in (*SWEEPS, *SAFETY_SWEEPS):
                counts[sweep.kind.value] += _sweep(
                    sweep, cutoffs[sweep.kind], batch, cutoffs[RecordKind.SAFETY_LINKED]
                )
        run = db.session.get_one(RetentionRun, run_id)
        run.counts = counts
        run.state = RunState.DONE
        run.finished_at = utcnow()
        audit.record(None, "retention.purged", run, removed=counts, held_everything=held_everything)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("retention purge %s failed", run_id)
        failed = db.session.get_one(RetentionRun, run_id)
        failed.state = RunState.FAILED
        failed.finished_at = utcnow()
        failed.error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    return run


def list_runs(actor: User, *, page: int = 1) -> Page[RetentionRun]:
    """The purge's runs, newest first, a page at a time (the retention page). Administrators
    and compliance (others: ``NotFound``)."""
    policy.require_visible(policy.can_view_retention(actor))
    query = select(RetentionRun).order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
    return paginate(query, page=page, page_size=RUNS_PAGE_SIZE)
