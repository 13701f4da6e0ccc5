"""A seeded history of one HCP: chats (one with nothing about safety, one with an adverse
event attested), questions (one answered and closed, one about an adverse event), a call note,
material views, preferences, notifications."""

from __future__ import annotations

import dataclasses
import datetime as dt

from chat import messages
from chat.models import Conversation
from content.models import EventKind, MaterialEvent
from portal.accounts.models import CallNote, ContactPreferences, InteractionKind, PlanNote
from portal.extensions import db
from portal.models import Notification, Role, Side, User, utcnow
from portal.questions.models import EntryKind, QuestionEntry, QuestionStatus
from portal.safety.models import AttestationSubject, SafetyAttestation
from tests.chat.factories import active_conversation, chat_pair, send
from tests.content.factories import make_material
from tests.factories import make_user
from tests.portal.questions.factories import ask


@dataclasses.dataclass
class History:
    hcp: User
    msl: User
    rep: User
    plain_chat: int  # attested, nothing about safety: removed on erasure
    safety_chat: int  # an adverse event attested: kept
    plain_question: int  # answered and closed, attested "nothing": removed
    safety_question: int  # an adverse event: kept
    call_note: int  # nothing about safety: removed


def _attest_chat(conversation: Conversation, staff: User, *, adverse_event: bool) -> None:
    db.session.refresh(conversation)
    conversation.attested_seq = conversation.last_seq
    db.session.add(
        SafetyAttestation(
            subject=AttestationSubject.CONVERSATION,
            conversation_id=conversation.id,
            through_seq=conversation.last_seq,
            actor_id=staff.id,
            adverse_event=adverse_event,
        )
    )
    db.session.commit()


def seed_history(**hcp_overrides: object) -> History:
    hcp, msl, territory = chat_pair(Role.MSL, **hcp_overrides)
    rep = make_user(Role.REP, territories=[territory])
    plain = active_conversation(hcp, msl)
    send(hcp, plain, "Could you send me the dosing summary?")
    first = send(msl, plain, "Here it is, as promised.")
    messages.edit_message(msl, first["id"], "Here it is.")
    mine = send(hcp, plain, "Thanks a lot, typo here")
    messages.edit_message(hcp, mine["id"], "Thanks a lot")
    _attest_chat(plain, msl, adverse_event=False)

    safety = active_conversation(hcp, rep)
    send(hcp, safety, "Hello, a quick question about samples.")
    _attest_chat(safety, rep, adverse_event=True)

    closed = ask(hcp, text="What is the usual dose for adults?", category="dosing")
    db.session.add(
        QuestionEntry(
            question_id=closed.id,
            author_id=msl.id,
            kind=EntryKind.REPLY,
            body="<p>The usual dose is on the label.</p>",
            side=Side.MEDICAL,
        )
    )
    db.session.add(
        SafetyAttestation(
            subject=AttestationSubject.QUESTION,
            question_id=closed.id,
            actor_id=msl.id,
            adverse_event=False,
        )
    )
    closed.status = QuestionStatus.CLOSED
    closed.closed_at = utcnow()
    db.session.commit()
    harmed = ask(
        hcp,
        text="My patient was hospitalised with a severe rash after the second dose.",
        category="adverse_event",
    )

    note = CallNote(
        hcp_id=hcp.id,
        author_id=msl.id,
        side=Side.MEDICAL,
        kind=InteractionKind.VISIT,
        occurred_at=utcnow() - dt.timedelta(days=3),
        summary="Discussed the new study; interested in renal data.",
    )
    db.session.add(note)
    db.session.add(
        PlanNote(hcp_id=hcp.id, author_id=msl.id, side=Side.MEDICAL, text="Bring renal data.")
    )
    material = make_material()
    db.session.add(
        MaterialEvent(
            material_id=material.id, family_id=material.family_id, user_id=hcp.id,
            kind=EventKind.VIEW,
        )
    )  # fmt: skip
    db.session.add(
        ContactPreferences(hcp_id=hcp.id, channels=["email", "phone"], cap=4, chosen=True)
    )
    db.session.add(
        Notification(user_id=hcp.id, kind="test", title="Your question was answered", url="/q")
    )
    db.session.commit()
    return History(
        hcp=hcp, msl=msl, rep=rep, plain_chat=plain.id, safety_chat=safety.id,
        plain_question=closed.id, safety_question=harmed.id, call_note=note.id,
    )  # fmt: skip
