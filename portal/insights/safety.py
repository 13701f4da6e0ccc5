"""The Safety dashboard: possible adverse events and Pharmacovigilance's clock.

PV cases are medical records: the dashboard is listed only for viewers who see the medical side
(administrators, compliance, medical team leads). A case's clock is the one stored on it
(``due_at``: one business day on PV's calendar from receipt, set when the case was opened), so
"acknowledged within one business day" is ``acknowledged_at <= due_at``, compared in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from portal.insights.aggregates import (
    dialect,
    in_range,
    one_decimal,
    percent,
    rows_of,
    weekly_rows,
)
from portal.insights.panels import (
    Chart,
    Column,
    ColumnKind,
    Dashboard,
    Filters,
    Panel,
    Viewer,
    week_bucket,
)
from portal.models import utcnow
from portal.safety.models import PvCase, PvCaseStatus
from portal.safety.services import CaseSource

SOURCE_LABELS: dict[CaseSource, Any] = {
    CaseSource.QUESTION: _l("Question"),
    CaseSource.FOLLOW_UP: _l("Follow-up"),
    CaseSource.CHAT: _l("Chat"),
    CaseSource.CALL_NOTE: _l("Call note"),
    CaseSource.MEETING: _l("Meeting"),
}


def visible(viewer: Viewer) -> bool:
    """PV cases are medical records: only viewers who see the medical side."""
    return viewer.sees_medical


def _product(filters: Filters) -> list[ColumnElement[bool]]:
    return [PvCase.product_id == filters.product_id] if filters.product_id is not None else []


def cases_per_week(filters: Filters) -> Panel:
    """Possible adverse events received per week, by where they were said."""
    week = week_bucket(PvCase.created_at, filters, dialect())
    per_source = [
        func.sum(case((PvCase.source == source.value, 1), else_=0)).label(source.value)
        for source in CaseSource
    ]
    found = rows_of(
        select(week.label("week"), func.count().label("total"), *per_source)
        .where(in_range(PvCase.created_at, filters), *_product(filters))
        .group_by(week)
    )
    keys = [source.value for source in CaseSource]
    empty = dict.fromkeys([*keys, "total"], 0)
    rows = weekly_rows(
        filters,
        {int(r["week"]): {k: int(r[k] or 0) for k in [*keys, "total"]} for r in found},
        empty,
    )
    return Panel(
        key="cases-per-week",
        title=_l("Possible adverse events per week, by source"),
        columns=[
            Column("week", _l("Week"), ColumnKind.DATE),
            *(Column(source.value, SOURCE_LABELS[source]) for source in CaseSource),
            Column("total", _l("Total")),
        ],
        rows=rows,
        chart=Chart.STACKED_BAR,
        x="week",
        series=keys,
        note=str(_l("Cases by the week they were received (business time zone).")),
    )


def acknowledged_in_time(filters: Filters) -> Panel:
    """Per week of receipt: how many cases PV acknowledged by their due time (one business day),
    how many were late (acknowledged after it, or still unacknowledged past it), and the share
    on time of those whose clock has run out or stopped."""
    now = utcnow()
    week = week_bucket(PvCase.created_at, filters, dialect())
    on_time = func.sum(
        case(
            (
                and_(PvCase.acknowledged_at.is_not(None), PvCase.acknowledged_at <= PvCase.due_at),
                1,
            ),
            else_=0,
        )
    )
    late = func.sum(
        case(
            (
                or_(
                    PvCase.acknowledged_at > PvCase.due_at,
                    and_(PvCase.acknowledged_at.is_(None), PvCase.due_at < now),
                ),
                1,
            ),
            else_=0,
        )
    )
    found = rows_of(
        select(
            week.label("week"),
            func.count().label("received"),
            on_time.label("on_time"),
            late.label("late"),
            percent(on_time, on_time + late).label("share"),
        )
        .where(in_range(PvCase.created_at, filters), *_product(filters))
        .group_by(week)
    )
    rows = weekly_rows(
        filters,
        {
            int(r["week"]): {
                "received": int(r["received"]),
                "on_time": int(r["on_time"] or 0),
                "late": int(r["late"] or 0),
                "share": one_decimal(r["share"]),
            }
            for r in found
        },
        {"received": 0, "on_time": 0, "late": 0, "share": None},
    )
    return Panel(
        key="acknowledged-in-time",
        title=_l("Acknowledged by Pharmacovigilance within one business day"),
        columns=[
            Column("week", _l("Week"), ColumnKind.DATE),
            Column("received", _l("Received")),
            Column("on_time", _l("Acknowledged in time")),
            Column("late", _l("Late")),
            Column("share", _l("Share in time"), ColumnKind.PERCENT),
        ],
        rows=rows,
        chart=Chart.LINE,
        x="week",
        series=["share"],
        note=str(
            _l(
                "Late: acknowledged after the case's due time, or still waiting past it. "
                "Cases whose clock still runs count in neither."
            )
        ),
    )


def open_past_clock(filters: Filters) -> Panel:
    """Open cases past their due time now, by source: how many and the oldest's due time.
    The state of today, whatever the date range (the product filter applies)."""
    now = utcnow()
    found = {
        r["source"]: r
        for r in rows_of(
            select(
                PvCase.source.label("source"),
                func.count().label("open"),
                func.min(PvCase.due_at).label("oldest_due"),
            )
            .where(PvCase.status == PvCaseStatus.OPEN, PvCase.due_at < now, *_product(filters))
            .group_by(PvCase.source)
        )
    }
    rows = []
    for source in CaseSource:
        row = found.get(source.value)
        oldest = row["oldest_due"] if row else None
        rows.append(
            {
                "source": str(SOURCE_LABELS[source]),
                "open": int(row["open"]) if row else 0,
                "oldest_due": _business_date(oldest, filters),
                "hours_overdue": _hours_overdue(oldest, now),
            }
        )
    return Panel(
        key="open-past-clock",
        title=_l("Open cases past their clock"),
        columns=[
            Column("source", _l("Source"), ColumnKind.TEXT),
            Column("open", _l("Open past due")),
            Column("oldest_due", _l("Oldest due on"), ColumnKind.DATE),
            Column("hours_overdue", _l("Oldest overdue by (hours)"), ColumnKind.HOURS),
        ],
        rows=rows,
        chart=Chart.BAR,
        x="source",
        series=["open"],
        note=str(_l("As of now, whatever the date range; clock hours.")),
    )


def _business_date(moment: Any, filters: Filters) -> str | None:
    if moment is None:
        return None
    return str(_aware(moment).astimezone(filters.zone).date().isoformat())


def _hours_overdue(moment: Any, now: Any) -> float | None:
    if moment is None:
        return None
    return round((now - _aware(moment)).total_seconds() / 3600.0, 1)


def _aware(moment: dt.datetime) -> dt.datetime:
    # MIN() of a UTCDateTime column is read back aware; be safe if a driver hands back naive UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    if not visible(viewer):
        return []
    return [cases_per_week(filters), acknowledged_in_time(filters), open_past_clock(filters)]


DASHBOARD = Dashboard(key="safety", title=_l("Safety"), build=build, visible=visible)
