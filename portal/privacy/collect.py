"""Everything the portal holds about one HCP, as one plain JSON document (the right of access).

:func:`collect_person` reads; :func:`download` is the service an entry point calls (policy,
audit). Messages, consent periods and questions use the supervisory export's serializers
(:mod:`portal.records.serialize`), so a record reads the same in both.

What is in it, and what is not (docs: /tmp/docs17_c.md, merged into docs/records.md):

- everything the HCP gave or did: profile, verification, consents (chat consent periods with
  the wording agreed to, the consent wording of each question, contact preferences and their
  history), questions with replies, conversations and messages (their own with the originals of
  their edits; what was said to them as they saw it), material views and bookmarks, sessions
  and sign-ins, notifications, meetings, shared materials, audit records about them;
- what staff wrote about them: internal question notes, call notes, plan notes and the contact
  ledger are personal data about them, so they are included (the firewall separates staff from
  staff; it does not hide from a person what the company records about them);
- PV cases are listed by reference with the HCP's own words and PV's questions to them, never
  the patient's details or PV's assessment (a third party's health data).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import selectinload

from chat.models import (
    ConsentPeriod,
    Conversation,
    Invitation,
    Message,
    MessageRevision,
    ReadState,
)
from content.models import Bookmark, MaterialEvent
from portal import audit, policy
from portal.accounts.models import (
    CallNote,
    Contact,
    ContactPreferences,
    MaterialShare,
    Meeting,
    PlanNote,
    PreferenceChange,
)
from portal.extensions import db
from portal.models import AuditRecord, Notification, TwoFactor, User, UserSession
from portal.questions.models import Question, QuestionEntry, QuestionEvent
from portal.records.serialize import (
    iso,
    person_ref,
    serialize_consent_period,
    serialize_message,
    serialize_question,
)
from portal.safety.models import PvCase, PvFollowUp, SafetyAttestation
from portal.unit_of_work import transactional

FORMAT_VERSION = 1


def _value(value: Any) -> Any:
    return None if value is None else str(value)


def _people(ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = db.session.scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: person_ref(u) or {"id": u.id} for u in users}


def _profile(user: User) -> dict[str, Any]:
    profile = user.hcp_profile
    data: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": _value(user.role),
        "created_at": iso(user.created_at),
        "email_confirmed_at": iso(user.email_confirmed_at),
        "last_login_at": iso(user.last_login_at),
        "locale": user.locale,
        "timezone": user.timezone,
        "suspended": user.suspended,
        "two_factor": db.session.get(TwoFactor, user.id) is not None,
    }
    if profile is not None:
        data["professional"] = {
            "profession": _value(profile.profession),
            "specialty": profile.specialty,
            "institution": profile.institution,
            "country": profile.country,
            "postal_code": profile.postal_code,
            "npi": profile.npi,
            "licence_number": profile.licence_number,
            "territory": profile.territory.name if profile.territory else None,
        }
        data["verification"] = {
            "status": _value(profile.verification),
            "decided_at": iso(profile.verified_at),
            "decided_by": person_ref(profile.verified_by),
            "rejection_reason": profile.rejection_reason,
        }
    return data


def _consents(user: User, people: dict[int, dict[str, Any]]) -> dict[str, Any]:
    periods = db.session.scalars(
        select(ConsentPeriod)
        .where(ConsentPeriod.hcp_id == user.id)
        .options(selectinload(ConsentPeriod.wording))
        .order_by(ConsentPeriod.id)
    ).all()
    preferences = db.session.get(ContactPreferences, user.id)
    changes = db.session.scalars(
        select(PreferenceChange)
        .where(PreferenceChange.hcp_id == user.id)
        .order_by(PreferenceChange.id)
    ).all()
    return {
        "chat": [
            serialize_consent_period(p, hcp=people.get(p.hcp_id), staff=people.get(p.staff_id))
            for p in periods
        ],
        "contact_preferences": None
        if preferences is None
        else {
            "channels": list(preferences.channels or []),
            "product_ids": list(preferences.product_ids or []),
            "areas": list(preferences.areas or []),
            "quiet_start": preferences.quiet_start,
            "quiet_end": preferences.quiet_end,
            "cap": preferences.cap,
            "paused_until": iso(preferences.paused_until),
            "chosen": preferences.chosen,
            "updated_at": iso(preferences.updated_at),
        },
        "contact_preference_history": [
            {
                "at": iso(c.at),
                "by": people.get(c.actor_id) if c.actor_id else None,
                "state": c.state,
            }
            for c in changes
        ],
    }


def _conversations(user: User, people: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    conversations = db.session.scalars(
        select(Conversation).where(Conversation.hcp_id == user.id).order_by(Conversation.id)
    ).all()
    theirs = select(Conversation.id).where(Conversation.hcp_id == user.id)
    # Three queries whatever the number of messages: the messages, the originals of the
    # person's own edits, and (in ``people``) who sent them.
    by_conversation: dict[int, list[Message]] = defaultdict(list)
    for message in db.session.scalars(
        select(Message).where(Message.conversation_id.in_(theirs)).order_by(Message.seq)
    ):
        by_conversation[message.conversation_id].append(message)
    revisions: dict[int, list[MessageRevision]] = defaultdict(list)
    own = select(Message.id).where(
        Message.conversation_id.in_(theirs), Message.sender_id == user.id
    )
    for revision in db.session.scalars(
        select(MessageRevision)
        .where(MessageRevision.message_id.in_(own))
        .order_by(MessageRevision.id)
    ):
        revisions[revision.message_id].append(revision)
    senders = _people({m.sender_id for ms in by_conversation.values() for m in ms} - set(people))
    result = []
    for conversation in conversations:
        shown = []
        for message in by_conversation[conversation.id]:
            mine = message.sender_id == user.id
            # Their own words with the originals of their edits; what was said to them as they
            # saw it (a colleague's deleted message reads as deleted).
            sender = people.get(message.sender_id) or senders.get(message.sender_id)
            data = serialize_message(
                message,
                sender=sender or {"id": message.sender_id},
                revisions=revisions.get(message.id, []),
                include_revisions=mine,
            )
            if not mine and message.deleted_at is not None:
                data["body"] = ""
            data.pop("flags", None)  # the safety detector's internal marks
            shown.append(data)
        result.append(
            {
                "id": conversation.id,
                "with": people.get(conversation.staff_id),
                "state": _value(conversation.state),
                "created_at": iso(conversation.created_at),
                "ended_at": iso(conversation.ended_at),
                "messages": shown,
            }
        )
    return result


def _questions(user: User, people: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    questions = db.session.scalars(
        select(Question)
        .where(Question.hcp_id == user.id)
        .options(selectinload(Question.consent_wording))
        .order_by(Question.id)
    ).all()
    mine = select(Question.id).where(Question.hcp_id == user.id)
    # A query per kind, never per question: entries (with their attachments), events,
    # attestations.
    entries: dict[int, list[QuestionEntry]] = defaultdict(list)
    for entry in db.session.scalars(
        select(QuestionEntry)
        .where(QuestionEntry.question_id.in_(mine))
        .options(selectinload(QuestionEntry.attachments))
        .order_by(QuestionEntry.id)
    ):
        entries[entry.question_id].append(entry)
    events: dict[int, list[QuestionEvent]] = defaultdict(list)
    for event in db.session.scalars(
        select(QuestionEvent).where(QuestionEvent.question_id.in_(mine)).order_by(QuestionEvent.id)
    ):
        events[event.question_id].append(event)
    attestations: dict[int, list[SafetyAttestation]] = defaultdict(list)
    for attestation in db.session.scalars(
        select(SafetyAttestation)
        .where(SafetyAttestation.question_id.in_(mine))
        .order_by(SafetyAttestation.id)
    ):
        if attestation.question_id is not None:
            attestations[attestation.question_id].append(attestation)
    result = []
    for question in questions:
        data = serialize_question(
            question,
            entries=entries[question.id],
            events=events[question.id],
            attestations=attestations[question.id],
            people=people,
            include_notes=True,
        )
        data["consent_wording"] = question.consent_wording.text
        result.append(data)
    return result


def _pv(user: User, people: dict[int, dict[str, Any]]) -> dict[str, Any]:
    follow_ups = db.session.scalars(
        select(PvFollowUp)
        .where(PvFollowUp.hcp_id == user.id)
        .options(selectinload(PvFollowUp.case))
        .order_by(PvFollowUp.id)
    ).all()
    cases = db.session.scalars(
        select(PvCase).where(or_(*_pv_links(user.id))).order_by(PvCase.id)
    ).all()
    return {
        "cases": [
            {
                "reference": case.reference,
                "source": case.source,
                "created_at": iso(case.created_at),
                "your_words": case.source_text,
            }
            for case in cases
        ],
        "follow_up_requests": [
            {
                "case": f.case.reference,
                "from": people.get(f.author_id),
                "asked_at": iso(f.created_at),
                "question": f.body,
                "answer": f.answer,
                "answered_at": iso(f.answered_at),
            }
            for f in follow_ups
        ],
    }


def _pv_links(user_id: int) -> list[Any]:
    """The PV cases that came from what ``user_id`` said (or reported)."""
    return [
        PvCase.reporter_id == user_id,
        PvCase.question_id.in_(select(Question.id).where(Question.hcp_id == user_id)),
        PvCase.conversation_id.in_(select(Conversation.id).where(Conversation.hcp_id == user_id)),
        PvCase.call_note_id.in_(select(CallNote.id).where(CallNote.hcp_id == user_id)),
    ]


def _about_them(user: User, people: dict[int, dict[str, Any]]) -> dict[str, Any]:
    notes = db.session.scalars(
        select(CallNote).where(CallNote.hcp_id == user.id).order_by(CallNote.id)
    ).all()
    plans = db.session.scalars(select(PlanNote).where(PlanNote.hcp_id == user.id)).all()
    contacts = db.session.scalars(
        select(Contact).where(Contact.hcp_id == user.id).order_by(Contact.id)
    ).all()
    shares = db.session.scalars(
        select(MaterialShare).where(MaterialShare.hcp_id == user.id).order_by(MaterialShare.id)
    ).all()
    meetings = db.session.scalars(
        select(Meeting).where(Meeting.hcp_id == user.id).order_by(Meeting.id)
    ).all()
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.hcp_id == user.id).order_by(Invitation.id)
    ).all()
    return {
        "call_notes": [
            {
                "id": n.id,
                "by": people.get(n.author_id),
                "kind": _value(n.kind),
                "occurred_at": iso(n.occurred_at),
                "requested_by_you": n.requested_by_hcp,
                "product_ids": list(n.product_ids or []),
                "topics": n.topics,
                "summary": n.summary,
                "follow_up": n.follow_up,
                "follow_up_due": n.follow_up_due.isoformat() if n.follow_up_due else None,
                "created_at": iso(n.created_at),
            }
            for n in notes
        ],
        "plan_notes": [
            {"by": people.get(p.author_id), "text": p.text, "updated_at": iso(p.updated_at)}
            for p in plans
        ],
        "contacts": [
            {
                "by": people.get(c.staff_id),
                "channel": _value(c.channel),
                "kind": _value(c.kind),
                "counted_against_your_cap": c.counted,
                "at": iso(c.at),
            }
            for c in contacts
        ],
        "shared_materials": [
            {
                "by": people.get(s.staff_id),
                "material_id": s.material_id,
                "note": s.note,
                "emailed": s.emailed,
                "shared_at": iso(s.created_at),
                "opened_at": iso(s.opened_at),
            }
            for s in shares
        ],
        "meetings": [
            {
                "with": people.get(m.staff_id),
                "asked_by_you": m.asked_by_hcp,
                "mode": _value(m.mode),
                "topic": m.topic,
                "slots": list(m.slots or []),
                "state": _value(m.state),
                "starts_at": iso(m.starts_at),
                "created_at": iso(m.created_at),
            }
            for m in meetings
        ],
        "chat_invitations": [
            {
                "from": people.get(i.staff_id),
                "note": i.note,
                "status": _value(i.status),
                "created_at": iso(i.created_at),
                "decided_at": iso(i.decided_at),
            }
            for i in invitations
        ],
    }


def _activity(user: User) -> dict[str, Any]:
    views = db.session.scalars(
        select(MaterialEvent).where(MaterialEvent.user_id == user.id).order_by(MaterialEvent.id)
    ).all()
    bookmarks = db.session.scalars(select(Bookmark).where(Bookmark.user_id == user.id)).all()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at)
    ).all()
    notifications = db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    ).all()
    read_states = db.session.scalars(select(ReadState).where(ReadState.user_id == user.id)).all()
    return {
        "material_views": [
            {
                "material_id": v.material_id,
                "family_id": v.family_id,
                "kind": _value(v.kind),
                "at": iso(v.at),
            }
            for v in views
        ],
        "bookmarks": [
            {"family_id": b.family_id, "created_at": iso(b.created_at)} for b in bookmarks
        ],
        "sessions": [
            {
                "started_at": iso(s.created_at),
                "last_seen_at": iso(s.last_seen_at),
                "ip": s.ip,
                "device": s.device,
                "ended_at": iso(s.revoked_at),
                "ended_because": s.revoked_reason,
            }
            for s in sessions
        ],
        "notifications": [
            {
                "kind": n.kind,
                "title": n.title,
                "url": n.url,
                "created_at": iso(n.created_at),
                "read_at": iso(n.read_at),
            }
            for n in notifications
        ],
        "chat_read_states": [
            {"conversation_id": r.conversation_id, "read_seq": r.read_seq} for r in read_states
        ],
    }


# Records the right of access does not reach: legal holds (the exception for legal claims) and
# an erasure kept pending by one (which would reveal the hold).
WITHHELD_ACTIONS = ("privacy.erasure_held",)
WITHHELD_PREFIXES = ("legal_hold.",)


def _withheld() -> ColumnElement[bool]:
    return or_(
        AuditRecord.action.in_(WITHHELD_ACTIONS),
        *(AuditRecord.action.startswith(p, autoescape=True) for p in WITHHELD_PREFIXES),
    )


def _actor(record: AuditRecord, user: User, actors: dict[int, User]) -> str:
    """Who acted, as the person reads it: themselves by name, a colleague by name and role
    (never by e-mail), the portal itself as "system"."""
    if record.actor_id is None:
        return "system"
    if record.actor_id == user.id:
        return user.name
    actor = actors.get(record.actor_id)
    if actor is None:
        return "staff"
    return f"{actor.name} ({actor.role.label})"


def _audit(user: User) -> dict[str, Any]:
    limit = int(current_app.config["PRIVACY_EXPORT_AUDIT_LIMIT"])
    about = or_(
        AuditRecord.actor_id == user.id,
        and_(AuditRecord.target_type == "users", AuditRecord.target_id == str(user.id)),
    )
    rows = db.session.scalars(
        select(AuditRecord)
        .where(about, not_(_withheld()))
        .order_by(AuditRecord.id.desc())
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    shown = list(reversed(rows[:limit]))
    wanted = {r.actor_id for r in shown if r.actor_id is not None and r.actor_id != user.id}
    actors = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}
        if wanted
        else {}
    )
    records = [
        {
            "id": r.id,
            "at": iso(r.at),
            "actor": _actor(r, user, actors),
            "action": r.action,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "details": r.shown_details,
        }
        for r in shown
    ]
    return {"records": records, "truncated": more, "limit": limit}


def collect_person(user: User) -> dict[str, Any]:
    """Everything the portal holds about ``user`` (an HCP), as one JSON-safe document. Reads
    only; never another person's data (every query is by the person's own id). Staff appear
    as references (id, role, name): who wrote or did something about the person."""
    calls = db.session.scalars(select(CallNote.author_id).where(CallNote.hcp_id == user.id))
    staff_ids: set[int | None] = set(calls)
    for column, owner in (
        (Conversation.staff_id, Conversation.hcp_id),
        (Contact.staff_id, Contact.hcp_id),
        (MaterialShare.staff_id, MaterialShare.hcp_id),
        (Meeting.staff_id, Meeting.hcp_id),
        (Invitation.staff_id, Invitation.hcp_id),
        (PlanNote.author_id, PlanNote.hcp_id),
        (PvFollowUp.author_id, PvFollowUp.hcp_id),
        (PreferenceChange.actor_id, PreferenceChange.hcp_id),
    ):
        staff_ids.update(db.session.scalars(select(column).where(owner == user.id).distinct()))
    people = _people({user.id, *staff_ids})
    questions = _questions(user, _people_of_questions(user, people))
    return {
        "format": "hcp-portal.personal-data",
        "version": FORMAT_VERSION,
        "generated_at": iso(dt.datetime.now(dt.UTC)),
        "profile": _profile(user),
        "consents": _consents(user, people),
        "conversations": _conversations(user, people),
        "questions": questions,
        "safety": _pv(user, people),
        "about_you": _about_them(user, people),
        "activity": _activity(user),
        "audit_trail": _audit(user),
    }


def _people_of_questions(user: User, people: dict[int, dict[str, Any]]) -> dict[int, Any]:
    mine = select(Question.id).where(Question.hcp_id == user.id)
    ids: set[int | None] = set(
        db.session.scalars(
            select(QuestionEntry.author_id).where(QuestionEntry.question_id.in_(mine))
        )
    )
    ids.update(
        db.session.scalars(
            select(QuestionEvent.actor_id).where(QuestionEvent.question_id.in_(mine))
        )
    )
    ids.update(db.session.scalars(select(Question.assignee_id).where(Question.hcp_id == user.id)))
    ids.update(
        db.session.scalars(
            select(SafetyAttestation.actor_id).where(SafetyAttestation.question_id.in_(mine))
        )
    )
    return {**_people(ids - set(people)), **people}


@dataclasses.dataclass(frozen=True)
class Download:
    data: dict[str, Any]

    def json_bytes(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, indent=2, sort_keys=False).encode()


@transactional
def download(actor: User | None, person: User, *, form: str) -> Download:
    """The personal-data download of ``person``: by the HCP themselves
    (:func:`portal.policy.can_use_data_rights`), or by the command line (``actor`` None: a data
    protection officer answering a request made another way). Anyone else: :class:`NotFound`.
    Audits ``privacy.exported`` (``form``: "json", "html" or "cli"; no personal data)."""
    if actor is not None:
        policy.require_visible(
            actor.id == person.id and policy.can_use_data_rights(actor), "That page"
        )
    elif not person.is_hcp:
        policy.require_visible(False, "That person")
    data = collect_person(person)
    audit.record(actor, "privacy.exported", person, form=form)
    return Download(data)
