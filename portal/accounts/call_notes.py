"""Call notes: the interactions staff record with an HCP, and what they start.

A note (:class:`~portal.accounts.models.CallNote`) belongs to its author's side of the firewall
(a rep's note is commercial, an MSL's or Medical Information's medical) and is append-only. Saving
one (:func:`record`) is one unit of work that:

- counts the interaction against the HCP's terms through the one contact rule
  (:func:`portal.accounts.contact_rule.claim`): an unsolicited visit, call or e-mail that breaks
  them is refused and nothing is saved; one the HCP asked for is recorded for colleagues and
  blocks nothing;
- asks the author's adverse-event attestation, as answering a question does
  (:func:`portal.safety.attestations.attest_call_note`), and runs automatic detection on the
  note's words: either opens a PV case for the note;
- files the medical or off-label question the HCP asked in person as their own question, routed
  by the same engine (:func:`portal.questions.intake.ask_on_behalf`): the note links to it, and
  a viewer who may not read it sees its reference and status only (:func:`linked_question`).

Follow-ups: :func:`follow_ups_due` (the worklist's) and :func:`complete_follow_up`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import audit, i18n, policy
from portal.accounts import contact_rule, coordination
from portal.accounts.models import (
    CallNote,
    ContactChannel,
    ContactKind,
    InteractionKind,
)
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, User, utcnow
from portal.questions import intake
from portal.questions.models import Question, QuestionStatus, team_label
from portal.safety import attestations
from portal.safety import services as safety
from portal.safety.attestations import Attestation
from portal.safety.models import CaseOrigin, PvCase
from portal.unit_of_work import transactional

MAX_TOPICS = 500
MAX_SUMMARY = 4_000
MAX_FOLLOW_UP = 1_000
MAX_PRODUCTS = 20
# An interaction is recorded when it happens, or soon after: not ahead of time (a few minutes'
# slack for clocks), and not months later, when memory (and PV's clock) has moved on.
FUTURE_SLACK = dt.timedelta(minutes=5)
MAX_AGE = dt.timedelta(days=90)
MAX_FOLLOW_UP_AHEAD = dt.timedelta(days=366)
# Follow-ups due within this many days are "due" on the worklist.
DUE_WITHIN_DAYS = 7
SUBJECT = "call_note"

# How the HCP is told where their question was recorded (completes "recorded by <name> ...").
OCCASIONS: dict[InteractionKind, Any] = {
    InteractionKind.VISIT: _l("during your visit"),
    InteractionKind.PHONE: _l("during your phone call"),
    InteractionKind.VIDEO: _l("during your video call"),
    InteractionKind.EMAIL: _l("from your e-mail"),
    InteractionKind.EVENT: _l("at an event"),
}


def reference_of(note_id: int) -> str:
    """What a note is quoted as (``CN-000042``): in PV cases and on the HCP page."""
    return f"CN-{note_id:06d}"


@dataclasses.dataclass
class CallNoteInput:
    """What the "Record an interaction" form submits. ``question``: the medical or off-label
    question the HCP asked, to file on their behalf (``None``: they asked none)."""

    kind: str
    occurred_at: dt.datetime | None
    requested_by_hcp: bool = False
    product_ids: Sequence[int] = ()
    topics: str = ""
    summary: str = ""
    follow_up: str = ""
    follow_up_due: dt.date | None = None
    question: intake.OnBehalfInput | None = None


# --- finding the HCP ----------------------------------------------------------------------------
def _hcp_for_note(author: User, hcp_id: Any) -> User:
    """The HCP ``author`` may record an interaction with: ``NotFound`` when they may not even
    open the HCP's record, ``PermissionDenied`` when they may read it but not write on it
    (compliance, Pharmacovigilance, Quality)."""
    hcp = db.session.get(User, hcp_id) if isinstance(hcp_id, int) else None
    policy.require_visible(
        hcp is not None
        and (policy.can_view_hcp_record(author, hcp) or policy.can_write_call_note(author, hcp)),
        "That HCP",
    )
    assert hcp is not None
    policy.require(
        policy.can_write_call_note(author, hcp),
        "Only the colleagues who talk to this HCP record interactions with them.",
    )
    return hcp


@dataclasses.dataclass(frozen=True)
class Preparation:
    """What the "Record an interaction" page shows beside the form: who else was in touch
    lately, the HCP's terms for unsolicited contact and how much of their cap is used."""

    hcp: User
    warning: str | None
    terms: contact_rule.Terms
    used: int
    inbound_only: bool  # Medical Information: every note is an interaction the HCP asked for
    can_file_question: bool


def prepare(author: User, hcp_id: Any, *, now: dt.datetime | None = None) -> Preparation:
    """The page around the form, for an ``author`` who may write a note about the HCP
    (``NotFound`` / ``PermissionDenied`` as :func:`record`). Reads only."""
    hcp = _hcp_for_note(author, hcp_id)
    now = now or utcnow()
    terms = contact_rule.terms_of(hcp)
    used = contact_rule.check(author, hcp, ContactChannel.VISIT, at=now).used
    return Preparation(
        hcp=hcp,
        warning=coordination.warning(author, hcp, now=now),
        terms=terms,
        used=used,
        inbound_only=policy.records_inbound_only(author),
        can_file_question=policy.can_ask_on_behalf(author, hcp),
    )


# --- validating ----------------------------------------------------------------------------------
def _zone_of(user: User) -> ZoneInfo:
    return ZoneInfo(i18n.valid_timezone(user.timezone) or current_app.config["BUSINESS_TIMEZONE"])


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _problems(
    author: User, hcp: User, data: CallNoteInput, attestation: Attestation | None, now: dt.datetime
) -> dict[str, str]:
    problems: dict[str, str] = {}
    if data.kind not in set(InteractionKind):
        problems["kind"] = "Choose what kind of interaction it was."
    if data.occurred_at is None:
        problems["occurred_at"] = "Say when the interaction took place."
    else:
        occurred = _aware(data.occurred_at)
        if occurred > now + FUTURE_SLACK:
            problems["occurred_at"] = "Record an interaction once it has taken place."
        elif occurred < now - MAX_AGE:
            problems["occurred_at"] = (
                f"Interactions are recorded within {MAX_AGE.days} days of taking place."
            )
    ids = list(dict.fromkeys(data.product_ids))
    if len(ids) > MAX_PRODUCTS:
        problems["product_ids"] = f"Choose at most {MAX_PRODUCTS} products."
    elif ids:
        known = set(db.session.scalars(select(Product.id).where(Product.id.in_(ids))))
        if set(ids) - known:
            problems["product_ids"] = "Choose among the products offered."
    if len(data.topics) > MAX_TOPICS:
        problems["topics"] = f"Keep the topics under {MAX_TOPICS:,} characters."
    if not data.summary.strip():
        problems["summary"] = "Write what was discussed."
    elif len(data.summary) > MAX_SUMMARY:
        problems["summary"] = f"Keep the summary under {MAX_SUMMARY:,} characters."
    if len(data.follow_up) > MAX_FOLLOW_UP:
        problems["follow_up"] = f"Keep the follow-up under {MAX_FOLLOW_UP:,} characters."
    if data.follow_up_due is not None:
        today = now.astimezone(_zone_of(author)).date()
        if not data.follow_up.strip():
            problems["follow_up"] = "Say what the follow-up is, or leave its due date empty."
        elif data.follow_up_due < today:
            problems["follow_up_due"] = "A follow-up is due today or later."
        elif data.follow_up_due > today + MAX_FOLLOW_UP_AHEAD:
            problems["follow_up_due"] = "A follow-up is due within a year."
    if attestation is None:
        problems["attestation"] = attestations.CHOOSE
    if data.question is not None:
        if not policy.can_ask_on_behalf(author, hcp):
            problems["question_text"] = (
                "This HCP is not verified yet: they cannot have questions in the portal."
            )
        for name, message in intake.on_behalf_problems(data.question).items():
            problems[f"question_{name}"] = message
    return problems


def words_of(note: CallNote, question: Question | None = None) -> str:
    """The note's words as Pharmacovigilance gets them (and as detection reads them)."""
    parts = [f"Call note {reference_of(note.id)} ({note.kind.label}, {_when(note.occurred_at)})"]
    if note.topics.strip():
        parts.append(f"Topics: {note.topics.strip()}")
    parts.append(f"Summary:\n{note.summary.strip()}")
    if note.follow_up.strip():
        parts.append(f"Follow-up: {note.follow_up.strip()}")
    if question is not None:
        parts.append(f"Medical question filed on the HCP's behalf: {question.reference}")
    return "\n\n".join(parts)


def _when(moment: dt.datetime) -> str:
    return _aware(moment).astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")


def _detected_case(author: User, note: CallNote, question: Question | None) -> PvCase | None:
    """Automatic detection on the note's own words (the question's words are routed, and
    detected, as a question): a flag opens a case for the note. The safety net, not the
    control: the attestation is."""
    text = "\n".join(part for part in (note.topics, note.summary, note.follow_up) if part.strip())
    finding = safety.detect(text)
    if not finding.flagged:
        return None
    return safety.open_case(
        author, source=safety.CaseSource.CALL_NOTE, text=words_of(note, question),
        reasons=[f"Detected in a call note by {author.name}: {r}" for r in finding.reasons],
        reporter=note.hcp, received_at=note.occurred_at, source_ref=reference_of(note.id),
        call_note_id=note.id, origin=CaseOrigin.DETECTED,
    )  # fmt: skip


# --- recording -----------------------------------------------------------------------------------
@transactional
def record(
    author: User,
    hcp_id: int,
    data: CallNoteInput,
    *,
    attestation: Attestation | None,
    now: dt.datetime | None = None,
) -> CallNote:
    """Record an interaction ``author`` had with the HCP ``hcp_id``.

    Who: :func:`portal.policy.can_write_call_note` (reps, market access and MSLs of the HCP's
    territory; Medical Information for any HCP). Others who may not open the HCP's record get
    ``NotFound``; those who may read it but not write (compliance, PV, Quality)
    ``PermissionDenied``. ``InvalidInput`` names every bad field at once (``question_*`` for the
    question filed on the HCP's behalf) and saves nothing.

    The note's side is the author's (:func:`portal.policy.side_of`). The interaction is claimed
    from the contact rule at ``occurred_at`` by the kind's channel: unsolicited, it must fit the
    HCP's terms (else :class:`~portal.accounts.contact_rule.ContactRefused` names the rule, and
    nothing is saved); ``requested_by_hcp`` records it without using their cap. Medical
    Information answers the HCPs who call it and never reaches out
    (:func:`portal.policy.records_inbound_only`): its notes are always stored as asked for by
    the HCP, solicited.

    Safety: ``attestation`` is required (missing: ``InvalidInput``); a "yes", or automatic
    detection on the note's words, opens a PV case for the note (source call note, reporter the
    HCP, day zero the interaction), one case at most. A question the HCP asked
    (``data.question``) is filed as theirs (:func:`portal.questions.intake.ask_on_behalf`) and
    linked from the note.

    Audit: ``call_note.recorded`` (HCP, kind, side, requested_by_hcp, products, the question and
    the contact; never the text), ``safety.attest``, and ``question.submit_on_behalf`` /
    ``pv_case.open`` as they apply. One unit of work.
    """
    hcp = _hcp_for_note(author, hcp_id)
    now = now or utcnow()
    problems = _problems(author, hcp, data, attestation, now)
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    assert attestation is not None and data.occurred_at is not None
    occurred_at = _aware(data.occurred_at)
    kind = InteractionKind(data.kind)
    inbound = policy.records_inbound_only(author)
    solicited = data.requested_by_hcp or inbound
    # Filed first, while this unit has written nothing: routing may recover from a failure by
    # starting the transaction over, which it may only do then.
    question = (
        intake.ask_on_behalf(author, hcp, data.question, now=occurred_at, occasion=OCCASIONS[kind])
        if data.question is not None
        else None
    )
    note = CallNote(
        hcp_id=hcp.id,
        hcp=hcp,
        author_id=author.id,
        side=policy.side_of(author.role),
        kind=kind,
        occurred_at=occurred_at,
        requested_by_hcp=solicited,
        product_ids=sorted(set(data.product_ids)),
        topics=data.topics.strip(),
        summary=data.summary.strip(),
        follow_up=data.follow_up.strip(),
        follow_up_due=data.follow_up_due if data.follow_up.strip() else None,
        question_id=question.id if question is not None else None,
        created_at=now,
    )
    db.session.add(note)
    db.session.flush()
    contact = contact_rule.claim(
        author, hcp, kind.channel, kind=ContactKind.CALL, subject=SUBJECT, subject_id=note.id,
        at=occurred_at, solicited=solicited,
    )  # fmt: skip
    _detected_case(author, note, question)
    attestations.attest_call_note(
        author, note, attestation, at=now, text=words_of(note, question),
        ref=reference_of(note.id),
    )  # fmt: skip
    audit.record(
        author, "call_note.recorded", note, hcp=hcp.id, kind=kind.value, side=note.side.value,
        requested_by_hcp=note.requested_by_hcp, products=note.product_ids,
        question=note.question_id, contact=contact.id, counted=contact.counted,
        follow_up_due=note.follow_up_due.isoformat() if note.follow_up_due else None,
    )  # fmt: skip
    return note


# --- follow-ups ----------------------------------------------------------------------------------
def follow_ups_due(
    staff: User, *, now: dt.datetime | None = None, limit: int = 20
) -> list[CallNote]:
    """``staff``'s own notes whose follow-up is due within ``DUE_WITHIN_DAYS`` days (today
    in their zone; overdue ones included) and not done, oldest due first, at most ``limit``,
    with their HCP loaded (the worklist). Reads the (author, due) index."""
    today = (now or utcnow()).astimezone(_zone_of(staff)).date()
    return list(
        db.session.scalars(
            select(CallNote)
            .options(joinedload(CallNote.hcp))
            .where(
                CallNote.author_id == staff.id,
                CallNote.follow_up_due.is_not(None),
                CallNote.follow_up_due <= today + dt.timedelta(days=DUE_WITHIN_DAYS),
                CallNote.follow_up_done_at.is_(None),
            )
            .order_by(CallNote.follow_up_due, CallNote.id)
            .limit(limit)
        )
    )


def open_follow_ups(staff: User, hcp: User, *, limit: int = 10) -> list[CallNote]:
    """``staff``'s follow-ups with ``hcp`` not done yet (with or without a due date), soonest
    due first (the HCP page)."""
    return list(
        db.session.scalars(
            select(CallNote)
            .where(
                CallNote.hcp_id == hcp.id,
                CallNote.author_id == staff.id,
                CallNote.follow_up != "",
                CallNote.follow_up_done_at.is_(None),
            )
            .order_by(
                CallNote.follow_up_due.is_(None), CallNote.follow_up_due, CallNote.occurred_at
            )
            .limit(limit)
        )
    )


@transactional
def complete_follow_up(staff: User, note_id: Any, *, now: dt.datetime | None = None) -> CallNote:
    """Mark the follow-up of note ``note_id`` done. Only its author
    (:func:`portal.policy.can_complete_follow_up`): a colleague who may read the note gets
    ``PermissionDenied``, anyone else ``NotFound``. A note without a follow-up:
    ``InvalidInput``. Done already: nothing changes (a second click in another tab).
    Audit: ``call_note.follow_up_done``."""
    note = (
        db.session.get(CallNote, note_id, options=[joinedload(CallNote.hcp)])
        if isinstance(note_id, int)
        else None
    )
    policy.require_visible(
        note is not None and (policy.can_view_call_note(staff, note) or note.author_id == staff.id),
        "That note",
    )
    assert note is not None
    policy.require(
        policy.can_complete_follow_up(staff, note),
        "Only the note's author completes its follow-up.",
    )
    if not note.follow_up:
        raise InvalidInput("This note has no follow-up.")
    if note.follow_up_done_at is not None:
        return note
    note.follow_up_done_at = now or utcnow()
    audit.record(staff, "call_note.follow_up_done", note, hcp=note.hcp_id)
    return note


# --- reading -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LinkedQuestion:
    """The question a note filed, as a viewer may know it: its reference, team and status
    always; ``readable`` says whether they may open it (a rep never opens a medical one)."""

    id: int
    reference: str
    status: QuestionStatus
    team: str
    readable: bool

    @property
    def status_label(self) -> str:
        return self.status.label


def _linked(viewer: User, question: Question) -> LinkedQuestion:
    return LinkedQuestion(
        id=question.id,
        reference=question.reference,
        status=question.status,
        team=team_label(question.owner_team),
        readable=policy.can_view_question(viewer, question),
    )


def linked_question(viewer: User, note: CallNote) -> LinkedQuestion | None:
    """The question ``note`` filed on the HCP's behalf, as ``viewer`` may know it (``None``:
    none). The caller has checked that ``viewer`` may see the note."""
    if note.question_id is None:
        return None
    question = db.session.get(Question, note.question_id)
    return _linked(viewer, question) if question is not None else None


def requests_filed(viewer: User, hcp: User, *, limit: int = 5) -> list[LinkedQuestion]:
    """The questions ``viewer`` filed on ``hcp``'s behalf, newest first, as they may know them
    (reference, team and status; the text only if they may open it)."""
    rows = db.session.scalars(
        select(Question)
        .join(CallNote, CallNote.question_id == Question.id)
        .where(CallNote.hcp_id == hcp.id, CallNote.author_id == viewer.id)
        .order_by(CallNote.occurred_at.desc(), CallNote.id.desc())
        .limit(limit)
    )
    return [_linked(viewer, question) for question in rows]


@dataclasses.dataclass(frozen=True)
class Actions:
    """The call-note corner of the HCP page, for one viewer."""

    can_write: bool
    follow_ups: list[CallNote]
    requests: list[LinkedQuestion]
    today: dt.date  # in the viewer's zone: a follow-up due on or before it is due now


def actions_for(viewer: User, hcp: User, *, now: dt.datetime | None = None) -> Actions:
    """What the HCP page offers ``viewer`` about call notes: the "Record an interaction" button,
    their open follow-ups with this HCP and the questions they filed on the HCP's behalf.
    Nothing for viewers who do not write notes about this HCP."""
    today = (now or utcnow()).astimezone(_zone_of(viewer)).date()
    if not policy.can_write_call_note(viewer, hcp):
        return Actions(can_write=False, follow_ups=[], requests=[], today=today)
    return Actions(
        can_write=True,
        follow_ups=open_follow_ups(viewer, hcp),
        requests=requests_filed(viewer, hcp),
        today=today,
    )
