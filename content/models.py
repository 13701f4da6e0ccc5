"""Content models: materials (one row per version), reviews, bookmarks, views and downloads."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models import Product, User
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.org import enum_column


class MaterialKind(enum.StrEnum):
    ARTICLE = "article"
    STUDY_SUMMARY = "study_summary"
    DOSING_GUIDE = "dosing_guide"
    SLIDE_DECK = "slide_deck"
    VIDEO = "video"
    PATIENT_LEAFLET = "patient_leaflet"

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self])


KIND_LABELS: dict[MaterialKind, Any] = {
    MaterialKind.ARTICLE: _l("Article"),
    MaterialKind.STUDY_SUMMARY: _l("Study summary"),
    MaterialKind.DOSING_GUIDE: _l("Dosing guide"),
    MaterialKind.SLIDE_DECK: _l("Slide deck"),
    MaterialKind.VIDEO: _l("Video"),
    MaterialKind.PATIENT_LEAFLET: _l("Patient leaflet"),
}


class Classification(enum.StrEnum):
    PROMOTIONAL = "promotional"
    MEDICAL = "medical"  # medical/scientific

    @property
    def label(self) -> str:
        return str(
            _l("Promotional") if self is Classification.PROMOTIONAL else _l("Medical/scientific")
        )


class MaterialStatus(enum.StrEnum):
    """The stored workflow state. "Published" and "expired" are not stored: they follow from an
    approved material's dates at the moment someone reads it (see :meth:`Material.state_at`)."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"
    RETIRED = "retired"  # superseded by an approved newer version, kept for the record


class MaterialState(enum.StrEnum):
    """What a person sees: the workflow state with the dates applied."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"  # approved, effective date still ahead
    PUBLISHED = "published"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    RETIRED = "retired"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ReviewDecision(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class EventKind(enum.StrEnum):
    VIEW = "view"
    DOWNLOAD = "download"


def audience_text(values: Iterable[str]) -> str:
    """Store an audience list as ``|a|b|`` ("" = everyone): filterable with one LIKE."""
    cleaned = sorted({v.strip() for v in values if v and v.strip()})
    return "|" + "|".join(cleaned) + "|" if cleaned else ""


def audience_list(text: str) -> list[str]:
    return [v for v in text.split("|") if v]


class Material(Base):
    """One version of a piece of content. Versions of the same material share ``family_id``."""

    __tablename__ = "materials"
    __table_args__ = (
        UniqueConstraint("approval_code", "version", name="uq_materials_code_version"),
        Index("ix_materials_status_dates", "status", "effective_at", "expires_at"),
        Index("ix_materials_updated", "updated_at"),
        Index("ix_materials_status_updated", "status", "updated_at"),
        # By expiry: the workspace's "expired" count and "expiring soon" list.
        Index("ix_materials_expires", "expires_at"),
        Index("ix_materials_author_updated", "author_id", "updated_at"),
        # A material's product without reading the wide row (insights' product funnel).
        Index("ix_materials_id_product", "id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int | None] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitised rendering
    body_text: Mapped[str] = mapped_column(Text, default="")  # plain text, for search
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    therapeutic_area: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[MaterialKind] = mapped_column(enum_column(MaterialKind), index=True)
    classification: Mapped[Classification] = mapped_column(enum_column(Classification))
    audience_professions: Mapped[str] = mapped_column(Text, default="")
    audience_specialties: Mapped[str] = mapped_column(Text, default="")
    audience_countries: Mapped[str] = mapped_column(Text, default="")
    approval_code: Mapped[str] = mapped_column(String(40), index=True)
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[MaterialStatus] = mapped_column(
        enum_column(MaterialStatus), default=MaterialStatus.DRAFT
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_comments: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_key: Mapped[str | None] = mapped_column(String(80))  # random name under instance/
    file_mime: Mapped[str | None] = mapped_column(String(80))
    file_size: Mapped[int | None] = mapped_column(Integer)
    file_sha256: Mapped[str | None] = mapped_column(String(64))

    product: Mapped[Product] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    withdrawn_by: Mapped[User | None] = relationship(foreign_keys=[withdrawn_by_id])
    reviews: Mapped[list[MaterialReview]] = relationship(
        back_populates="material", order_by="MaterialReview.id"
    )

    def state_at(self, now: dt.datetime) -> MaterialState:
        """The state a person sees at ``now``: dates are applied at read time, no job needed."""
        if self.status is MaterialStatus.APPROVED:
            if now >= self.expires_at:
                return MaterialState.EXPIRED
            if now >= self.effective_at:
                return MaterialState.PUBLISHED
            return MaterialState.APPROVED
        return MaterialState(self.status.value)

    def is_live_at(self, now: dt.datetime) -> bool:
        return self.state_at(now) is MaterialState.PUBLISHED

    @property
    def professions(self) -> list[str]:
        return audience_list(self.audience_professions)

    @property
    def specialties(self) -> list[str]:
        return audience_list(self.audience_specialties)

    @property
    def countries(self) -> list[str]:
        return audience_list(self.audience_countries)

    @property
    def code_label(self) -> str:
        return f"{self.approval_code} v{self.version}"


class MaterialReview(Base):
    """An MLR reviewer's decision on one version."""

    __tablename__ = "material_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(enum_column(ReviewDecision))
    comments: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    material: Mapped[Material] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class MaterialEvent(Base):
    """Who viewed or downloaded which version, when (analytics and the HCP's own history)."""

    __tablename__ = "material_events"
    __table_args__ = (
        Index("ix_material_events_kind_at", "kind", "at", "id"),
        Index("ix_material_events_user_at", "user_id", "at"),
        Index("ix_material_events_material_kind", "material_id", "kind"),
        # "For you": peers' recent views of the candidate materials, read from the index alone.
        Index("ix_material_events_family_at_user", "family_id", "at", "user_id"),
        # The Content dashboard: a date range of events, counted from the index alone.
        Index("ix_material_events_at", "at", "family_id", "user_id", "kind"),
        # The insight dashboards: an HCP's events of a range with what they were about, read
        # from the index alone whether SQLite starts from the HCPs or from the range.
        Index("ix_material_events_user_cover", "user_id", "at", "kind", "family_id", "material_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"))
    family_id: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Bookmark(Base):
    """An HCP's "My library": bookmarks follow the material across versions (by family)."""

    __tablename__ = "bookmarks"
    __table_args__ = (Index("ix_bookmarks_created", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    family_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SearchTerm(Base):
    """How often HCPs searched the library for a query on a day, and how often it found nothing
    (the Content dashboard's top searches and the library's gaps).

    The query is kept normalized (folded, stop words dropped: what the engine searched for) and
    counted per business day. Never who searched: minimum necessary (PRODUCT.md)."""

    __tablename__ = "search_terms"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    query: Mapped[str] = mapped_column(String(200), primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    no_result: Mapped[int] = mapped_column(Integer, default=0)
