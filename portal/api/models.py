"""Integration clients' credentials: API tokens with scopes.

A token is shown once, when it is created; the portal keeps only its SHA-256 (tokens are 256
random bits, so a fast hash is as safe as a slow one and costs nothing per request) and a short
prefix that lets an administrator recognise it in lists and logs.
"""

from __future__ import annotations

import datetime as dt
import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import User
from portal.models.base import Base, UTCDateTime, utcnow


class ApiScope(enum.StrEnum):
    """What a token may do (the values are the public contract of ``flask api token create``)."""

    READ_COMMERCIAL = "read:commercial"
    READ_MEDICAL = "read:medical"
    READ_PV = "read:pv"
    WRITE_INTERACTIONS = "write:interactions"

    @property
    def label(self) -> str:
        return str(SCOPE_LABELS[self])


SCOPE_LABELS = {
    ApiScope.READ_COMMERCIAL: _l("Read commercial records"),
    ApiScope.READ_MEDICAL: _l("Read medical records"),
    ApiScope.READ_PV: _l("Read pharmacovigilance cases"),
    ApiScope.WRITE_INTERACTIONS: _l("Record interactions (call notes)"),
}


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the token, shown in lists so a client's token can be recognised.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated :class:`ApiScope` values, sorted.
    scopes: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def scope_set(self) -> frozenset[ApiScope]:
        return frozenset(ApiScope(value) for value in self.scopes.split() if value)

    @property
    def active(self) -> bool:
        return self.revoked_at is None
