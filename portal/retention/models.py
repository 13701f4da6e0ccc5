"""Retention: how long each kind of record is kept, legal holds, and the purge's run reports.

Periods are data (``retention_periods``, one row per :class:`RecordKind`) so that compliance can
change them without a release; a missing row means "the default from the config"
(``RETENTION_DEFAULT_DAYS``). A legal hold on a person (or on everything) stops the purge from
deleting their records and stops their erasure (``portal/retention/holds.py``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column


class RecordKind(enum.StrEnum):
    """The kinds of record the purge knows. The values are stored and are the CLI's JSON keys."""

    CONVERSATIONS = "conversations"  # ended chat conversations, their messages and revisions
    QUESTIONS = "questions"  # closed questions with their replies, notes and events
    MATERIAL_VIEWS = "material_views"
    NOTIFICATIONS = "notifications"
    SESSIONS = "sessions"  # ended or expired sign-in sessions
    MAIL_OUTBOX = "mail_outbox"  # sent or abandoned mail
    SEARCH_TERMS = "search_terms"
    JOBS = "jobs"  # finished background jobs
    EXPORT_FILES = "export_files"  # supervisory export files (the run's record stays)
    SAFETY_LINKED = "safety_linked"  # conversations/questions linked to a PV case
    # The personal part (IP address, device) of sign-in, session and two-factor audit records:
    # the records stay, their personal part is erased (portal/audit.py).
    SIGN_IN_DETAILS = "sign_in_details"

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self])

    @property
    def explanation(self) -> str:
        return str(KIND_EXPLANATIONS[self])


KIND_LABELS: dict[RecordKind, Any] = {
    RecordKind.CONVERSATIONS: _l("Chat conversations"),
    RecordKind.QUESTIONS: _l("Questions"),
    RecordKind.MATERIAL_VIEWS: _l("Material views"),
    RecordKind.NOTIFICATIONS: _l("Notifications"),
    RecordKind.SESSIONS: _l("Sign-in sessions"),
    RecordKind.MAIL_OUTBOX: _l("Mail outbox"),
    RecordKind.SEARCH_TERMS: _l("Search terms"),
    RecordKind.JOBS: _l("Background jobs"),
    RecordKind.EXPORT_FILES: _l("Export files"),
    RecordKind.SAFETY_LINKED: _l("Safety-linked records"),
    RecordKind.SIGN_IN_DETAILS: _l("Sign-in details in the audit trail"),
}

KIND_EXPLANATIONS: dict[RecordKind, Any] = {
    RecordKind.CONVERSATIONS: _l(
        "Messages and their edit history, counted from the conversation's last message once"
        " the HCP's chat consent has ended."
    ),
    RecordKind.QUESTIONS: _l(
        "Questions with their replies, notes and routing, counted from when they were closed."
    ),
    RecordKind.MATERIAL_VIEWS: _l("Who opened which material, counted from the view."),
    RecordKind.NOTIFICATIONS: _l("In-portal notifications, counted from when they were made."),
    RecordKind.SESSIONS: _l("Sign-in sessions, counted from when they ended or expired."),
    RecordKind.MAIL_OUTBOX: _l("Mail sent or given up on, counted from when it was queued."),
    RecordKind.SEARCH_TERMS: _l("What people searched for, counted from the search."),
    RecordKind.JOBS: _l("Finished background jobs, counted from when they finished."),
    RecordKind.EXPORT_FILES: _l(
        "The files of supervisory exports, counted from when they were made;"
        " the record that the export happened stays."
    ),
    RecordKind.SAFETY_LINKED: _l(
        "Conversations and questions linked to an adverse event or product complaint,"
        " counted from when the case was closed. The ordinary periods never remove them;"
        " the period cannot be set below the regulatory minimum."
    ),
    RecordKind.SIGN_IN_DETAILS: _l(
        "The IP addresses and devices recorded in the audit trail for sign-ins, sessions,"
        " two-factor checks and password changes, counted from the record. The record itself"
        " stays (who signed in, when) and the trail still verifies."
    ),
}


class RetentionPeriod(Base):
    """How many days records of one kind are kept. Changed only through
    :func:`portal.retention.periods.set_period` (audited)."""

    __tablename__ = "retention_periods"

    kind: Mapped[RecordKind] = mapped_column(enum_column(RecordKind, 32), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])


class HoldScope(enum.StrEnum):
    PERSON = "person"  # one person's records (HCP or staff)
    EVERYTHING = "everything"  # the purge stops altogether; nobody is erased


class LegalHold(Base):
    """A legal hold: while it is active (``released_at`` is null), the records of its person
    (or every record) are never purged and its person is never erased."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_user_released", "user_id", "released_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[HoldScope] = mapped_column(enum_column(HoldScope, 16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    placed_by: Mapped[User | None] = relationship(foreign_keys=[placed_by_id])
    released_by: Mapped[User | None] = relationship(foreign_keys=[released_by_id])

    @property
    def active(self) -> bool:
        return self.released_at is None


class RunState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RetentionRun(Base):
    """One run of the purge: when, whether it was a dry run, and how many records of each kind
    it removed (or would have)."""

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[RunState] = mapped_column(enum_column(RunState, 16), default=RunState.RUNNING)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # "job" (the daily worker job) or "cli" (``flask retention purge``).
    trigger: Mapped[str] = mapped_column(String(16), default="job")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # {kind value: records removed}; whole conversations/questions count once each.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) if self.counts else 0
