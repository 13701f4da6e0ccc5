"""The company's organisation: teams, territories and products."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base
from portal.models.reference import TEAM_NAMES, TeamKey

if TYPE_CHECKING:
    from portal.models.user import User


def enum_column(enum_cls: type, length: int = 32) -> Enum:
    """A portable enum column storing the member's value as text."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[TeamKey] = mapped_column(enum_column(TeamKey), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Whose calendar the team's due times run on: the country's public holidays (ISO 3166
    # alpha-2) and, when set, its time zone (IANA name). None: the company-wide calendar.
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)

    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return str(TEAM_NAMES.get(self.key, self.name))


class TeamMembership(Base):
    __tablename__ = "team_memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class Territory(Base):
    """A sales/medical territory: a country, optionally narrowed to postal-code prefixes."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), index=True)
    # Space-separated prefixes, e.g. "100 101 102"; empty means the whole country.
    postal_prefixes: Mapped[str] = mapped_column(Text, default="")

    @property
    def prefixes(self) -> list[str]:
        return self.postal_prefixes.split()


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    therapeutic_area: Mapped[str] = mapped_column(String(100))
