"""People close the loop: attestations and colleagues' one-click reports to Pharmacovigilance.

Automatic detection is a safety net, not the control (PRODUCT.md, Adverse events):

- whoever answers or closes an HCP's question attests whether it held an adverse event or a
  product complaint (:func:`attest_question`, in the reply's or the close's transaction);
- the staff participant of a chat attests for its messages when it ends, and at least every
  ``SAFETY_ATTESTATION_DAYS`` while it stays open (:func:`attest_conversation`,
  :func:`conversations_awaiting_attestation`, :func:`awaiting_attestation`);
- whoever records an interaction with an HCP (a call note) attests for it
  (:func:`attest_call_note`, in the note's transaction);
- anyone of the company who reads an HCP's words reports them to PV at once (:func:`report_to_pv`).

A "yes" opens a PV case through :func:`portal.safety.services.open_case` (the only way to make
one) unless PV already has an open case for those words; a product complaint tells Quality too.
Attestations are append-only rows (:class:`~portal.safety.models.SafetyAttestation`), each audited
``safety.attest`` in the same transaction as what it attests.

Safety reads the words where they were said, questions and chat alike (as PV cases link to both);
the chat models are imported where used, so this module loads before the chat package does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import joinedload

from portal import audit, policy
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.models import Product, TeamKey, User, utcnow
from portal.questions.models import EntryKind, Question, QuestionEntry
from portal.safety import services as safety
from portal.safety.models import (
    AttestationSubject,
    CaseOrigin,
    PvCase,
    PvCaseStatus,
    SafetyAttestation,
)
from portal.services import notifications, users
from portal.unit_of_work import transactional

if TYPE_CHECKING:
    from chat.models import Conversation, Message
    from portal.accounts.models import CallNote

MAX_NOTE = 1_000
# The attest page shows (and an attestation covers) at most this many messages at once.
ATTEST_PAGE = 500
LIVE_CASE = (PvCaseStatus.OPEN, PvCaseStatus.ACKNOWLEDGED)

CHOOSE = "Say whether it held an adverse event or a product complaint: nothing is chosen for you."


# --- what staff attest -------------------------------------------------------------------------
class AttestationChoice(enum.StrEnum):
    """The one choice of the attestation forms (the values are the forms' contract)."""

    NONE = "none"
    ADVERSE_EVENT = "adverse_event"
    PRODUCT_COMPLAINT = "product_complaint"
    BOTH = "both"

    @property
    def label(self) -> str:
        return {
            "none": "No: neither an adverse event nor a product complaint",
            "adverse_event": "Yes: a possible adverse event",
            "product_complaint": "Yes: a product quality complaint",
            "both": "Yes: both an adverse event and a product quality complaint",
        }[self.value]


@dataclasses.dataclass(frozen=True)
class Attestation:
    """A staff member's statement about an HCP's words."""

    adverse_event: bool
    product_complaint: bool = False

    @property
    def any(self) -> bool:
        return self.adverse_event or self.product_complaint

    @classmethod
    def from_choice(cls, choice: str | None) -> Attestation | None:
        """The form's choice as an attestation; ``None`` when nothing (or junk) was chosen."""
        if choice not in set(AttestationChoice):
            return None
        picked = AttestationChoice(choice)
        return cls(
            adverse_event=picked in (AttestationChoice.ADVERSE_EVENT, AttestationChoice.BOTH),
            product_complaint=picked
            in (AttestationChoice.PRODUCT_COMPLAINT, AttestationChoice.BOTH),
        )


def _said(adverse_event: bool, product_complaint: bool) -> str:
    if adverse_event and product_complaint:
        return "a possible adverse event and a product quality complaint"
    if adverse_event:
        return "a possible adverse event"
    if product_complaint:
        return "a product quality complaint"
    return "neither an adverse event nor a product complaint"


def _who(actor: User) -> str:
    return f"{actor.name} ({actor.role.label})"


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC")


def _live_case(*conditions: ColumnElement[bool]) -> PvCase | None:
    """An open or acknowledged case matching ``conditions``: PV has those words already."""
    return db.session.scalar(
        select(PvCase).where(PvCase.status.in_(LIVE_CASE), *conditions).order_by(PvCase.id)
    )


def _tell_quality(case: PvCase, *, where: str, endpoint: str, **values: Any) -> None:
    # Quality gets complaints; the title names where, never what was said (minimum necessary).
    notifications.notify(
        users.team_members(TeamKey.QUALITY),
        kind="product_complaint",
        title=f"Possible product quality complaint in {where} (PV case {case.reference})",
        endpoint=endpoint,
        **values,
    )


def _mark_complaint(actor: User, case: PvCase, *, where: str, endpoint: str, **values: Any) -> None:
    """A complaint attested on words PV already has: the case says so and Quality is told."""
    if case.product_complaint:
        return
    case.product_complaint = True
    audit.record(actor, "pv_case.update", case, fields=["product_complaint"])
    _tell_quality(case, where=where, endpoint=endpoint, **values)


def _record(
    actor: User,
    attestation: Attestation,
    *,
    at: dt.datetime,
    case: PvCase | None,
    opened: bool,
    question_id: int | None = None,
    conversation_id: int | None = None,
    through_seq: int | None = None,
    call_note_id: int | None = None,
    **details: Any,
) -> SafetyAttestation:
    subject = (
        AttestationSubject.QUESTION
        if question_id
        else AttestationSubject.CALL_NOTE
        if call_note_id
        else AttestationSubject.CONVERSATION
    )
    row = SafetyAttestation(
        subject=subject,
        question_id=question_id,
        conversation_id=conversation_id,
        through_seq=through_seq,
        call_note_id=call_note_id,
        actor_id=actor.id,
        adverse_event=attestation.adverse_event,
        product_complaint=attestation.product_complaint,
        case_id=case.id if case is not None else None,
        at=at,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor, "safety.attest", row, subject=row.subject.value, question=question_id,
        conversation=conversation_id, through_seq=through_seq,
        adverse_event=attestation.adverse_event, product_complaint=attestation.product_complaint,
        case=row.case_id, case_opened=opened, **details,
    )  # fmt: skip
    return row


# --- questions -----------------------------------------------------------------------------------
def question_attestation_problem(actor: User, attestation: Attestation | None) -> str | None:
    """Why answering or closing cannot go ahead without an attestation (``None``: it can).

    Staff attest (:func:`portal.policy.must_attest_question`); the HCP does not."""
    if policy.must_attest_question(actor) and attestation is None:
        return CHOOSE
    return None


def _question_text(question: Question) -> str:
    parts = [f"Question {question.reference} ({_when(question.created_at)}):\n{question.text}"]
    parts += [
        f"Follow-up ({_when(e.created_at)}):\n{e.body}"
        for e in question.entries
        if e.kind is EntryKind.FOLLOW_UP
    ]
    return "\n\n".join(parts)


def attest_question(
    actor: User,
    question: Question,
    attestation: Attestation,
    *,
    at: dt.datetime,
    on: str,
) -> SafetyAttestation:
    """Record ``actor``'s attestation about ``question`` in the CALLER's transaction (the reply's
    or the close's, ``on`` saying which); never commits.

    A "yes" opens a PV case (origin attestation, the question's text and its follow-ups) unless
    the question already has an open or acknowledged one; a product complaint marks the case and
    tells Quality. Audit: ``safety.attest`` (and ``pv_case.open`` or ``pv_case.update``).
    """
    case: PvCase | None = None
    opened = False
    if attestation.any:
        where = f"question {question.reference}"
        case = _live_case(PvCase.question_id == question.id)
        if case is None:
            doing = "answering" if on == "reply" else "closing"
            said = _said(attestation.adverse_event, attestation.product_complaint)
            case = safety.open_case(
                actor, source=safety.CaseSource.QUESTION, text=_question_text(question),
                reasons=[f"Attested on {doing} the question by {_who(actor)}: {said}"],
                reporter=question.hcp, received_at=question.created_at,
                source_ref=question.reference, question_id=question.id,
                product_id=question.product_id,
                product_name=question.product.name if question.product else "",
                origin=CaseOrigin.ATTESTATION, reported_by=actor,
                product_complaint=attestation.product_complaint,
            )  # fmt: skip
            opened = True
            if attestation.product_complaint:
                _tell_quality(
                    case, where=where, endpoint="questions.detail", question_id=question.id
                )
        elif attestation.product_complaint:
            _mark_complaint(
                actor, case, where=where, endpoint="questions.detail", question_id=question.id
            )
    return _record(
        actor, attestation, at=at, case=case, opened=opened, question_id=question.id, on=on
    )


# --- call notes ----------------------------------------------------------------------------------
def attest_call_note(
    actor: User,
    note: CallNote,
    attestation: Attestation,
    *,
    at: dt.datetime,
    text: str,
    ref: str,
) -> SafetyAttestation:
    """Record the author's attestation about an interaction they recorded (``note``), in the
    CALLER's transaction (the note's; never commits): did the HCP say anything that may be an
    adverse event or a product complaint? ``text`` is the note's words as PV gets them and
    ``ref`` the note's reference.

    A "yes" opens a PV case (source call note, origin attestation, reporter the HCP, day zero
    when the interaction took place) unless the note already has an open or acknowledged one
    (automatic detection may have opened it a moment before); a product complaint marks the case
    and tells Quality. Audit: ``safety.attest`` (and ``pv_case.open`` or ``pv_case.update``).
    """
    case: PvCase | None = None
    opened = False
    if attestation.any:
        where = f"call note {ref}"
        case = _live_case(PvCase.call_note_id == note.id)
        if case is None:
            said = _said(attestation.adverse_event, attestation.product_complaint)
            products = list(note.product_ids or [])
            product = db.session.get(Product, products[0]) if len(products) == 1 else None
            case = safety.open_case(
                actor, source=safety.CaseSource.CALL_NOTE, text=text,
                reasons=[f"Attested on recording the interaction by {_who(actor)}: {said}"],
                reporter=note.hcp, received_at=note.occurred_at, source_ref=ref,
                call_note_id=note.id, product_id=product.id if product else None,
                product_name=product.name if product else "",
                origin=CaseOrigin.ATTESTATION, reported_by=actor,
                product_complaint=attestation.product_complaint,
            )  # fmt: skip
            opened = True
            if attestation.product_complaint:
                _tell_quality(case, where=where, endpoint="hcps.detail", hcp_id=note.hcp_id)
        elif attestation.product_complaint:
            _mark_complaint(actor, case, where=where, endpoint="hcps.detail", hcp_id=note.hcp_id)
    return _record(
        actor, attestation, at=at, case=case, opened=opened, call_note_id=note.id,
        call_note=note.id,
    )  # fmt: skip


def attestations_of_question(actor: User, question: Question) -> list[SafetyAttestation]:
    """Who attested what about ``question``, oldest first (empty for those who may not see)."""
    if not policy.can_view_question_attestations(actor, question):
        return []
    return list(
        db.session.scalars(
            select(SafetyAttestation)
            .where(SafetyAttestation.question_id == question.id)
            .order_by(SafetyAttestation.at, SafetyAttestation.id)
        )
    )


# --- one-click reports ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Report:
    """A colleague's report: the case PV works, and whether this report opened it."""

    case: PvCase
    created: bool

    @property
    def message(self) -> str:
        if self.created:
            return f"Reported to Pharmacovigilance as {self.case.reference}."
        return (
            f"Pharmacovigilance already has these words as {self.case.reference}: your report "
            "was added to that case."
        )


def _refuse_reporter(actor: User) -> None:
    if policy.is_read_only(actor):
        policy.require(False, "Compliance reads and changes nothing: it does not report to PV.")
    policy.require(
        policy.can_report_to_pv(actor), "Reporting to Pharmacovigilance is for the company's staff."
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


@dataclasses.dataclass(frozen=True)
class _Source:
    """The words a colleague reports, where they were said, and how to find a case for them."""

    kind: safety.CaseSource
    text: str
    reporter: User
    received_at: dt.datetime
    ref: str
    match: ColumnElement[bool]
    links: dict[str, Any]


def _question_source(actor: User, question_id: Any, entry_id: Any) -> _Source:
    question = db.session.get(Question, question_id) if _is_id(question_id) else None
    policy.require_visible(
        question is not None and policy.can_view_question(actor, question), "That question"
    )
    assert question is not None
    _refuse_reporter(actor)
    policy.require(policy.can_report_question_to_pv(actor, question))
    product = {
        "question_id": question.id,
        "product_id": question.product_id,
        "product_name": question.product.name if question.product else "",
    }
    if entry_id is None:
        return _Source(
            kind=safety.CaseSource.QUESTION, text=question.text, reporter=question.hcp,
            received_at=question.created_at, ref=question.reference,
            match=(PvCase.question_id == question.id) & PvCase.entry_id.is_(None), links=product,
        )  # fmt: skip
    entry = db.session.get(QuestionEntry, entry_id) if _is_id(entry_id) else None
    policy.require_visible(
        entry is not None and policy.can_report_question_entry_to_pv(actor, question, entry),
        "That part of the question",
    )
    assert entry is not None
    return _Source(
        kind=safety.CaseSource.FOLLOW_UP
        if entry.kind is EntryKind.FOLLOW_UP
        else safety.CaseSource.QUESTION,
        text=entry.body,
        reporter=entry.author,
        received_at=entry.created_at,
        ref=question.reference,
        match=PvCase.entry_id == entry.id,
        links={**product, "entry_id": entry.id},
    )


def _message_source(actor: User, message_id: Any) -> _Source:
    from chat.models import Conversation, Message, MessageKind

    message = db.session.get(Message, message_id) if _is_id(message_id) else None
    conversation = (
        db.session.get(Conversation, message.conversation_id) if message is not None else None
    )
    policy.require_visible(
        conversation is not None and policy.can_view_conversation(actor, conversation),
        "That message",
    )
    assert message is not None and conversation is not None
    _refuse_reporter(actor)
    policy.require(
        policy.can_report_chat_message_to_pv(actor, conversation),
        "Only the colleague who takes part in this chat can report its messages.",
    )
    if message.kind is not MessageKind.TEXT:
        raise InvalidInput("A shared material is approved content: report what was written.")
    return _Source(
        kind=safety.CaseSource.CHAT, text=message.body, reporter=message.sender,
        received_at=message.sent_at, ref=f"C-{conversation.id}#{message.seq}",
        match=PvCase.message_id == message.id,
        links={"conversation_id": conversation.id, "message_id": message.id},
    )  # fmt: skip


@transactional
def report_to_pv(
    actor: User,
    *,
    question_id: int | None = None,
    entry_id: int | None = None,
    message_id: int | None = None,
    note: str = "",
) -> Report:
    """Report an HCP's words to Pharmacovigilance at once: a question's text (``question_id``),
    one of its follow-ups (and ``entry_id``), or a chat message (``message_id``).

    Any staff member who may read those words may report them (a rep, the commercial questions
    they can open; in chat, its staff participant); the HCP and compliance may not
    (``PermissionDenied``); words one may not read do not exist (``NotFound``). Opens a case on
    the adverse-event clock from when the words were received (origin "staff report", the
    colleague named, the exact text, linked to its source), unless an open or acknowledged case
    already links to exactly those words: then that case is returned (idempotent) and the report
    is added to its reasons. ``note`` (optional) is the colleague's word to PV.
    Audit: ``pv_case.report`` (and ``pv_case.open``). Notifies PV of a new case. One
    unit of work.
    """
    if (message_id is None) == (question_id is None) or (entry_id is not None and message_id):
        raise InvalidInput("Say which words to report: a question, a follow-up or a message.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Keep the note under {MAX_NOTE:,} characters.", field="note")
    source = (
        _message_source(actor, message_id)
        if message_id is not None
        else _question_source(actor, question_id, entry_id)
    )
    said = f"Reported by {_who(actor)}"
    case = _live_case(source.match)
    created = case is None
    if case is None:
        case = safety.open_case(
            actor, source=source.kind, text=source.text, reasons=[said],
            reporter=source.reporter, received_at=source.received_at, source_ref=source.ref,
            origin=CaseOrigin.STAFF_REPORT, reported_by=actor, **source.links,
        )  # fmt: skip
    else:
        case.reasons = [*(case.reasons or []), f"Also {said[0].lower()}{said[1:]}"]
    if note:
        # The note may describe the patient: it stays with the case, not in the audit trail.
        case.reasons = [*(case.reasons or []), f"Note from {actor.name}: {note}"]
    audit.record(
        actor, "pv_case.report", case, source=source.kind.value, ref=source.ref,
        existing=not created, note=bool(note),
        **{k: v for k, v in source.links.items() if k.endswith("_id") and k != "product_id"},
    )  # fmt: skip
    return Report(case=case, created=created)


# --- chat ----------------------------------------------------------------------------------------
def attestation_period() -> dt.timedelta:
    """How long a chat may stay open before its staff participant attests again."""
    return dt.timedelta(days=int(current_app.config["SAFETY_ATTESTATION_DAYS"]))


def _due_clause(now: dt.datetime) -> ColumnElement[bool]:
    """SQL: the conversation has messages no attestation covers yet, and it has ended (or is
    not active), or the last attestation, or the first message it does not cover, is older than
    the period. Reads the conversation row and one message by its unique (conversation, seq)."""
    from chat.models import Conversation, ConversationState, Message

    cutoff = now - attestation_period()
    first_unattested = (
        select(Message.sent_at)
        .where(
            Message.conversation_id == Conversation.id,
            Message.seq == Conversation.attested_seq + 1,
        )
        .correlate(Conversation)
        .scalar_subquery()
    )
    return (Conversation.last_seq > Conversation.attested_seq) & or_(
        Conversation.state != ConversationState.ACTIVE,
        Conversation.attested_at < cutoff,
        first_unattested < cutoff,
    )


def conversations_awaiting_attestation(
    actor: User, *, now: dt.datetime | None = None, limit: int | None = None
) -> list[Conversation]:
    """The actor's conversations (as staff participant) whose safety attestation is due: ended
    with messages no attestation covers, or open with such messages and a last attestation (or
    first uncovered message) older than ``SAFETY_ATTESTATION_DAYS``. Oldest first, the first
    ``limit`` of them (with their HCP loaded); :func:`awaiting_attestation` counts all too."""
    return awaiting_attestation(actor, now=now, limit=limit)[0]


def awaiting_attestation(
    actor: User, *, now: dt.datetime | None = None, limit: int | None = None
) -> tuple[list[Conversation], int]:
    """:func:`conversations_awaiting_attestation`, and how many there are in all, in one
    statement (the count rides along each row: the staff home asks on every visit, and a rep
    has 1,500 chats at a year of data)."""
    from chat.models import Conversation

    if not policy.is_staff(actor):
        return [], 0
    rows = db.session.execute(
        select(Conversation, func.count().over())
        .options(joinedload(Conversation.hcp))
        .where(Conversation.staff_id == actor.id, _due_clause(now or utcnow()))
        .order_by(Conversation.last_message_at, Conversation.id)
        .limit(limit)
    ).all()
    return [conversation for conversation, _total in rows], int(rows[0][1]) if rows else 0


def attestation_due(actor: User, conversation_id: int, *, now: dt.datetime | None = None) -> bool:
    """Whether ``actor`` owes an attestation for this conversation now (the chat page's notice),
    by the same rule as :func:`conversations_awaiting_attestation`."""
    from chat.models import Conversation

    if not policy.is_staff(actor):
        return False
    found = db.session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id,
            Conversation.staff_id == actor.id,
            _due_clause(now or utcnow()),
        )
    )
    return found is not None


def _conversation(actor: User, conversation_id: Any) -> Conversation:
    from chat.models import Conversation

    found = db.session.get(Conversation, conversation_id) if _is_id(conversation_id) else None
    policy.require_visible(
        found is not None and policy.can_view_conversation(actor, found), "That conversation"
    )
    assert found is not None
    return found


def _attestable(actor: User, conversation_id: Any) -> Conversation:
    conversation = _conversation(actor, conversation_id)
    policy.require_visible(policy.can_attest_conversation(actor, conversation), "That page")
    return conversation


def unattested_messages(actor: User, conversation_id: Any) -> tuple[Conversation, list[Message]]:
    """What the staff participant attests for next: the messages after the last attestation
    (at most ``ATTEST_PAGE``), for the attest page. ``NotFound`` for anyone else."""
    from chat.models import Message

    conversation = _attestable(actor, conversation_id)
    messages = db.session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.seq > conversation.attested_seq,
        )
        .order_by(Message.seq)
        .limit(ATTEST_PAGE)
    ).all()
    return conversation, list(messages)


def _chat_text(conversation: Conversation, messages: Sequence[Message]) -> str:
    def line(m: Message) -> str:
        who = "HCP" if m.sender_id == conversation.hcp_id else m.sender.role.label
        marks = " (deleted since)" if m.deleted_at else " (edited since)" if m.edited_at else ""
        return f"#{m.seq} · {_when(m.sent_at)} · {m.sender.name} ({who}){marks}:\n{m.body}"

    return "\n\n".join(line(m) for m in messages)


@transactional
def attest_conversation(
    actor: User,
    conversation_id: Any,
    *,
    adverse_event: bool,
    product_complaint: bool,
    through_seq: Any,
    now: dt.datetime | None = None,
) -> SafetyAttestation:
    """The staff participant attests for the chat's messages after the last attestation up to
    ``through_seq`` (the last one they saw): did they hold an adverse event or a product
    complaint?

    ``through_seq`` must be after the last attestation (else ``Conflict``: attested already,
    perhaps in another window) and at most the last message (else ``InvalidInput``). Moves the
    conversation's ``attested_seq``/``attested_at``. A "yes" opens a PV case (origin
    attestation, the HCP's messages of that range, linked to the conversation) unless PV has an
    open or acknowledged case for one of those messages; a complaint also tells Quality. Only
    the staff participant may attest (others: ``NotFound``). Audit: ``safety.attest`` (and
    ``pv_case.open``). One unit of work.
    """
    from chat.models import Conversation, Message

    conversation = _attestable(actor, conversation_id)
    if not isinstance(through_seq, int) or isinstance(through_seq, bool) or through_seq < 1:
        raise InvalidInput("Say up to which message you attest.", field="through_seq")
    previous = conversation.attested_seq
    if through_seq <= previous:
        raise Conflict(
            f"Messages up to #{previous} are already attested (perhaps from another window): "
            "reload the page to see what is still waiting."
        )
    if through_seq > conversation.last_seq:
        raise InvalidInput(
            f"This chat has no message #{through_seq}: reload the page and attest again.",
            field="through_seq",
        )
    at = now or utcnow()
    # Only one attestation moves the mark from ``previous``: a second window loses the race.
    moved = cast(
        CursorResult[Any],
        db.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation.id, Conversation.attested_seq == previous)
            .values(attested_seq=through_seq, attested_at=at)
            .execution_options(synchronize_session=False)
        ),
    )
    if moved.rowcount != 1:
        # Leaving the unit of work by this error rolls the transaction back.
        raise Conflict("Someone attested for these messages a moment ago: reload the page.")
    messages = list(
        db.session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.seq > previous,
                Message.seq <= through_seq,
            )
            .order_by(Message.seq)
        )
    )
    attestation = Attestation(adverse_event=adverse_event, product_complaint=product_complaint)
    case: PvCase | None = None
    opened = False
    if attestation.any:
        ids = [m.id for m in messages]
        case = _live_case(PvCase.conversation_id == conversation.id, PvCase.message_id.in_(ids))
        ref = f"C-{conversation.id}#{previous + 1}" + (
            f"-{through_seq}" if through_seq > previous + 1 else ""
        )
        where = f"a chat ({ref})"
        if case is None:
            from_hcp = [m for m in messages if m.sender_id == conversation.hcp_id]
            words = from_hcp or messages
            case = safety.open_case(
                actor, source=safety.CaseSource.CHAT, text=_chat_text(conversation, words),
                reasons=[
                    f"Attested for messages {ref} by {_who(actor)}: "
                    f"{_said(adverse_event, product_complaint)}"
                ],
                reporter=conversation.hcp, received_at=words[0].sent_at, source_ref=ref,
                origin=CaseOrigin.ATTESTATION, reported_by=actor,
                conversation_id=conversation.id, product_complaint=product_complaint,
            )  # fmt: skip
            opened = True
            if product_complaint:
                # Quality reads no chat: the case is PV's, who share what Quality needs.
                _tell_quality(case, where=where, endpoint="main.home")
        elif product_complaint:
            _mark_complaint(actor, case, where=where, endpoint="main.home")
    row = _record(
        actor, attestation, at=at, case=case, opened=opened,
        conversation_id=conversation.id, through_seq=through_seq, from_seq=previous + 1,
    )  # fmt: skip
    db.session.flush()
    db.session.refresh(conversation)  # the UPDATE above bypassed the loaded object
    return row


def ask_for_attestation(conversation: Conversation) -> None:
    """Tell the staff participant a chat that just ended waits for their attestation, in the
    CALLER's transaction (the end of the chat's; never commits). Nothing when every message is
    attested already."""
    if conversation.last_seq <= conversation.attested_seq:
        return
    notifications.notify(
        [conversation.staff],
        kind="safety_attestation",
        title=f"Your chat with {conversation.hcp.name} ended: attest for safety",
        endpoint="chat.attest",
        conversation_id=conversation.id,
    )


def attestations_of_conversation(actor: User, conversation_id: Any) -> list[SafetyAttestation]:
    """The attestations of a chat, oldest first: for compliance (and its staff participant)."""
    conversation = _conversation(actor, conversation_id)
    if not policy.can_view_conversation_attestations(actor, conversation):
        return []
    return list(
        db.session.scalars(
            select(SafetyAttestation)
            .where(SafetyAttestation.conversation_id == conversation.id)
            .order_by(SafetyAttestation.through_seq, SafetyAttestation.id)
        )
    )
