"""Conversations as their participants see them: finding one by id (policy decides who may),
listing one's own, the Socket.IO rooms, and the CONVERSATION shape of the protocol.

Consent and invitations (:mod:`chat.consent`), messages (:mod:`chat.messages`), receipts
(:mod:`chat.receipts`), compliance review (:mod:`chat.review`) and restricted phrases
(:mod:`chat.phrases`) each have a module of their own; this one holds what they share.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from chat import presence
from chat.models import Conversation, ConversationState, Message, ReadState
from portal import inputs, policy
from portal.extensions import db
from portal.models import User
from portal.realtime import emit_after_commit

NAMESPACE = "/chat"


# --- rooms ---------------------------------------------------------------------------------------
def room(conversation_id: int) -> str:
    """The room of a conversation's live sockets (participants who joined while it is open)."""
    return f"conversation:{conversation_id}"


def user_room(user_id: int) -> str:
    """Every socket of one user, joined at connect."""
    return f"user:{user_id}"


def emit(event: str, data: dict[str, Any], to: str) -> None:
    """Queue a ``/chat`` event for after the current transaction commits."""
    emit_after_commit(db.session(), event, data, to=to, namespace=NAMESPACE)


# --- finding a conversation ----------------------------------------------------------------------
def get_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` takes part in it (or reviews for compliance); ``NotFound``
    otherwise, whatever the id, so ids reveal nothing."""
    found = db.session.get(Conversation, conversation_id) if inputs.is_id(conversation_id) else None
    policy.require_visible(
        found is not None and policy.can_view_conversation(actor, found), "That conversation"
    )
    assert found is not None
    return found


def get_own_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` takes part in it: ``NotFound`` for outsiders,
    ``PermissionDenied`` for compliance, who reads conversations but never takes part."""
    conversation = get_conversation(actor, conversation_id)
    policy.require(
        policy.takes_part_in_conversation(actor, conversation),
        "Compliance reads conversations in the review pages; it does not take part in them.",
    )
    return conversation


# --- the CONVERSATION shape ----------------------------------------------------------------------
def _state_of(conversation: Conversation) -> str:
    if conversation.state is ConversationState.ACTIVE:
        return "active"
    if conversation.state is ConversationState.INVITED:
        return "invited"
    return "ended"


def serialize_conversation(actor: User, conversation: Conversation) -> dict[str, Any]:
    """CONVERSATION as ``actor`` (a participant) sees it: the peer (with presence while the
    chat is open), state, sequences and the unread count."""
    peer = conversation.peer_of(actor.id)
    read = db.session.get(ReadState, (conversation.id, actor.id))
    read_seq = read.read_seq if read else 0
    unread = 0
    if conversation.last_seq > read_seq:
        # Writing a message means having read what came before it.
        own_last = db.session.scalar(
            select(func.max(Message.seq)).where(
                Message.conversation_id == conversation.id, Message.sender_id == actor.id
            )
        )
        read_seq = max(read_seq, own_last or 0)
    if conversation.last_seq > read_seq:
        unread = int(
            db.session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.seq > read_seq,
                    Message.sender_id != actor.id,
                )
            )
            or 0
        )
    return {
        "id": conversation.id,
        "peer": {
            "id": peer.id,
            "name": peer.name,
            "role": peer.role.value,
            "role_label": peer.role.label,
            # Presence is shared with the peers of active chats only (as the presence events).
            "online": conversation.state is ConversationState.ACTIVE
            and presence.is_online(peer.id),
        },
        "state": _state_of(conversation),
        "last_seq": conversation.last_seq,
        "read_seq": read_seq,
        "unread": unread,
        "last_message_at": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
    }


def list_conversations(actor: User) -> list[dict[str, Any]]:
    """The actor's own conversations (as participant), most recent first."""
    rows = db.session.scalars(
        select(Conversation)
        .where((Conversation.hcp_id == actor.id) | (Conversation.staff_id == actor.id))
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
    ).all()
    return [serialize_conversation(actor, c) for c in rows]


def unread_total(actor: User) -> int:
    """Unread messages across the actor's conversations (the navigation bar's badge)."""
    return sum(c["unread"] for c in list_conversations(actor))
