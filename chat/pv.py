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
    """The chat's answers to :class:`portal.safety.workspace.ChatSource`."""

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
        from content import services as content  # content's public API

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
        cards = db.session.execute(
            select(Message.conversation_id, Message.material_id)
            .where(
                Message.conversation_id.in_(conversation_ids),
                Message.kind == MessageKind.MATERIAL,
                Message.material_id.is_not(None),
            )
            .distinct()
        ).all()
        product_of = content.products_of({m for _c, m in cards if m is not None})
        shared_sets: dict[int, set[int]] = {}
        for conversation_id, material_id in cards:
            if material_id in product_of:
                shared_sets.setdefault(conversation_id, set()).add(product_of[material_id])
        shared = {c: sorted(products) for c, products in shared_sets.items()}
        return {
            c.id: ConversationProducts(
                staff_name=c.staff.name,
                staff_products=tuple(covered.get(c.staff_id, [])),
                shared_products=tuple(shared.get(c.id, [])),
            )
            for c in conversations
        }
