"""Supervisory exports: each run (who asked, for what, how far it got) and its file.

The file is kept in the database in parts of ``CHUNK_SIZE`` bytes (``export_chunks``), not on the
disk of the worker that wrote it: any server process can stream the download, whichever host
ran the export. Old files are deleted after ``EXPORT_KEEP_DAYS`` (the run stays, with its size
and SHA-256, so the record of what was exported outlives the file).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column

CHUNK_SIZE = 1024 * 1024  # bytes per stored part of a file


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for the worker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])


STATUS_LABELS = {
    ExportStatus.QUEUED: _l("Queued"),
    ExportStatus.RUNNING: _l("Running"),
    ExportStatus.DONE: _l("Ready"),
    ExportStatus.FAILED: _l("Failed"),
}


class ExportRun(Base):
    """One supervisory export: its filters, its progress, and the file it produced."""

    __tablename__ = "export_runs"
    __table_args__ = (
        Index("ix_export_runs_requested", "requested_at", "id"),
        Index("ix_export_runs_status", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The filters as asked (dates, time zone, ids of the HCP / staff member, team, product code).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ExportStatus] = mapped_column(
        enum_column(ExportStatus), default=ExportStatus.QUEUED
    )
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Progress: records written so far, and the estimate of the total made when it started.
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_estimate: Mapped[int | None] = mapped_column(Integer)
    # Records per file ({"messages.jsonl": n, ...}) once done.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    file_name: Mapped[str | None] = mapped_column(String(120))
    file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    # When the stored file was deleted (EXPORT_KEEP_DAYS after it was made).
    file_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # The worker running it: a token it drew when it claimed the run, and when it last said it
    # was alive (each progress commit). Another worker takes over only a run whose heartbeat
    # is stale; a worker whose token is no longer there stops and writes nothing.
    claim: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    requested_by: Mapped[User | None] = relationship()

    @property
    def reference(self) -> str:
        return f"EXP-{self.id:06d}"

    @property
    def percent(self) -> int | None:
        """How far it got, 0 to 100, while running (``None`` without an estimate)."""
        if self.status is ExportStatus.DONE:
            return 100
        if not self.rows_estimate:
            return None
        return min(99, int(100 * self.rows_done / self.rows_estimate))

    @property
    def downloadable(self) -> bool:
        return self.status is ExportStatus.DONE and self.file_deleted_at is None

    @property
    def in_progress(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExportChunk(Base):
    """One part of an export's file, in order of ``part`` (0, 1, ...)."""

    __tablename__ = "export_chunks"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("export_runs.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
