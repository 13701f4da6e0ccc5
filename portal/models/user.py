"""People: every user account, and the professional profile of an HCP."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import Product, TeamMembership, Territory, enum_column
from portal.models.reference import COUNTRIES, Profession, Role, Verification

staff_territories = Table(
    "staff_territories",
    Base.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "territory_id", Integer, ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True
    ),
)

staff_products = Table(
    "staff_products",
    Base.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", Integer, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """An account: an HCP or a member of the company's staff."""

    __tablename__ = "users"
    __table_args__ = (
        # The roster lists a territory's HCPs by name: read in order, stopped at a page (0014).
        Index("ix_users_role_name", "role", "name"),
        # The API's "registered" events and the adoption figures read sign-ups by date (0018).
        Index("ix_users_role_created", "role", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), index=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Bumped on password change or suspension: sessions carrying an older value are void.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The user's own choices; None follows the browser (portal/i18n.py decides the fallbacks).
    locale: Mapped[str | None] = mapped_column(String(8))  # one of config LANGUAGES
    timezone: Mapped[str | None] = mapped_column(String(64))  # an IANA name, e.g. Europe/Berlin

    hcp_profile: Mapped[HcpProfile | None] = relationship(
        back_populates="user", foreign_keys="HcpProfile.user_id", cascade="all, delete-orphan"
    )
    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    territories: Mapped[list[Territory]] = relationship(
        secondary=staff_territories, order_by="Territory.code"
    )
    products: Mapped[list[Product]] = relationship(
        secondary=staff_products, order_by="Product.code"
    )

    # --- Flask-Login -------------------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.suspended

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    # --- derived ---------------------------------------------------------------------------------
    @property
    def is_hcp(self) -> bool:
        return self.role is Role.HCP

    @property
    def is_verified_hcp(self) -> bool:
        return (
            self.hcp_profile is not None and self.hcp_profile.verification is Verification.VERIFIED
        )

    @property
    def teams(self) -> list:
        return [m.team for m in self.memberships]

    @property
    def territory(self) -> Territory | None:
        """The HCP's territory (staff cover several: see ``territories``)."""
        return self.hcp_profile.territory if self.hcp_profile else None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class HcpProfile(Base):
    """What an HCP told us about themselves at registration, and its verification."""

    __tablename__ = "hcp_profiles"
    __table_args__ = (Index("ix_hcp_profiles_verified", "verification", "verified_at", "user_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    profession: Mapped[Profession] = mapped_column(enum_column(Profession))
    specialty: Mapped[str] = mapped_column(String(100))
    institution: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(20))
    npi: Mapped[str | None] = mapped_column(String(10), unique=True)
    licence_number: Mapped[str | None] = mapped_column(String(64))
    territory_id: Mapped[int | None] = mapped_column(
        ForeignKey("territories.id", ondelete="SET NULL")
    )
    verification: Mapped[Verification] = mapped_column(
        enum_column(Verification), default=Verification.PENDING, index=True
    )
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="hcp_profile", foreign_keys=[user_id])
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])
    territory: Mapped[Territory | None] = relationship()

    @property
    def country_name(self) -> str:
        return COUNTRIES.get(self.country, self.country)
