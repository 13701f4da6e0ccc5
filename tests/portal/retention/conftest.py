"""Records of each kind made the way the portal makes them, at a moment the test chooses, and
a way to ask whether they are still there after a purge."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from sqlalchemy import func, select

from chat import consent as chat_consent
from chat.models import Conversation, Message, MessageRevision
from content.models import EventKind, MaterialEvent, SearchTerm
from portal import audit
from portal.extensions import db
from portal.models import (
    AuditRecord,
    Job,
    JobState,
    Notification,
    OutboxMail,
    Role,
    User,
    UserSession,
)
from portal.questions import work
from portal.questions.models import Question, QuestionEntry
from portal.records.models import ExportChunk, ExportRun, ExportStatus
from portal.retention import holds
from portal.retention.models import HoldScope, RecordKind
from portal.safety.models import PvCase, PvCaseStatus
from portal.services import sessions
from tests.chat.factories import active_conversation, chat_pair, send
from tests.content.factories import make_material
from tests.factories import make_hcp, make_user, unique
from tests.portal.questions.factories import ask
from tests.portal.safety.factories import open_case

# Where every record is made: a fixed moment, so that periods land on known days.
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def at(moment: dt.datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


def DAY_AFTER(kind: RecordKind) -> dt.datetime:
    """The day after a record of ``kind`` made at ``T0`` is past its period."""
    from portal.retention.periods import current_periods

    return T0 + dt.timedelta(days=current_periods()[kind] + 1)


def count(model: type, *where: object) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@dataclasses.dataclass
class Made:
    """A record of one kind and who it is about; ``exists()`` asks the database now."""

    kind: RecordKind
    exists: Callable[[], bool]
    person: User | None = None


# --- the makers: each makes one record of its kind, ended / finished "now" -----------------------
def ended_conversation(*, hcp: User | None = None) -> tuple[Conversation, User]:
    """A chat with an edited message, ended by the HCP; returns it and its HCP."""
    if hcp is None:
        hcp, staff, _territory = chat_pair()
    else:
        staff = make_user(Role.MSL, territories=hcp.territories)
    conversation = active_conversation(hcp, staff)
    send(hcp, conversation, "Is there a paediatric formulation?")
    sent = send(staff, conversation, "Not yet; I will send the study.")
    db.session.add(MessageRevision(message_id=sent["id"], kind="edit", previous_body="Not yet."))
    db.session.commit()
    chat_consent.end_chat(hcp, conversation.id)
    db.session.commit()
    return conversation, hcp


def make_conversation() -> Made:
    conversation, hcp = ended_conversation()
    cid = conversation.id
    return Made(
        RecordKind.CONVERSATIONS,
        lambda: (
            count(Conversation, Conversation.id == cid) == 1
            and count(Message, Message.conversation_id == cid) == 2
        ),
        hcp,
    )


def closed_question(*, hcp: User | None = None, **overrides: object) -> Question:
    hcp = hcp or make_hcp()
    question = ask(hcp, **overrides)
    work.close_question(hcp, question.id)
    db.session.commit()
    return question


def make_question() -> Made:
    question = closed_question()
    qid = question.id
    return Made(
        RecordKind.QUESTIONS,
        lambda: (
            count(Question, Question.id == qid) == 1
            and count(QuestionEntry, QuestionEntry.question_id == qid) >= 0
        ),
        question.hcp,
    )


def make_material_view() -> Made:
    hcp = make_hcp()
    material = make_material()
    event = MaterialEvent(
        material_id=material.id, family_id=material.family_id, user_id=hcp.id, kind=EventKind.VIEW
    )
    db.session.add(event)
    db.session.commit()
    eid = event.id
    return Made(
        RecordKind.MATERIAL_VIEWS, lambda: count(MaterialEvent, MaterialEvent.id == eid) == 1, hcp
    )


def make_notification() -> Made:
    hcp = make_hcp()
    note = Notification(user_id=hcp.id, kind="test", title="Something happened", url="/")
    db.session.add(note)
    db.session.commit()
    nid = note.id
    return Made(
        RecordKind.NOTIFICATIONS, lambda: count(Notification, Notification.id == nid) == 1, hcp
    )


def make_session() -> Made:
    hcp = make_hcp()
    token = sessions.start(hcp, ip="192.0.2.1", user_agent="Retention/1.0")
    db.session.commit()
    sid = sessions.hash_token(token)
    return Made(RecordKind.SESSIONS, lambda: count(UserSession, UserSession.id == sid) == 1, hcp)


def make_mail() -> Made:
    hcp = make_hcp()
    mail = OutboxMail(to=hcp.email, subject="Hello", body="A link", sent_at=T0)
    db.session.add(mail)
    db.session.commit()
    mid = mail.id
    return Made(RecordKind.MAIL_OUTBOX, lambda: count(OutboxMail, OutboxMail.id == mid) == 1, hcp)


def make_search_term() -> Made:
    query = unique("renal dose ")
    db.session.add(SearchTerm(day=T0.date(), query=query, searches=3, no_result=1))
    db.session.commit()
    return Made(RecordKind.SEARCH_TERMS, lambda: count(SearchTerm, SearchTerm.query == query) == 1)


def make_job() -> Made:
    job = Job(kind="mail.test", payload={}, state=JobState.DONE, finished_at=T0)
    db.session.add(job)
    db.session.commit()
    jid = job.id
    return Made(RecordKind.JOBS, lambda: count(Job, Job.id == jid) == 1)


def make_export() -> Made:
    run = ExportRun(
        status=ExportStatus.DONE, filters={}, finished_at=T0, file_name="export.zip",
        file_bytes=3, file_sha256="0" * 64,
    )  # fmt: skip
    db.session.add(run)
    db.session.flush()
    db.session.add(ExportChunk(run_id=run.id, part=0, data=b"zip"))
    db.session.commit()
    rid = run.id
    return Made(RecordKind.EXPORT_FILES, lambda: count(ExportChunk, ExportChunk.run_id == rid) == 1)


def sign_in_record(person: User, action: str = "auth.login", **details: object) -> int:
    """An audit record of ``person`` signing in from an address; returns its id."""
    record = audit.record(person, action, person, ip="203.0.113.7", **details)
    db.session.commit()
    return record.id


def personal_of(record_id: int) -> dict[str, object] | None:
    """The record's personal part as stored now (``None``: erased)."""
    return db.session.scalar(select(AuditRecord.personal).where(AuditRecord.id == record_id))


def make_sign_in() -> Made:
    hcp = make_hcp()
    rid = sign_in_record(hcp)
    return Made(RecordKind.SIGN_IN_DETAILS, lambda: personal_of(rid) is not None, hcp)


MAKERS: dict[RecordKind, Callable[[], Made]] = {
    RecordKind.CONVERSATIONS: make_conversation,
    RecordKind.QUESTIONS: make_question,
    RecordKind.MATERIAL_VIEWS: make_material_view,
    RecordKind.NOTIFICATIONS: make_notification,
    RecordKind.SESSIONS: make_session,
    RecordKind.MAIL_OUTBOX: make_mail,
    RecordKind.SEARCH_TERMS: make_search_term,
    RecordKind.JOBS: make_job,
    RecordKind.EXPORT_FILES: make_export,
    RecordKind.SIGN_IN_DETAILS: make_sign_in,
}


# --- safety links --------------------------------------------------------------------------------
def case_on_conversation(conversation: Conversation, *, closed_at: dt.datetime | None) -> PvCase:
    """A PV case opened from the conversation's first message, closed at ``closed_at``."""
    message = db.session.scalar(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
    )
    assert message is not None
    case = open_case(
        reporter=conversation.hcp, conversation_id=conversation.id, message_id=message.id,
        received_at=T0,
    )  # fmt: skip
    _close(case, closed_at)
    return case


def case_on_question(question: Question, *, closed_at: dt.datetime | None) -> PvCase:
    case = open_case(reporter=question.hcp, question_id=question.id, received_at=T0)
    _close(case, closed_at)
    return case


def _close(case: PvCase, closed_at: dt.datetime | None) -> None:
    if closed_at is not None:
        case.status = PvCaseStatus.CLOSED
        case.closed_at = closed_at
        db.session.commit()


# --- people --------------------------------------------------------------------------------------
@pytest.fixture
def admin() -> User:
    return make_user(Role.ADMIN)


@pytest.fixture
def compliance() -> User:
    return make_user(Role.COMPLIANCE)


def hold(compliance: User, person: User | None = None, reason: str = "Litigation 2026-17"):
    if person is None:
        return holds.place_hold(compliance, scope=HoldScope.EVERYTHING, reason=reason)
    return holds.place_hold(compliance, scope=HoldScope.PERSON, reason=reason, email=person.email)
