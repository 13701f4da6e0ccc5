"""Chat: conversations between one HCP and one rep or MSL, their consent periods, invitations,
messages (never altered: revisions keep the originals), read state and restricted phrases."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.notification import ConsentWording
from portal.models.org import enum_column


class ConversationState(enum.StrEnum):
    INVITED = "invited"  # a staff invitation waits for the HCP
    ACTIVE = "active"  # a consent period is open
    ENDED = "ended"  # no open consent period (ended by the HCP, or never accepted)


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class MessageKind(enum.StrEnum):
    TEXT = "text"
    MATERIAL = "material"  # an approved material shared as a card


class Conversation(Base):
    """One HCP and one staff member: a single history across consent periods."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("hcp_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[ConversationState] = mapped_column(
        enum_column(ConversationState), default=ConversationState.ENDED
    )
    # The per-conversation counter: the next message takes last_seq + 1 under the row's lock,
    # so sequences are gap-free and strictly increasing whoever sends, from any process.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The staff member's safety attestation covers messages 1..attested_seq; the next one is due
    # when the chat ends, or 7 days after the last one while it stays open (portal.safety).
    attested_seq: Mapped[int] = mapped_column(Integer, default=0)
    attested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    staff: Mapped[User] = relationship(foreign_keys=[staff_id])

    def peer_of(self, user_id: int) -> User:
        return self.staff if user_id == self.hcp_id else self.hcp


class ConsentPeriod(Base):
    """An opt-in: who, with whom, when, and the exact wording agreed to; closed on withdrawal."""

    __tablename__ = "chat_consents"
    __table_args__ = (
        Index("ix_chat_consents_withdrawn", "withdrawn_at", "id"),
        Index("ix_chat_consents_granted", "granted_at", "id"),
        Index("ix_chat_consents_open", "conversation_id", "withdrawn_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    wording_id: Mapped[int] = mapped_column(ForeignKey("consent_wordings.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_via: Mapped[str] = mapped_column(String(32))  # "hcp_started" | "invitation"
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    withdrawn_via: Mapped[str | None] = mapped_column(String(32))  # "conversation" | "settings"

    wording: Mapped[ConsentWording] = relationship()


class Invitation(Base):
    __tablename__ = "chat_invitations"
    __table_args__ = (
        Index("ix_chat_invitations_created", "created_at", "id"),
        Index("ix_chat_invitations_pair", "hcp_id", "staff_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column(InvitationStatus), default=InvitationStatus.PENDING
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    staff: Mapped[User] = relationship(foreign_keys=[staff_id])


class Message(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_sent_at", "sent_at", "conversation_id"),
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("sender_id", "client_id"),
        Index("ix_chat_messages_sender_seq", "conversation_id", "sender_id", "seq"),
        # Insights: did this HCP write in a date range (one seek per HCP).
        Index("ix_chat_messages_sender_sent", "sender_id", "sent_at", "conversation_id"),
        # Insights' response time: every conversation's messages in order, from the index alone.
        Index("ix_chat_messages_conversation", "conversation_id", "seq", "sender_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str] = mapped_column(String(36))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind), default=MessageKind.TEXT)
    body: Mapped[str] = mapped_column(Text)
    material_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)

    sender: Mapped[User] = relationship()
    revisions: Mapped[list[MessageRevision]] = relationship(order_by="MessageRevision.id")


class MessageRevision(Base):
    """What a message said before an edit or deletion: kept for compliance review."""

    __tablename__ = "chat_message_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("chat_messages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "edit" | "delete"
    previous_body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReadState(Base):
    """Per participant: the last sequence delivered to a live client, and the last one read."""

    __tablename__ = "chat_read_states"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    delivered_seq: Mapped[int] = mapped_column(Integer, default=0)
    read_seq: Mapped[int] = mapped_column(Integer, default=0)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class RestrictedPhrase(Base):
    """A phrase staff may not send (promotional superlatives, unapproved claims).

    A removed phrase stays, inactive, for the record; adding it again adds a new row. So only
    the phrases in force are unique.
    """

    __tablename__ = "chat_restricted_phrases"
    __table_args__ = (
        Index(
            "uq_chat_restricted_phrases_active_phrase",
            "phrase",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
