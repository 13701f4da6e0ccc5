"""What a dashboard is made of: filters in, panels out.

A dashboard is a function ``build(viewer, filters) -> list[Panel]``; every figure in a panel is
computed by SQL aggregation in the database (GROUP BY, COUNT, percentiles over grouped rows),
never by loading records into Python. A panel is a small table (its rows are the aggregate's
rows); the page draws it as a chart *and* shows the same numbers in a table, and
``/insights/<dashboard>/<panel>.csv`` downloads it.

Weeks are Monday-to-Sunday in the business time zone (``BUSINESS_TIMEZONE``): :func:`week_bucket`
turns a timestamp column into the week's number counted from ``filters.first_week`` with one
expression that means the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Integer, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from portal.models.reference import Side

WEEK_SECONDS = 7 * 24 * 3600


class ColumnKind(enum.StrEnum):
    TEXT = "text"
    COUNT = "count"  # an integer
    PERCENT = "percent"  # 0..100, one decimal
    HOURS = "hours"  # business hours, one decimal
    DATE = "date"  # ISO date (a week's Monday)


class Chart(enum.StrEnum):
    BAR = "bar"
    STACKED_BAR = "stacked-bar"
    LINE = "line"
    TABLE = "table"  # numbers only, no chart


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    label: Any  # a lazy translated string
    kind: ColumnKind = ColumnKind.COUNT


@dataclasses.dataclass(frozen=True)
class Panel:
    """One figure: rows of plain values (``dict`` per row keyed by column key). ``x`` is the
    column along the chart's axis, ``series`` the columns drawn; ``note`` says how to read it."""

    key: str
    title: Any  # a lazy translated string
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    chart: Chart = Chart.BAR
    x: str = ""
    series: Sequence[str] = ()
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Filters:
    """The date range (inclusive days in the business zone) and, optionally, one product."""

    since: dt.date
    until: dt.date
    product_id: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(current_app.config.get("BUSINESS_TIMEZONE") or "UTC")

    @property
    def start(self) -> dt.datetime:
        """The range's first instant (midnight of ``since`` in the business zone), in UTC."""
        return dt.datetime.combine(self.since, dt.time(), self.zone).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The instant after the range (midnight after ``until``), in UTC: ``at < end``."""
        following = self.until + dt.timedelta(days=1)
        return dt.datetime.combine(following, dt.time(), self.zone).astimezone(dt.UTC)

    @property
    def first_week(self) -> dt.date:
        """The Monday of the week holding ``since``."""
        return self.since - dt.timedelta(days=self.since.weekday())

    @property
    def first_week_start(self) -> dt.datetime:
        return dt.datetime.combine(self.first_week, dt.time(), self.zone).astimezone(dt.UTC)

    def week_monday(self, bucket: int) -> dt.date:
        """The Monday of week number ``bucket`` (0 = :attr:`first_week`)."""
        return self.first_week + dt.timedelta(weeks=int(bucket))

    def weeks(self) -> list[dt.date]:
        """Every week's Monday in the range, in order (so a chart shows empty weeks too)."""
        mondays, monday = [], self.first_week
        while monday <= self.until:
            mondays.append(monday)
            monday += dt.timedelta(weeks=1)
        return mondays


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    # SQLite stores UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return (func.julianday(column) - 2440587.5) * 86400.0


def week_bucket(column: Any, filters: Filters, dialect: str) -> ColumnElement[int]:
    """The week (0, 1, ...) of ``column`` counted from ``filters.first_week``, in the business
    zone. Daylight-saving shifts are absorbed: the offset of the range's first Monday is used
    for all weeks, so a timestamp within an hour of Monday midnight around a DST change may
    fall in the neighbouring week (documented; the figures' tests avoid that hour)."""
    start = filters.first_week_start.timestamp()
    seconds = epoch_seconds(column, dialect) - literal(start)
    return cast(func.floor(seconds / WEEK_SECONDS), Integer)


@dataclasses.dataclass(frozen=True)
class Viewer:
    """Who looks: the sides of the firewall whose records the figures may count."""

    sides: frozenset[Side]

    @property
    def sees_medical(self) -> bool:
        return Side.MEDICAL in self.sides

    @property
    def sees_commercial(self) -> bool:
        return Side.COMMERCIAL in self.sides


@dataclasses.dataclass(frozen=True)
class Dashboard:
    """A dashboard of ``/insights``: ``visible(viewer)`` decides whether it is listed at all."""

    key: str
    title: Any  # a lazy translated string
    build: Callable[[Viewer, Filters], list[Panel]]
    visible: Callable[[Viewer], bool] = lambda viewer: bool(viewer.sides)
