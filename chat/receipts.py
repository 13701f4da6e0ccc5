"""Receipts: how far each participant's live clients received (*delivered*) and the participant
read (*read*) a conversation. Neither ever moves backwards; a change is told to the room."""

from __future__ import annotations

from typing import Any

from chat.conversations import emit, get_conversation, get_own_conversation, room
from chat.models import ReadState
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import User
from portal.unit_of_work import transactional


def read_state(conversation_id: int, user_id: int) -> ReadState:
    """The participant's receipt row, created if missing, in the caller's transaction (never
    commits): receipts, and the "new message" e-mail's last sending, are kept there."""
    state = db.session.get(ReadState, (conversation_id, user_id))
    if state is None:
        state = ReadState(conversation_id=conversation_id, user_id=user_id)
        db.session.add(state)
        db.session.flush()
    return state


def mark_read(actor: User, conversation_id: Any, seq: Any) -> dict[str, Any] | None:
    """Record that ``actor`` read up to ``seq`` (never backwards; it implies delivered). Returns
    the receipt told to the room (``receipt``), or ``None`` when nothing changed."""
    return _receipt(actor, conversation_id, seq, kind="read")


def mark_delivered(actor: User, conversation_id: Any, seq: Any) -> dict[str, Any] | None:
    """Record that a live client of ``actor`` received up to ``seq``; tells the room."""
    return _receipt(actor, conversation_id, seq, kind="delivered")


@transactional
def _receipt(actor: User, conversation_id: Any, seq: Any, *, kind: str) -> dict[str, Any] | None:
    conversation = get_own_conversation(actor, conversation_id)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInput("seq must be a sequence number.", field="seq")
    seq = min(seq, conversation.last_seq)
    state = read_state(conversation.id, actor.id)
    changed = False
    if kind == "read" and seq > state.read_seq:
        state.read_seq = seq
        changed = True
    if seq > state.delivered_seq:
        state.delivered_seq = seq
        changed = kind == "delivered" or changed
    if not changed:
        return None
    receipt = {"conversation_id": conversation.id, "user_id": actor.id, "seq": seq, "kind": kind}
    emit("receipt", receipt, room(conversation.id))
    return receipt


def receipts(actor: User, conversation_id: Any) -> dict[str, Any]:
    """Both participants' delivered and read sequences (for the page's first paint)."""
    conversation = get_conversation(actor, conversation_id)
    out = {}
    for user_id in (conversation.hcp_id, conversation.staff_id):
        state = db.session.get(ReadState, (conversation.id, user_id))
        out[str(user_id)] = {
            "delivered_seq": state.delivered_seq if state else 0,
            "read_seq": state.read_seq if state else 0,
        }
    return out
