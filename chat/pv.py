"""What the chat tells the PV workspace about the conversations its cases came from: the message's
sequence number (the transcript's anchor) and the products a conversation is plausibly about.

Registered with :func:`portal.safety.workspace.register_chat_source` by the chat package, so the
core never imports chat. Reads only.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from chat.models import Conversation, Message, MessageKind
from portal.extensions import db
from portal.models.user import staff_products
from portal.safety.workspace import ConversationProducts


class PvChatSource:
    """The chat's answers to :class:`portal.safety.workspace.ChatSource`, one query each."""

    def message_seqs(self, message_ids: Collection[int]) -> dict[int, int]:
        if not message_ids:
            return {}
        rows = db.session.execute(
            select(Message.id, Message.seq).where(Message.id.in_(message_ids))
        ).all()
        return {message_id: seq for message_id, seq in rows}

    def conversation_products(
        self, conversation_ids: Collection[int]
    ) -> dict[int, ConversationProducts]:
        if not conversation_ids:
            return {}
        from content.models import Material  # the content package's model, read-only

        conversations = db.session.scalars(
            select(Conversation).where(Conversation.id.in_(conversation_ids))
        ).all()
        staff_ids = {c.staff_id for c in conversations}
        covered: dict[int, list[int]] = {}
        for user_id, product_id in db.session.execute(
            select(staff_products.c.user_id, staff_products.c.product_id)
            .where(staff_products.c.user_id.in_(staff_ids))
            .order_by(staff_products.c.product_id)
        ).all():
            covered.setdefault(user_id, []).append(product_id)
        shared: dict[int, list[int]] = {}
        for conversation_id, product_id in db.session.execute(
            select(Message.conversation_id, Material.product_id)
            .join(Material, Material.id == Message.material_id)
            .where(
                Message.conversation_id.in_(conversation_ids),
                Message.kind == MessageKind.MATERIAL,
            )
            .distinct()
            .order_by(Message.conversation_id, Material.product_id)
        ).all():
            shared.setdefault(conversation_id, []).append(product_id)
        return {
            c.id: ConversationProducts(
                staff_name=c.staff.name,
                staff_products=tuple(covered.get(c.staff_id, [])),
                shared_products=tuple(shared.get(c.id, [])),
            )
            for c in conversations
        }
