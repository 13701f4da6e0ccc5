"""One plain, JSON-safe dict per kind of record, for anything that takes records out of the
portal: the supervisory export (``portal.records.export``) and an HCP's own download
(``portal.privacy``).

The names and keys here are a contract: exports written today are read by people and tools
later, and other packages import these functions. Add keys; never rename or remove one.

Each function takes the ORM object and, optionally, what it would otherwise load lazily
(revisions, entries, a sender's reference), so a caller reading in batches can load those for
a whole batch in one query and nothing is fetched row by row. Times are ISO 8601 in UTC, or
``None``; enums are their values; people are ``{"id", "role", "name"}`` references.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Row

from chat.models import ConsentPeriod, Message, MessageRevision
from portal.accounts.models import CallNote
from portal.models import User
from portal.questions.models import Question, QuestionEntry, QuestionEvent, reference_of
from portal.safety.models import PvCase, SafetyAttestation

PersonRef = dict[str, Any]


def iso(value: dt.datetime | None) -> str | None:
    """``value`` as ISO 8601 in UTC (``2026-01-02T03:04:05+00:00``), or ``None``."""
    if value is None:
        return None
    if value.tzinfo is dt.UTC:  # as UTCDateTime reads them: the common, fast case
        return value.isoformat()
    if value.tzinfo is None:  # stored times are UTC (UTCDateTime); be explicit about it
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def _value(value: Any) -> Any:
    """An enum's value (StrEnums are str already, but plain str keeps JSON output stable)."""
    return None if value is None else str(value)


def person_ref(user: User | None) -> PersonRef | None:
    """Who: ``{"id", "role", "name"}`` (the name as stored today: a pseudonym after erasure)."""
    if user is None:
        return None
    return {"id": user.id, "role": _value(user.role), "name": user.name}


def _known_ref(people: Mapping[int, PersonRef], user_id: int | None) -> PersonRef | None:
    # A person the caller loaded already, or their id alone (no query per record).
    if user_id is None:
        return None
    return people.get(user_id) or {"id": user_id}


def serialize_revision(revision: MessageRevision | Row[Any]) -> dict[str, Any]:
    """What a message said before an edit or a deletion (the model, or a row of its table)."""
    return {
        "id": revision.id,
        "kind": revision.kind,  # "edit" | "delete"
        "at": iso(revision.at),
        "previous_body": revision.previous_body,
    }


def serialize_message(
    message: Message | Row[Any],
    *,
    revisions: Iterable[MessageRevision] | None = None,
    sender: PersonRef | None = None,
    include_revisions: bool = True,
) -> dict[str, Any]:
    """A chat message with its sender and, oldest first, the originals its edits and deletion
    replaced (``revisions``; pass them pre-loaded, else ``message.revisions`` is read).

    ``message`` is the model or a row of its table (a batch reader's faster choice; then pass
    ``revisions`` and ``sender``). ``body`` is what the message says now (empty after a
    deletion); ``include_revisions=False`` gives the message as its readers saw it, without
    the originals.
    """
    data: dict[str, Any] = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sent_at": iso(message.sent_at),
        "edited_at": iso(message.edited_at),
        "deleted_at": iso(message.deleted_at),
        "sender": sender if sender is not None else person_ref(message.sender),
        "kind": _value(message.kind),
        "body": message.body,
        "material_id": message.material_id,
        "flags": list(message.flags or []),
    }
    if include_revisions:
        rows = message.revisions if revisions is None else revisions
        data["revisions"] = [serialize_revision(r) for r in sorted(rows, key=lambda r: r.id)]
    return data


def serialize_consent_period(
    period: ConsentPeriod,
    *,
    hcp: PersonRef | None = None,
    staff: PersonRef | None = None,
) -> dict[str, Any]:
    """A chat opt-in: who agreed, with whom, when, how, to which wording, and its withdrawal."""
    wording = period.wording
    return {
        "id": period.id,
        "conversation_id": period.conversation_id,
        "hcp": hcp if hcp is not None else {"id": period.hcp_id},
        "staff": staff if staff is not None else {"id": period.staff_id},
        "granted_at": iso(period.granted_at),
        "granted_via": period.granted_via,
        "withdrawn_at": iso(period.withdrawn_at),
        "withdrawn_via": period.withdrawn_via,
        "wording": {
            "id": period.wording_id,
            "purpose": wording.purpose,
            "version": wording.version,
            "text": wording.text,
        },
    }


def serialize_entry(entry: QuestionEntry, *, author: PersonRef | None = None) -> dict[str, Any]:
    """A question's follow-up, reply or internal note, with the materials attached to it."""
    return {
        "id": entry.id,
        "kind": _value(entry.kind),
        "author": author if author is not None else person_ref(entry.author),
        "side": _value(entry.side),
        "created_at": iso(entry.created_at),
        "body": entry.body,
        "attachments": [a.material_id for a in entry.attachments],
    }


def serialize_question_event(
    event: QuestionEvent, *, actor: PersonRef | None = None
) -> dict[str, Any]:
    """One step in a question's history (received, routed, assigned, answered, closed...)."""
    return {
        "id": event.id,
        "kind": _value(event.kind),
        "at": iso(event.at),
        "actor": actor if actor is not None else person_ref(event.actor),
        "team": _value(event.team),
        "detail": event.detail,
    }


def serialize_attestation(
    attestation: SafetyAttestation, *, actor: PersonRef | None = None
) -> dict[str, Any]:
    """A staff member's statement that an HCP's words did or did not hold an adverse event or a
    product complaint (for a question, a conversation up to ``through_seq``, or a call note)."""
    return {
        "id": attestation.id,
        "subject": _value(attestation.subject),
        "question_id": attestation.question_id,
        "conversation_id": attestation.conversation_id,
        "through_seq": attestation.through_seq,
        "call_note_id": attestation.call_note_id,
        "actor": actor if actor is not None else person_ref(attestation.actor),
        "adverse_event": attestation.adverse_event,
        "product_complaint": attestation.product_complaint,
        "case_id": attestation.case_id,
        "at": iso(attestation.at),
    }


def serialize_question(
    question: Question,
    *,
    entries: Iterable[QuestionEntry] | None = None,
    events: Iterable[QuestionEvent] | None = None,
    attestations: Iterable[SafetyAttestation] | None = None,
    people: Mapping[int, PersonRef] | None = None,
    include_notes: bool = True,
) -> dict[str, Any]:
    """A question with its thread (follow-ups, replies, internal notes), its routing decision
    and history, and the safety attestations made on it.

    ``entries``/``events`` default to the question's relationships; ``attestations`` defaults
    to none (they are not a relationship: pass them). ``people`` maps user ids to references
    already built (else each author is read through the relationship). ``include_notes=False``
    leaves out the internal notes.
    """
    people = people or {}

    def ref(user_id: int | None, loaded: Any) -> PersonRef | None:
        if user_id is None:
            return None
        return people.get(user_id) or person_ref(loaded())

    thread = question.entries if entries is None else entries
    history = question.events if events is None else events
    return {
        "id": question.id,
        "reference": reference_of(question.id),
        "hcp": ref(question.hcp_id, lambda: question.hcp),
        "product_id": question.product_id,
        "about_family_id": question.about_family_id,
        "category": _value(question.category),
        "channel": _value(question.channel),
        "urgency": _value(question.urgency),
        "text": question.text,
        "consent_wording_id": question.consent_wording_id,
        "status": _value(question.status),
        "owner_team": _value(question.owner_team),
        "assignee": ref(question.assignee_id, lambda: question.assignee),
        "routing": question.routing or {},
        "ae_flag": question.ae_flag,
        "off_label_flag": question.off_label_flag,
        "helpful": question.helpful,
        "created_at": iso(question.created_at),
        "due_at": iso(question.due_at),
        "escalated_at": iso(question.escalated_at),
        "first_response_at": iso(question.first_response_at),
        "answered_at": iso(question.answered_at),
        "closed_at": iso(question.closed_at),
        "entries": [
            serialize_entry(e, author=ref(e.author_id, lambda e=e: e.author))
            for e in sorted(thread, key=lambda e: e.id)
            if include_notes or str(e.kind) != "note"
        ],
        "events": [
            serialize_question_event(ev, actor=ref(ev.actor_id, lambda ev=ev: ev.actor))
            for ev in sorted(history, key=lambda ev: ev.id)
        ],
        "attestations": [
            serialize_attestation(a, actor=ref(a.actor_id, lambda a=a: a.actor))
            for a in sorted(attestations or [], key=lambda a: a.id)
        ],
    }


def serialize_pv_case(
    case: PvCase, *, people: Mapping[int, PersonRef] | None = None
) -> dict[str, Any]:
    """A PV case: what it links to (question and entry, conversation and message, call note),
    its four elements, seriousness, status and clock, and the follow-ups PV sent the HCP."""
    ref = functools.partial(_known_ref, people or {})
    return {
        "id": case.id,
        "reference": case.reference,
        "source": case.source,
        "source_ref": case.source_ref,
        "links": {
            "question_id": case.question_id,
            "entry_id": case.entry_id,
            "conversation_id": case.conversation_id,
            "message_id": case.message_id,
            "call_note_id": case.call_note_id,
        },
        "source_text": case.source_text,
        "reasons": list(case.reasons or []),
        "origin": _value(case.origin),
        "reporter_user": ref(case.reporter_id),
        "reported_by": ref(case.reported_by_id),
        "product_id": case.product_id,
        "product_complaint": case.product_complaint,
        "status": _value(case.status),
        "created_at": iso(case.created_at),
        "due_at": iso(case.due_at),
        "acknowledged_at": iso(case.acknowledged_at),
        "acknowledged_by": ref(case.acknowledged_by_id),
        "closed_at": iso(case.closed_at),
        "patient": case.patient,
        "reporter": case.reporter,
        "suspect_product": case.suspect_product,
        "event": case.event,
        "serious": case.serious,
        "seriousness": list(case.seriousness or []),
        "patient_initials": case.patient_initials,
        "patient_age": case.patient_age,
        "patient_sex": case.patient_sex,
        "follow_ups": [
            {
                "id": f.id,
                "author": ref(f.author_id),
                "hcp": ref(f.hcp_id),
                "body": f.body,
                "created_at": iso(f.created_at),
                "answer": f.answer,
                "answered_at": iso(f.answered_at),
            }
            for f in case.follow_ups
        ],
    }


def serialize_call_note(
    note: CallNote,
    *,
    people: Mapping[int, PersonRef] | None = None,
    pv_cases: Iterable[PvCase] | None = None,
    attestations: Iterable[SafetyAttestation] | None = None,
) -> dict[str, Any]:
    """An interaction a staff member recorded with an HCP (a call note): who, which side of the
    firewall, what kind, the products, what was said and agreed, and what it links to (the
    question filed from it, the PV cases opened from it, the safety attestations made on it).
    ``pv_cases``/``attestations`` default to none (they are not relationships: pass them)."""
    ref = functools.partial(_known_ref, people or {})
    return {
        "id": note.id,
        "hcp": ref(note.hcp_id),
        "author": ref(note.author_id),
        "side": _value(note.side),
        "kind": _value(note.kind),
        "occurred_at": iso(note.occurred_at),
        "created_at": iso(note.created_at),
        "requested_by_hcp": note.requested_by_hcp,
        "product_ids": list(note.product_ids or []),
        "topics": note.topics,
        "summary": note.summary,
        "follow_up": note.follow_up,
        "follow_up_due": None if note.follow_up_due is None else note.follow_up_due.isoformat(),
        "follow_up_done_at": iso(note.follow_up_done_at),
        "links": {
            "question_id": note.question_id,
            "pv_cases": [
                {"id": case.id, "reference": case.reference}
                for case in sorted(pv_cases or [], key=lambda case: case.id)
            ],
            "attestation_ids": sorted(a.id for a in attestations or []),
        },
    }
