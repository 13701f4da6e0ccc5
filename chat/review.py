"""Compliance review of chats: every conversation, its full transcript (originals of edits and
deletions included) and its consent periods. Read-only; compliance reads every conversation,
Pharmacovigilance those a PV case came from (:func:`portal.policy.can_read_chat_transcript`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select

from chat.models import ConsentPeriod, Conversation, Message
from portal import inputs, policy
from portal.extensions import db
from portal.models import User
from portal.safety import services as safety


@dataclasses.dataclass(frozen=True)
class ReviewRow:
    conversation: Conversation
    messages: int
    consents: int
    last_from: User | None


def review_list(actor: User) -> list[ReviewRow]:
    """Every conversation, most recent first, for compliance review: how many messages and
    consent periods, and who wrote last."""
    policy.require_visible(policy.can_review_chats(actor), "Chat review")
    conversations = db.session.scalars(
        select(Conversation).order_by(
            Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc()
        )
    ).all()
    consents = dict(
        db.session.execute(
            select(ConsentPeriod.conversation_id, func.count()).group_by(
                ConsentPeriod.conversation_id
            )
        ).all()
    )
    last_senders = dict(
        db.session.execute(
            select(Message.conversation_id, Message.sender_id).join(
                Conversation,
                (Conversation.id == Message.conversation_id)
                & (Message.seq == Conversation.last_seq),
            )
        ).all()
    )
    rows = []
    for c in conversations:
        sender_id = last_senders.get(c.id)
        rows.append(
            ReviewRow(
                conversation=c,
                messages=c.last_seq,  # sequences are gap-free from 1
                consents=consents.get(c.id, 0),
                last_from=None
                if sender_id is None
                else (c.hcp if sender_id == c.hcp_id else c.staff),
            )
        )
    return rows


def _reviewable_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` may read its review transcript; ``NotFound`` otherwise,
    whatever the id."""
    found = db.session.get(Conversation, conversation_id) if inputs.is_id(conversation_id) else None
    holds_case = found is not None and safety.conversation_holds_case(found.id)
    policy.require_visible(
        found is not None
        and policy.can_read_chat_transcript(actor, found, holds_pv_case=holds_case),
        "That conversation",
    )
    assert found is not None
    return found


def transcript(actor: User, conversation_id: Any) -> tuple[Conversation, list[Message]]:
    """A conversation with every message and its revisions (originals included): compliance
    reads every conversation, Pharmacovigilance those a PV case came from (read-only, both)."""
    conversation = _reviewable_conversation(actor, conversation_id)
    messages = list(
        db.session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
        )
    )
    return conversation, messages


def consent_history(actor: User, conversation_id: Any) -> list[ConsentPeriod]:
    """The conversation's consent periods, for those who read its review transcript."""
    conversation = _reviewable_conversation(actor, conversation_id)
    return list(
        db.session.scalars(
            select(ConsentPeriod)
            .where(ConsentPeriod.conversation_id == conversation.id)
            .order_by(ConsentPeriod.id)
        )
    )
