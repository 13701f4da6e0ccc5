"""Conversations as their participants see them: finding one by id (policy decides who may),
listing one's own, the Socket.IO rooms, and the CONVERSATION shape of the protocol.

Consent and invitations (:mod:`chat.consent`), messages (:mod:`chat.messages`), receipts
(:mod:`chat.receipts`), compliance review (:mod:`chat.review`) and restricted phrases
(:mod:`chat.phrases`) each have a module of their own; this one holds what they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, ScalarSelect, Subquery, case, func, select
from sqlalchemy.orm import joinedload

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


def serialize_conversation(
    actor: User, conversation: Conversation, *, marks: tuple[int, int] | None = None
) -> dict[str, Any]:
    """CONVERSATION as ``actor`` (a participant) sees it: the peer (with presence while the
    chat is open), state, sequences and the unread count. ``marks`` is ``(read_seq, unread)``
    when the caller already read them for many conversations at once."""
    peer = conversation.peer_of(actor.id)
    if marks is None:
        marks = _marks(actor, [conversation.id])[conversation.id]
    read_seq, unread = marks
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


def _read_marks(actor_id: int | BindParameter[int], *, behind_only: bool) -> Subquery:
    """``(id, read_seq, unread)`` of the actor's conversations (``behind_only``: those with
    unread messages). The mark is the read receipt, or the actor's own last message if later:
    writing a message means having read what came before it. Every message after the mark is
    then the peer's, and sequences are gap-free, so the unread count is ``last_seq - mark``:
    nothing is counted row by row (the navigation bar asks on every page)."""
    read_seq = func.coalesce(ReadState.read_seq, 0)
    own_last = (
        select(func.max(Message.seq))
        .where(Message.conversation_id == Conversation.id, Message.sender_id == actor_id)
        .scalar_subquery()
    )
    own = func.coalesce(own_last, 0)
    mark = case((own > read_seq, own), else_=read_seq)
    query = (
        select(
            Conversation.id,
            mark.label("read_seq"),
            case((Conversation.last_seq > mark, Conversation.last_seq - mark), else_=0).label(
                "unread"
            ),
        )
        .outerjoin(
            ReadState,
            (ReadState.conversation_id == Conversation.id) & (ReadState.user_id == actor_id),
        )
        .where((Conversation.hcp_id == actor_id) | (Conversation.staff_id == actor_id))
    )
    if behind_only:
        # Read conversations are passed over before their own last message is looked up.
        query = query.where(Conversation.last_seq > read_seq)
    return query.subquery()


def _marks(actor: User, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{conversation id: (read_seq, unread)}`` for the actor's conversations ``ids``, in one
    statement however many."""
    marks = _read_marks(actor.id, behind_only=False)
    found = {
        conversation_id: (int(seq), int(unread))
        for conversation_id, seq, unread in db.session.execute(
            select(marks.c.id, marks.c.read_seq, marks.c.unread).where(marks.c.id.in_(ids))
        )
    }
    return {i: found.get(i, (0, 0)) for i in ids}


LIST_LIMIT = 200


def list_conversations(
    actor: User, *, peer_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The actor's own conversations (as participant), most recent first: the newest
    ``LIST_LIMIT``, or those with the people ``peer_ids``."""
    query = select(Conversation).where(
        (Conversation.hcp_id == actor.id) | (Conversation.staff_id == actor.id)
    )
    if peer_ids is not None:
        query = query.where(Conversation.hcp_id.in_(peer_ids) | Conversation.staff_id.in_(peer_ids))
    rows = db.session.scalars(
        query.options(joinedload(Conversation.hcp), joinedload(Conversation.staff))
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    if not rows:
        return []
    marks = _marks(actor, [c.id for c in rows])
    return [serialize_conversation(actor, c, marks=marks[c.id]) for c in rows]


def unread_total(actor: User) -> int:
    """Unread messages across the actor's conversations: the sum of
    :func:`serialize_conversation`'s ``unread``."""
    return int(db.session.scalar(select(unread_total_query(actor.id))) or 0)


def unread_total_query(actor_id: int | BindParameter[int]) -> ScalarSelect[Any]:
    """The SQL of :func:`unread_total` (the navigation bar's badge, read with the other badges
    in one statement on every page, written against its bound user id)."""
    marks = _read_marks(actor_id, behind_only=True)
    return select(func.coalesce(func.sum(marks.c.unread), 0)).scalar_subquery()
