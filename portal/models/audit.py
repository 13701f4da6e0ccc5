"""The append-only audit trail and the single row that serialises its hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime


class AuditRecord(Base):
    """One attributable, time-stamped action; ``hash`` chains it to the record before it.

    Personal data (the actor's label, and the details named in ``portal.audit.PERSONAL_KEYS``)
    is kept apart in ``actor_label`` and ``personal``: the chain covers ``personal_digest``, a
    salted hash of them, not the values, so erasing a person (the values and the salt go, the
    digest stays) leaves the chain verifiable. See docs/records.md.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_action_at", "action", "at"),
        Index("ix_audit_records_target", "target_type", "target_id", "id"),
        Index("ix_audit_records_actor", "actor_id", "id"),
    )

    # Assigned from AuditHead.seq, not by the database: the id is part of the hashed content.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The personal part of the details; None once erased (or when there was none and it is erased).
    personal: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # sha256 over salt, actor label and personal part; the salt goes when the person is erased.
    salt: Mapped[str | None] = mapped_column(String(32))
    personal_digest: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    @property
    def shown_details(self) -> dict[str, Any]:
        """What a page shows: the details with their personal part, while it is held."""
        return {**(self.details or {}), **(self.personal or {})}

    @property
    def erased(self) -> bool:
        """Has the personal part been erased (the salt is gone)?"""
        return self.salt is None


class AuditHead(Base):
    """The chain's tip. Updating this one row first makes concurrent writers take turns."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
