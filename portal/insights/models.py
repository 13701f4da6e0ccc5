"""Computed dashboards, kept for a while (:mod:`portal.insights.results`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, utcnow


class InsightResult(Base):
    """One dashboard's panels for one key: the dashboard, the sides counted, the filters and
    the language its labels were written in. Holds figures only, never a person's record."""

    __tablename__ = "insight_results"
    __table_args__ = (Index("ix_insight_results_computed", "computed_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dashboard: Mapped[str] = mapped_column(String(40))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # how long the computation took
    panels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
