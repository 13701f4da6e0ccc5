"""Data-rights requests: an HCP's (or an administrator's) request to erase a person, kept
whether it ran at once or waits for a legal hold to be released."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column


class ErasureStatus(enum.StrEnum):
    PENDING = "pending"  # the person is under a legal hold: nothing was erased yet
    DONE = "done"


class ErasureRequest(Base):
    """One request to erase a person. ``PENDING`` while a legal hold stops it (administrators see
    the list and run it again once the hold is released); ``DONE`` with the pseudonym and what
    was kept and removed (counts only: no personal data)."""

    __tablename__ = "erasure_requests"
    __table_args__ = (Index("ix_erasure_requests_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Who asked: the person themselves or an administrator (None: the command line).
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ErasureStatus] = mapped_column(
        enum_column(ErasureStatus), default=ErasureStatus.PENDING
    )
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    pseudonym: Mapped[str | None] = mapped_column(String(64))
    # {"kept": {kind: n}, "removed": {kind: n}} once done.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
