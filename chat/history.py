"""Messages as participants read them: the protocol's MESSAGE shape (with the PV-case notice
the staff participant may see, and material cards from content's public API), and the pages of
a conversation (first load, replay after a reconnect, scroll-back). Reads only; writing is
:mod:`chat.messages`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from chat.conversations import get_conversation
from chat.models import Conversation, Message, MessageKind
from portal import inputs
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import User, utcnow
from portal.safety import services as safety

PAGE_SIZE = 50


# --- serializers (the protocol's shapes) --------------------------------------------------------
def material_card(material_id: int, now: dt.datetime) -> dict[str, Any]:
    """The card of a shared material as shown now (content's public API)."""
    from content import services as content  # content's public API: the card and its link

    return content.material_card(material_id, now)


def serialize_message(message: Message, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """MESSAGE: ``{"id", "conversation_id", "client_id", "seq", "sender_id", "sender_name",
    "body", "sent_at", "edited", "deleted", "flags", "kind", "material"}``. A deleted message's
    body is empty for participants (compliance reads the original in the review pages)."""
    deleted = message.deleted_at is not None
    return message_payload(
        id=message.id,
        conversation_id=message.conversation_id,
        client_id=message.client_id,
        seq=message.seq,
        sender_id=message.sender_id,
        sender_name=message.sender.name,
        body="" if deleted else message.body,
        sent_at=message.sent_at,
        edited=message.edited_at is not None,
        deleted=deleted,
        flags=message.flags or [],
        kind=message.kind,
        material=(
            material_card(message.material_id, now or utcnow())
            if message.material_id and not deleted
            else None
        ),
    )


def material_of(message: Message) -> dict[str, Any] | None:
    """The card of a material message as shown now (also in the review transcript)."""
    return material_card(message.material_id, utcnow()) if message.material_id else None


def message_payload(
    *,
    id: int,
    conversation_id: int,
    client_id: str,
    seq: int,
    sender_id: int,
    sender_name: str,
    body: str,
    sent_at: dt.datetime,
    edited: bool = False,
    deleted: bool = False,
    flags: Sequence[str] = (),
    kind: MessageKind = MessageKind.TEXT,
    material: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """MESSAGE from its fields (:func:`serialize_message` reads them off a stored message; a
    batch of new messages has them at hand)."""
    return {
        "id": id,
        "conversation_id": conversation_id,
        "client_id": client_id,
        "seq": seq,
        "sender_id": sender_id,
        "sender_name": sender_name,
        "body": body,
        "sent_at": sent_at.isoformat(),
        "edited": edited,
        "deleted": deleted,
        "flags": list(flags),
        "kind": kind.value,
        "material": material,
    }


def with_pv_cases(
    viewer: User, conversation: Conversation, payloads: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """MESSAGEs as ``viewer`` may see them: those that went to Pharmacovigilance carry
    ``pv_case`` (``{"reference"}``, plus ``"url"`` for those who may open the case) when policy
    lets the viewer know (the staff participant; never the HCP). New dicts: a payload already
    queued for the room is never changed."""
    notices = safety.case_notices(viewer, conversation, [p["id"] for p in payloads])
    if not notices:
        return payloads
    return [{**p, "pv_case": notices[p["id"]]} if p["id"] in notices else p for p in payloads]


# --- reads ---------------------------------------------------------------------------------------
def _sequence_number(value: Any, name: str, *, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        start = " (0 for the start)" if least == 0 else ""
        raise InvalidInput(f"{name} must be a sequence number{start}.")
    return value


def messages_after(
    actor: User, conversation_id: Any, after_seq: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """Stored messages after ``after_seq``, in sequence order, a page at a time:
    ``(messages, more)``. Replay after a reconnect and the first load both use this."""
    conversation = get_conversation(actor, conversation_id)
    after_seq = _sequence_number(after_seq, "after_seq", least=0)
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit + 1)
    ).all()
    now = utcnow()
    page = [serialize_message(m, now=now) for m in rows[:limit]]
    return with_pv_cases(actor, conversation, page), len(rows) > limit


def message_id_at(actor: User, conversation_id: Any, seq: Any) -> int:
    """The id of message ``seq`` of a conversation ``actor`` may read (``NotFound`` otherwise)."""
    conversation = get_conversation(actor, conversation_id)
    found = (
        db.session.scalar(
            select(Message.id).where(Message.conversation_id == conversation.id, Message.seq == seq)
        )
        if inputs.is_id(seq)
        else None
    )
    if found is None:
        raise NotFound("That message was not found.")
    return int(found)


def messages_before(
    actor: User, conversation_id: Any, before_seq: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """Scroll-back: up to ``limit`` messages before ``before_seq``, in sequence order."""
    conversation = get_conversation(actor, conversation_id)
    before_seq = _sequence_number(before_seq, "before_seq", least=1)
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.seq < before_seq)
        .order_by(Message.seq.desc())
        .limit(limit + 1)
    ).all()
    now = utcnow()
    page = list(reversed(rows[:limit]))
    payloads = [serialize_message(m, now=now) for m in page]
    return with_pv_cases(actor, conversation, payloads), len(rows) > limit


def latest_messages(
    actor: User, conversation_id: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """The last page of a conversation (what the page shows first)."""
    conversation = get_conversation(actor, conversation_id)
    return messages_before(actor, conversation.id, conversation.last_seq + 1, limit=limit)
