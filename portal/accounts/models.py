"""The account team's records about an HCP, and the HCP's own say over contact.

- :class:`ContactPreferences`: one row per HCP (channels, topics, quiet hours, cap, pause); every
  change also leaves a :class:`PreferenceChange` (the whole new state, like a consent record).
- :class:`Contact`: the ledger of touches. Every staff-initiated contact the rule allowed
  (``counted``) and every interaction the HCP asked for (not counted) is one row; the cap, the
  minimum gap and "touched in the last 30 days" are all read from here.
- :class:`CallNote`, :class:`MaterialShare`, :class:`Meeting`, :class:`PlanNote`: what staff
  record and send. Each belongs to its writer's side of the firewall (``side``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column
from portal.models.reference import Side


class ContactChannel(enum.StrEnum):
    """How staff reach an HCP (the values are the public contract of ``flask contacts check``)."""

    PORTAL = "portal"  # a portal message (a shared material, an outreach note)
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"  # a chat invitation
    VISIT = "visit"  # an in-person visit or a video call

    @property
    def label(self) -> str:
        return str(CHANNEL_LABELS[self])


CHANNEL_LABELS: dict[ContactChannel, Any] = {
    ContactChannel.PORTAL: _l("Portal message"),
    ContactChannel.EMAIL: _l("E-mail"),
    ContactChannel.PHONE: _l("Phone call"),
    ContactChannel.CHAT: _l("Chat invitation"),
    ContactChannel.VISIT: _l("Visit or video call"),
}


class ContactKind(enum.StrEnum):
    """What a contact in the ledger was."""

    CHAT_INVITATION = "chat_invitation"
    MATERIAL_SHARE = "material_share"
    MEETING_PROPOSAL = "meeting_proposal"
    MEETING = "meeting"  # a meeting both accepted (the HCP asked, or accepted a proposal)
    CALL = "call"  # a logged interaction (visit, phone, video, e-mail, event)

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self])


KIND_LABELS: dict[ContactKind, Any] = {
    ContactKind.CHAT_INVITATION: _l("Chat invitation"),
    ContactKind.MATERIAL_SHARE: _l("Material shared"),
    ContactKind.MEETING_PROPOSAL: _l("Meeting proposed"),
    ContactKind.MEETING: _l("Meeting"),
    ContactKind.CALL: _l("Interaction"),
}


class ContactPreferences(Base):
    """The HCP's terms for unsolicited contact. Absent row: the company defaults (config)."""

    __tablename__ = "contact_preferences"

    hcp_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Accepted channels, as ContactChannel values (order kept as chosen).
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Topics that interest them: product ids and therapeutic areas (feed "For you").
    product_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Quiet hours as "HH:MM" in the HCP's own time zone; both set or both None. May wrap
    # midnight (19:00-08:00).
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    cap: Mapped[int] = mapped_column(Integer)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # True once the HCP saved the page: until then the company defaults apply and are shown.
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Bumped by every contact claim: the row's lock serialises colleagues contacting one HCP.
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PreferenceChange(Base):
    """One saved version of an HCP's contact preferences: who changed it, when, the full new
    state. Append-only, like a consent record."""

    __tablename__ = "contact_preference_changes"
    __table_args__ = (
        Index("ix_contact_preference_changes_at", "at", "id"),
        Index("ix_contact_preference_changes_hcp", "hcp_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


class Contact(Base):
    """One touch of an HCP by staff. ``counted`` rows are unsolicited contacts the rule allowed
    (they use the HCP's cap); the others answer the HCP (a meeting they asked for, a call they
    requested) and only tell colleagues the doctor was seen."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_at", "at", "counted", "side", "hcp_id"),
        Index("ix_contacts_hcp_at", "hcp_id", "at"),
        Index("ix_contacts_staff_at", "staff_id", "at"),
        Index("ix_contacts_subject", "subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    side: Mapped[Side] = mapped_column(enum_column(Side))
    team: Mapped[str] = mapped_column(String(32))  # the staff member's team key at the time
    channel: Mapped[ContactChannel] = mapped_column(enum_column(ContactChannel))
    kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind))
    counted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the contact was: "call_note", "material_share", "meeting", "chat_invitation" + id.
    subject: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)

    staff: Mapped[User] = relationship(foreign_keys=[staff_id])


class InteractionKind(enum.StrEnum):
    """What a call note records."""

    VISIT = "visit"
    PHONE = "phone"
    VIDEO = "video"
    EMAIL = "email"
    EVENT = "event"

    @property
    def label(self) -> str:
        return str(INTERACTION_LABELS[self])

    @property
    def channel(self) -> ContactChannel:
        """The contact channel the interaction used (a video call or an event is a visit)."""
        return {
            InteractionKind.PHONE: ContactChannel.PHONE,
            InteractionKind.EMAIL: ContactChannel.EMAIL,
        }.get(self, ContactChannel.VISIT)


INTERACTION_LABELS: dict[InteractionKind, Any] = {
    InteractionKind.VISIT: _l("Visit"),
    InteractionKind.PHONE: _l("Phone call"),
    InteractionKind.VIDEO: _l("Video call"),
    InteractionKind.EMAIL: _l("E-mail"),
    InteractionKind.EVENT: _l("Event"),
}


class CallNote(Base):
    """An interaction a staff member had with an HCP, as they recorded it. Belongs to the
    writer's side of the firewall. Append-only: corrections are new notes."""

    __tablename__ = "call_notes"
    __table_args__ = (
        Index("ix_call_notes_occurred", "occurred_at", "id"),
        Index("ix_call_notes_hcp_at", "hcp_id", "occurred_at"),
        Index("ix_call_notes_author_follow_up", "author_id", "follow_up_due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    side: Mapped[Side] = mapped_column(enum_column(Side))
    kind: Mapped[InteractionKind] = mapped_column(enum_column(InteractionKind))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The HCP asked for this interaction (then it does not use their cap).
    requested_by_hcp: Mapped[bool] = mapped_column(Boolean, default=False)
    product_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    topics: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[str] = mapped_column(Text, default="")
    follow_up_due: Mapped[dt.date | None] = mapped_column(Date)
    follow_up_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A medical question the HCP asked in person, filed on their behalf (never answered here).
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])


class MaterialShare(Base):
    """An approved material a staff member sent an HCP (a portal message, and an e-mail with
    the title and a link when the HCP accepts e-mail). ``opened_at``: the HCP's first view
    after the share (new engagement on the staff member's worklist)."""

    __tablename__ = "material_shares"
    __table_args__ = (
        Index("ix_material_shares_created", "created_at", "id"),
        Index("ix_material_shares_hcp_at", "hcp_id", "created_at"),
        Index("ix_material_shares_staff_opened", "staff_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    side: Mapped[Side] = mapped_column(enum_column(Side))
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"))
    family_id: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    seen_by_staff_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    staff: Mapped[User] = relationship(foreign_keys=[staff_id])


class MeetingState(enum.StrEnum):
    REQUESTED = "requested"  # waits for the other party to pick a time
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return str(MEETING_STATE_LABELS[self])


MEETING_STATE_LABELS: dict[MeetingState, Any] = {
    MeetingState.REQUESTED: _l("Waiting for an answer"),
    MeetingState.ACCEPTED: _l("Accepted"),
    MeetingState.DECLINED: _l("Declined"),
    MeetingState.CANCELLED: _l("Cancelled"),
}


class MeetingMode(enum.StrEnum):
    PHONE = "phone"
    VIDEO = "video"
    VISIT = "visit"

    @property
    def label(self) -> str:
        return str(MODE_LABELS[self])

    @property
    def channel(self) -> ContactChannel:
        return ContactChannel.PHONE if self is MeetingMode.PHONE else ContactChannel.VISIT


MODE_LABELS: dict[MeetingMode, Any] = {
    MeetingMode.PHONE: _l("Phone call"),
    MeetingMode.VIDEO: _l("Video call"),
    MeetingMode.VISIT: _l("Visit"),
}


class Meeting(Base):
    """A meeting request between an HCP and their rep or MSL, in either direction: the one who
    asks proposes times (UTC), the other accepts one of them or declines."""

    __tablename__ = "meetings"
    __table_args__ = (
        Index("ix_meetings_state_starts", "state", "starts_at"),
        Index("ix_meetings_state_decided", "state", "decided_at", "id"),
        Index("ix_meetings_created", "created_at", "id"),
        Index("ix_meetings_hcp_state", "hcp_id", "state"),
        Index("ix_meetings_staff_state", "staff_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    side: Mapped[Side] = mapped_column(enum_column(Side))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[MeetingMode] = mapped_column(enum_column(MeetingMode))
    # Proposed start times, ISO 8601 UTC strings, earliest first.
    slots: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes: Mapped[int] = mapped_column(Integer, default=30)
    topic: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[MeetingState] = mapped_column(
        enum_column(MeetingState), default=MeetingState.REQUESTED
    )
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    staff: Mapped[User] = relationship(foreign_keys=[staff_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])

    @property
    def asked_by_hcp(self) -> bool:
        return self.requested_by_id == self.hcp_id


class PlanNote(Base):
    """A staff member's plan for their next interaction with an HCP (one per writer and HCP,
    overwritten as the plan changes; the audit trail keeps each save)."""

    __tablename__ = "plan_notes"

    hcp_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    side: Mapped[Side] = mapped_column(enum_column(Side))
    text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship(foreign_keys=[author_id])
