"""Background jobs: rows queued in the same transaction as the change that causes them, claimed by
one worker at a time with a lease (see ``portal/jobs.py``)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column


class JobState(enum.StrEnum):
    PENDING = "pending"  # waiting for its run_at, or running under a live lease
    DONE = "done"
    FAILED = "failed"  # gave up after its attempts; kept with its last error for review


class Job(Base):
    """One unit of background work. A periodic job is a single row that stays ``pending`` and
    moves its ``run_at`` forward after each run, so it can never run twice at the same time."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_at", "state", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # At most one job ever holds a key (``periodic:<kind>``, ``webhook:<event id>``): enqueueing
    # it again, from any process, does nothing.
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[JobState] = mapped_column(enum_column(JobState, 16), default=JobState.PENDING)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
