"""Questions, their thread and history, PV cases, and the data that routes them.

Routing rules, SLAs, holidays and products' label facts are rows an administrator edits, not
constants: a compliance officer changes them without a release.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import Product, Side, TeamKey, User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.notification import ConsentWording
from portal.models.org import enum_column
from portal.models.reference import TEAM_NAMES


class Category(enum.StrEnum):
    """What the HCP says the question is about (the form's values are a public contract)."""

    CLINICAL = "clinical"
    SAFETY = "safety"
    DOSING = "dosing"
    OFF_LABEL = "off_label"
    ADVERSE_EVENT = "adverse_event"
    QUALITY = "quality"
    SAMPLES = "samples"
    ACCESS = "access"
    OTHER = "other"

    @property
    def label(self) -> str:
        return str(CATEGORY_LABELS[self])

    @property
    def is_medical(self) -> bool:
        """Medical questions are never routed to, or answered by, commercial teams."""
        return self in MEDICAL_CATEGORIES

    @property
    def is_commercial(self) -> bool:
        return self in COMMERCIAL_CATEGORIES


CATEGORY_LABELS: dict[Category, Any] = {
    Category.CLINICAL: _l("Clinical data / efficacy"),
    Category.SAFETY: _l("Safety"),
    Category.DOSING: _l("Dosing and administration"),
    Category.OFF_LABEL: _l("Use outside the label"),
    Category.ADVERSE_EVENT: _l("A patient's side effect / adverse event"),
    Category.QUALITY: _l("Product quality complaint"),
    Category.SAMPLES: _l("Samples and supply"),
    Category.ACCESS: _l("Coverage, reimbursement, patient support"),
    Category.OTHER: _l("Other"),
}

MEDICAL_CATEGORIES = frozenset(
    {
        Category.CLINICAL,
        Category.SAFETY,
        Category.DOSING,
        Category.OFF_LABEL,
        Category.ADVERSE_EVENT,
        Category.QUALITY,
    }
)
# Filed under these, a question whose text asks about an unapproved use goes to medical instead.
COMMERCIAL_CATEGORIES = frozenset({Category.SAMPLES, Category.ACCESS, Category.OTHER})

# Teams that work the question queue, and the firewall side each belongs to.
QUEUE_TEAMS: dict[TeamKey, Side] = {
    TeamKey.MEDICAL_INFORMATION: Side.MEDICAL,
    TeamKey.MSL: Side.MEDICAL,
    TeamKey.SALES: Side.COMMERCIAL,
    TeamKey.MARKET_ACCESS: Side.COMMERCIAL,
    TeamKey.PHARMACOVIGILANCE: Side.MEDICAL,
    TeamKey.QUALITY: Side.MEDICAL,
}
COMMERCIAL_TEAMS = frozenset(k for k, side in QUEUE_TEAMS.items() if side is Side.COMMERCIAL)
# Teams whose members each cover territories: the HCP's own MSL or rep takes the question.
TERRITORY_TEAMS = frozenset({TeamKey.MSL, TeamKey.SALES, TeamKey.MARKET_ACCESS})


def team_label(key: TeamKey | str) -> str:
    return str(TEAM_NAMES.get(TeamKey(key), key))


class Channel(enum.StrEnum):
    PORTAL = "portal"
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"

    @property
    def label(self) -> str:
        return str(
            {
                "portal": _l("In the portal"),
                "email": _l("By email"),
                "phone": _l("By phone"),
            }.get(self.value, _l("In my chat with my rep or MSL"))
        )


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        return str(
            _l("Routine") if self is Urgency.ROUTINE else _l("Urgent (a patient is waiting)")
        )


class QuestionStatus(enum.StrEnum):
    RECEIVED = "received"  # in a team's queue, nobody has taken it yet
    IN_PROGRESS = "in_progress"  # someone on the owning team is working on it
    ANSWERED = "answered"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])


STATUS_LABELS: dict[QuestionStatus, Any] = {
    QuestionStatus.RECEIVED: _l("Received"),
    QuestionStatus.IN_PROGRESS: _l("In progress"),
    QuestionStatus.ANSWERED: _l("Answered"),
    QuestionStatus.CLOSED: _l("Closed"),
}


class EntryKind(enum.StrEnum):
    FOLLOW_UP = "follow_up"  # the HCP writes (the question itself is the first message)
    REPLY = "reply"  # staff answer the HCP
    NOTE = "note"  # internal, visible only on the writer's side of the firewall


class QuestionEventKind(enum.StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    ASSIGNED = "assigned"
    CLAIMED = "claimed"
    REASSIGNED = "reassigned"
    # Moved by the routing engine, not a person: medical content in a follow-up took the
    # question from a commercial team to Medical Information.
    REROUTED = "rerouted"
    ESCALATED = "escalated"
    ANSWERED = "answered"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    RATED = "rated"
    OVERDUE = "overdue"


def reference_of(question_id: int) -> str:
    """The reference of question ``question_id`` (``Q-000042``), for lists that read ids only."""
    return f"Q-{question_id:06d}"


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (
        # A team's open questions by due time; the further columns let the staff panel count
        # them from the index alone (migration 0013).
        Index(
            "ix_questions_team_open",
            "owner_team",
            "status",
            "due_at",
            "assignee_id",
            "category",
            "off_label_flag",
        ),
        Index("ix_questions_assignee_status", "assignee_id", "status"),
        # The worklist's open questions of a territory, counted from the index alone; an HCP's
        # questions newest first (their record). Migration 0014.
        Index(
            "ix_questions_status_hcp",
            "status",
            "hcp_id",
            "category",
            "off_label_flag",
            "owner_team",
        ),
        Index("ix_questions_hcp_created", "hcp_id", "created_at"),
        # The Questions dashboard reads a date range of questions (migration 0017).
        Index("ix_questions_created", "created_at"),
        # The insight dashboards, from the index alone: a date range of questions with what
        # their panels count (0019), and an HCP's questions of a range (adoption's funnel).
        Index(
            "ix_questions_created_cover",
            "created_at",
            "category",
            "owner_team",
            "off_label_flag",
            "product_id",
            "hcp_id",
            "status",
            "due_at",
            "first_response_at",
            "closed_at",
            "helpful",
            "first_response_business_minutes",
            "close_business_minutes",
        ),
        Index(
            "ix_questions_hcp_cover",
            "hcp_id",
            "created_at",
            "product_id",
            "category",
            "off_label_flag",
            "owner_team",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    # The material the HCP was reading when they asked (its family id), if any.
    about_family_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[Category] = mapped_column(enum_column(Category))
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency))
    consent_wording_id: Mapped[int] = mapped_column(ForeignKey("consent_wordings.id"))
    status: Mapped[QuestionStatus] = mapped_column(
        enum_column(QuestionStatus), default=QuestionStatus.RECEIVED
    )
    owner_team: Mapped[TeamKey] = mapped_column(enum_column(TeamKey))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The routing decision as made: teams (owner first), reasons, rule, flags. Kept as made, so
    # staff and auditors can see why, even after the rules change.
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ae_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    off_label_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The first reply (``answered_at`` is the latest), and the business time (minutes, on the
    # owning team's calendar) from receipt to it and to closing, written when they happen: the
    # dashboards cannot compute business hours in SQL.
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_response_business_minutes: Mapped[int | None] = mapped_column(Integer)
    close_business_minutes: Mapped[int | None] = mapped_column(Integer)

    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    product: Mapped[Product | None] = relationship()
    consent_wording: Mapped[ConsentWording] = relationship()
    entries: Mapped[list[QuestionEntry]] = relationship(
        back_populates="question", order_by="QuestionEntry.id"
    )
    events: Mapped[list[QuestionEvent]] = relationship(
        back_populates="question", order_by="QuestionEvent.id"
    )

    @property
    def reference(self) -> str:
        """What people quote on the phone: ``Q-000042``."""
        return reference_of(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in (QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS)

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.is_open and self.due_at < now

    @property
    def teams(self) -> list[TeamKey]:
        """Every team the routing decision involved, the owner first."""
        keys = [TeamKey(k) for k in self.routing.get("teams", [])]
        return keys or [self.owner_team]

    @property
    def reasons(self) -> list[str]:
        return list(self.routing.get("reasons", []))

    @property
    def moves(self) -> list[dict[str, Any]]:
        """Each time the routing engine moved the question to another team after it was routed
        (``from_team``, ``to_team``, ``from_assignee``, ``at``), oldest first."""
        return list(self.routing.get("moves", []))

    @property
    def moved_to_medical(self) -> bool:
        """Medical content in a follow-up moved it to a medical team: medical from then on."""
        return bool(self.moves)


class QuestionEntry(Base):
    """One message in a question's thread: an HCP follow-up, a reply, or an internal note."""

    __tablename__ = "question_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    # Replies are rich text, sanitised before storage; follow-ups and notes are plain text.
    body: Mapped[str] = mapped_column(Text)
    # For notes: the firewall side of the writer (only that side reads it).
    side: Mapped[Side] = mapped_column(enum_column(Side))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    question: Mapped[Question] = relationship(back_populates="entries")
    author: Mapped[User] = relationship()
    attachments: Mapped[list[QuestionAttachment]] = relationship(
        cascade="all, delete-orphan", order_by="QuestionAttachment.material_id"
    )


class QuestionAttachment(Base):
    """An approved material attached to a reply (the exact version that was attached)."""

    __tablename__ = "question_attachments"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("question_entries.id", ondelete="CASCADE"), primary_key=True
    )
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), primary_key=True)


class QuestionEvent(Base):
    """The question's history: what the HCP's timeline and the staff's log are drawn from."""

    __tablename__ = "question_events"
    __table_args__ = (
        Index("ix_question_events_kind_at", "kind", "at", "id"),
        Index("ix_question_events_kind_question", "kind", "question_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[QuestionEventKind] = mapped_column(enum_column(QuestionEventKind))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team: Mapped[TeamKey | None] = mapped_column(enum_column(TeamKey))
    detail: Mapped[str] = mapped_column(Text, default="")

    question: Mapped[Question] = relationship(back_populates="events")
    # Read with the event: the thread names each actor (a question filed on an HCP's behalf
    # has a colleague among them), one query for all.
    actor: Mapped[User | None] = relationship(lazy="joined")


class RoutingRule(Base):
    """An administrator's rule: first active match, by position, decides the owning team.

    Empty condition lists match anything. Hard compliance limits are applied after the rules by
    the routing engine, so no rule can break them.
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(120))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)  # product codes
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    territories: Mapped[list[str]] = mapped_column(JSON, default=list)  # territory codes
    team: Mapped[TeamKey] = mapped_column(enum_column(TeamKey))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlaPolicy(Base):
    """How long a category (or "urgent") may wait, in business hours or days."""

    __tablename__ = "sla_policies"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8))


class Holiday(Base):
    """A day the business calendar skips."""

    __tablename__ = "holidays"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")


class ProductLabel(Base):
    """A product's label facts, as data: what off-label detection compares a question with."""

    __tablename__ = "product_labels"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    indications: Mapped[list[str]] = mapped_column(JSON, default=list)  # condition keys
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    dose_min_mg: Mapped[float | None] = mapped_column(Float)
    dose_max_mg: Mapped[float | None] = mapped_column(Float)
    populations: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    product: Mapped[Product] = relationship()
