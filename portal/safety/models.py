"""Pharmacovigilance cases: a possible adverse event, wherever it was said, on PV's clock.

A case links to its source (a question, a follow-up, a chat message) and keeps the words as they
were said; PV completes the four elements of a valid report.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import Product, User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column

if TYPE_CHECKING:
    from portal.inquiries.models import Question


class PvCaseStatus(enum.StrEnum):
    OPEN = "open"  # the clock runs
    ACKNOWLEDGED = "acknowledged"  # PV has it: the clock stopped
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class PvCase(Base):
    """A possible adverse event, on Pharmacovigilance's clock until acknowledged.

    A report is valid with four elements (patient, reporter, product, event); PV completes them.
    """

    __tablename__ = "pv_cases"
    __table_args__ = (Index("ix_pv_cases_status_due", "status", "due_at"),)

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

    question: Mapped[Question | None] = relationship()
    reporter_user: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    product: Mapped[Product | None] = relationship()

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
