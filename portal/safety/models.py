"""Pharmacovigilance cases: a possible adverse event, wherever it was said, on PV's clock.

A case links to its source (a question, a follow-up, a chat message) and keeps the words as they
were said; PV completes the four elements of a valid report.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import Product, User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column

if TYPE_CHECKING:
    from portal.questions.models import Question


class PvCaseStatus(enum.StrEnum):
    OPEN = "open"  # the clock runs
    ACKNOWLEDGED = "acknowledged"  # PV has it: the clock stopped
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class CaseOrigin(enum.StrEnum):
    """How a case came to be: the detector, a colleague's one-click report, or an attestation."""

    DETECTED = "detected"
    STAFF_REPORT = "staff_report"
    ATTESTATION = "attestation"

    @property
    def label(self) -> str:
        return {
            "detected": "Automatic detection",
            "staff_report": "Reported by a colleague",
            "attestation": "Attested by the answerer",
        }[self.value]


class Seriousness(enum.StrEnum):
    """ICH E2A seriousness criteria."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"
    HOSPITALISATION = "hospitalisation"
    DISABILITY = "disability"
    CONGENITAL_ANOMALY = "congenital_anomaly"
    MEDICALLY_IMPORTANT = "medically_important"

    @property
    def label(self) -> str:
        return SERIOUSNESS_LABELS[self]


SERIOUSNESS_LABELS: dict[Seriousness, str] = {
    Seriousness.DEATH: "Results in death",
    Seriousness.LIFE_THREATENING: "Life-threatening",
    Seriousness.HOSPITALISATION: "Requires or prolongs hospitalisation",
    Seriousness.DISABILITY: "Persistent or significant disability or incapacity",
    Seriousness.CONGENITAL_ANOMALY: "Congenital anomaly or birth defect",
    Seriousness.MEDICALLY_IMPORTANT: "Other medically important condition",
}


class PvCase(Base):
    """A possible adverse event, on Pharmacovigilance's clock until acknowledged.

    A report is valid with four elements (patient, reporter, product, event); PV completes them.
    """

    __tablename__ = "pv_cases"
    __table_args__ = (
        Index("ix_pv_cases_created", "created_at", "id"),
        Index("ix_pv_cases_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("question_entries.id"))
    # Where it was said, for sources other than questions (e.g. "chat").
    source: Mapped[str] = mapped_column(String(32), default="question")
    source_ref: Mapped[str | None] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    status: Mapped[PvCaseStatus] = mapped_column(
        enum_column(PvCaseStatus), default=PvCaseStatus.OPEN
    )
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The four elements of a valid report.
    patient: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(Text, default="")
    suspect_product: Mapped[str] = mapped_column(Text, default="")
    event: Mapped[str] = mapped_column(Text, default="")
    serious: Mapped[bool | None] = mapped_column(Boolean)
    seriousness: Mapped[list[str]] = mapped_column(JSON, default=list)  # Seriousness values
    patient_initials: Mapped[str] = mapped_column(String(16), default="")
    patient_age: Mapped[str] = mapped_column(String(32), default="")
    patient_sex: Mapped[str] = mapped_column(String(16), default="")
    # How the case came to be, and the colleague who reported or attested it (None: detection).
    origin: Mapped[CaseOrigin] = mapped_column(enum_column(CaseOrigin), default=CaseOrigin.DETECTED)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A product quality complaint goes to Quality as well.
    product_complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    # The chat message a case came from (source "chat").
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id"), index=True)
    # The call note a case came from (source "call_note": words an HCP said to staff).
    call_note_id: Mapped[int | None] = mapped_column(ForeignKey("call_notes.id"), index=True)

    question: Mapped[Question | None] = relationship()
    reporter_user: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    product: Mapped[Product | None] = relationship()
    reported_by: Mapped[User | None] = relationship(foreign_keys=[reported_by_id])
    follow_ups: Mapped[list[PvFollowUp]] = relationship(
        back_populates="case", order_by="PvFollowUp.id", cascade="all, delete-orphan"
    )

    @property
    def reference(self) -> str:
        return f"PV-{self.id:06d}"

    @property
    def missing_elements(self) -> list[str]:
        """Which of the four elements of a valid report are still empty."""
        fields = {
            "patient": self.patient,
            "reporter": self.reporter,
            "product": self.suspect_product,
            "event": self.event,
        }
        return [name for name, value in fields.items() if not value.strip()]

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.status is PvCaseStatus.OPEN and self.due_at < now


class PvFollowUp(Base):
    """PV asks the reporting HCP for what the report still lacks, through the portal; the HCP
    answers there. The question and the answer are records: never edited or deleted."""

    __tablename__ = "pv_follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("pv_cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    hcp_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[PvCase] = relationship(back_populates="follow_ups")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    hcp: Mapped[User] = relationship(foreign_keys=[hcp_id])


class AttestationSubject(enum.StrEnum):
    QUESTION = "question"
    CONVERSATION = "conversation"
    CALL_NOTE = "call_note"


class SafetyAttestation(Base):
    """A staff member's statement that an HCP's words (a question, or a chat's messages up to
    ``through_seq``) did or did not hold an adverse event or product complaint. Append-only."""

    __tablename__ = "safety_attestations"
    __table_args__ = (
        Index("ix_safety_attestations_question", "question_id"),
        Index("ix_safety_attestations_conversation", "conversation_id", "through_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[AttestationSubject] = mapped_column(enum_column(AttestationSubject))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    through_seq: Mapped[int | None] = mapped_column(Integer)  # chat: messages 1..through_seq
    call_note_id: Mapped[int | None] = mapped_column(ForeignKey("call_notes.id"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    adverse_event: Mapped[bool] = mapped_column(Boolean)
    product_complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("pv_cases.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User] = relationship()
