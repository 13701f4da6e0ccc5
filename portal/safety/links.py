"""What links a record to safety: one definition, as SQL clauses, for everyone who must keep
such records (the retention purge, :mod:`portal.retention.purge`; an erasure,
:mod:`portal.privacy.erase`).

A record is *safety-linked* when a PV case came from it, a colleague attested that it held an
adverse event or a product complaint, the detector flagged it, or it was classified or routed as
an adverse event or quality matter. Each function returns a clause correlated to its model's
row in the enclosing query (``select(Conversation.id).where(conversation_safety_linked())``).

The *awaiting attestation* clauses are a different question: words nobody has attested for
safety yet (an open question, chat messages after the last attestation). Safety errs on the
side of keeping those until a colleague has looked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, or_, select

from chat.models import Conversation, Message
from portal.accounts.models import CallNote, Meeting
from portal.models import TeamKey
from portal.questions.models import Category, Question, QuestionEntry, QuestionStatus
from portal.safety.models import PvCase, SafetyAttestation

SAFETY_CATEGORIES = (Category.ADVERSE_EVENT, Category.QUALITY)
SAFETY_TEAMS = (TeamKey.PHARMACOVIGILANCE, TeamKey.QUALITY)
# PvCase.source of a case opened from a meeting request's topic (safety.CaseSource.MEETING);
# its source_ref is "M-<meeting id, six digits at least>".
MEETING_SOURCE = "meeting"


def _attested(column: Any, key: Any) -> Any:
    return select(SafetyAttestation.id).where(
        column == key,
        or_(SafetyAttestation.adverse_event, SafetyAttestation.product_complaint),
    )


def conversation_cases() -> ColumnElement[bool]:
    """PV cases of the conversation in the enclosing query (by the conversation or by one of
    its messages): a clause on :class:`PvCase`."""
    messages = select(Message.id).where(Message.conversation_id == Conversation.id)
    return or_(PvCase.conversation_id == Conversation.id, PvCase.message_id.in_(messages))


def conversation_safety_linked() -> ColumnElement[bool]:
    """A PV case, an adverse-event or complaint attestation, or a flagged message."""
    # A flag is a non-empty JSON list of strings: its text holds a double quote.
    flagged = select(Message.id).where(
        Message.conversation_id == Conversation.id, cast(Message.flags, String).like('%"%')
    )
    return or_(
        exists().where(conversation_cases()),
        exists(_attested(SafetyAttestation.conversation_id, Conversation.id)),
        exists(flagged),
    )


def question_cases() -> ColumnElement[bool]:
    """PV cases of the question in the enclosing query (by the question or one of its
    entries): a clause on :class:`PvCase`."""
    entries = select(QuestionEntry.id).where(QuestionEntry.question_id == Question.id)
    return or_(PvCase.question_id == Question.id, PvCase.entry_id.in_(entries))


def question_safety_linked() -> ColumnElement[bool]:
    """An AE flag, an adverse-event or quality category or owning team, a PV case, or an
    adverse-event or complaint attestation."""
    return or_(
        Question.ae_flag.is_(True),
        Question.category.in_(SAFETY_CATEGORIES),
        Question.owner_team.in_(SAFETY_TEAMS),
        exists().where(question_cases()),
        exists(_attested(SafetyAttestation.question_id, Question.id)),
    )


def call_note_safety_linked() -> ColumnElement[bool]:
    """A PV case from the note, or an adverse-event or complaint attestation on it."""
    return or_(
        exists().where(PvCase.call_note_id == CallNote.id),
        exists(_attested(SafetyAttestation.call_note_id, CallNote.id)),
    )


def meeting_cases() -> ColumnElement[bool]:
    """PV cases opened from the topic of the meeting in the enclosing query: a clause on
    :class:`PvCase` (the case names the meeting by ``source_ref``, "M-000042")."""
    number = func.ltrim(func.substr(PvCase.source_ref, 3), "0")
    return and_(
        PvCase.source == MEETING_SOURCE,
        PvCase.source_ref.like("M-%"),
        number == cast(Meeting.id, String),
    )


def meeting_safety_linked() -> ColumnElement[bool]:
    """A PV case opened from the meeting's topic."""
    return exists().where(meeting_cases())


def conversation_awaiting_attestation() -> ColumnElement[bool]:
    """Messages after the last safety attestation."""
    return Conversation.attested_seq < Conversation.last_seq


def question_awaiting_attestation() -> ColumnElement[bool]:
    """Neither answered nor closed: nobody has attested for safety yet."""
    return Question.status.in_((QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS))
