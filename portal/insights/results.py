"""Dashboards computed once and served many times.

A dashboard's figures aggregate a year of records (a million views, two million chat messages at
the scale of ``bench/``): computing them takes from milliseconds on a small portal to seconds on
a large one. So a computed dashboard is kept (``insight_results``, shared by every process) under
a key made of the dashboard, the sides of the firewall it counts, its filters and the language of
its labels, and served from there while it is younger than ``INSIGHTS_MAX_AGE_MINUTES``: the page
says when its figures were computed. Nothing of one viewer reaches another who may not see it:
the key holds the sides, and a commercial lead's figures are computed from the commercial side
only, as :mod:`portal.insights.panels` requires.

The background worker keeps the dashboards people open every day warm: every
``INSIGHTS_REFRESH_MINUTES`` (the ``insights.refresh`` job, once across all processes) it
recomputes each dashboard over its default range for each side and language of the people who may
view insights, and drops results older than a day. A range or product nobody asked for before is
computed when asked, then kept like the others. ``flask insights refresh`` does the worker's round
at once (before a benchmark, after a restore).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from portal import i18n, policy
from portal.extensions import db
from portal.insights.dashboards import DASHBOARDS
from portal.insights.models import InsightResult
from portal.insights.panels import Chart, Column, ColumnKind, Dashboard, Filters, Panel, Viewer
from portal.models import Role, TeamMembership, User, utcnow
from portal.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

KEEP = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Computed:
    """A dashboard's panels and when they were computed."""

    panels: list[Panel]
    computed_at: dt.datetime


def key_of(dashboard: Dashboard, viewer: Viewer, filters: Filters, locale: str) -> str:
    parts = {
        "dashboard": dashboard.key,
        "sides": sorted(viewer.sides),
        "since": filters.since.isoformat(),
        "until": filters.until.isoformat(),
        "product": filters.product_id,
        "locale": locale,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def panels_for(dashboard: Dashboard, viewer: Viewer, filters: Filters) -> Computed:
    """The dashboard's panels for ``viewer`` and ``filters``: the kept result while it is fresh,
    else computed now (and kept). The caller has checked that the viewer may see the dashboard."""
    locale = i18n.current_locale()
    key = key_of(dashboard, viewer, filters, locale)
    max_age = dt.timedelta(minutes=current_app.config["INSIGHTS_MAX_AGE_MINUTES"])
    kept = db.session.get(InsightResult, key)
    if kept is not None and kept.computed_at > utcnow() - max_age:
        return Computed([_panel(p) for p in kept.panels], kept.computed_at)
    computed_at = utcnow()
    started = time.perf_counter()
    panels = dashboard.build(viewer, filters)
    _store([(key, dashboard.key, computed_at, time.perf_counter() - started, panels)])
    return Computed(panels, computed_at)


def refresh(*, force: bool = False) -> int:
    """The worker's round: recompute every dashboard over its default range for each side and
    language of the people who may view insights, keep the results, drop those older than a
    day. A result younger than half ``INSIGHTS_REFRESH_MINUTES`` is left as it is unless
    ``force`` (a round right after ``flask insights refresh`` has nothing to do). Returns how
    many dashboards were computed. Computes everything first and writes at the end (SQLite has
    one writer: it is not held while computing). Writes no audit record: figures only."""
    from portal.insights.views import default_range, today

    since, until = default_range(today())
    filters = Filters(since=since, until=until)
    recent = utcnow() - dt.timedelta(minutes=current_app.config["INSIGHTS_REFRESH_MINUTES"] / 2)
    rows = []
    for sides, locale in sorted(_audiences(), key=lambda a: (sorted(a[0]), a[1])):
        viewer = Viewer(sides=sides)
        with i18n.for_user(locale, None):
            for dashboard in DASHBOARDS:
                if not dashboard.visible(viewer):
                    continue
                key = key_of(dashboard, viewer, filters, locale)
                kept = db.session.get(InsightResult, key)
                if not force and kept is not None and kept.computed_at > recent:
                    continue
                started = time.perf_counter()
                panels = dashboard.build(viewer, filters)
                rows.append((key, dashboard.key, utcnow(), time.perf_counter() - started, panels))
    _store(rows)
    with unit_of_work():
        db.session.execute(delete(InsightResult).where(InsightResult.computed_at < utcnow() - KEEP))
    return len(rows)


def _audiences() -> set[tuple[frozenset[Any], str]]:
    """(sides, language) of every active administrator, compliance officer and team lead."""
    leads = select(TeamMembership.user_id).where(TeamMembership.is_lead.is_(True))
    viewers = db.session.scalars(
        select(User).where(
            User.suspended.is_(False),
            (User.role.in_([Role.ADMIN, Role.COMPLIANCE])) | User.id.in_(leads),
        )
    )
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    found = set()
    for user in viewers:
        sides = policy.insight_sides(user)
        if sides:
            found.add((sides, user.locale if user.locale in i18n.languages() else default))
    return found


def _store(rows: Iterable[tuple[str, str, dt.datetime, float, list[Panel]]]) -> None:
    values = [
        {
            "key": key,
            "dashboard": name,
            "computed_at": at,
            "seconds": round(seconds, 3),
            "panels": [_plain_panel(p) for p in panels],
        }
        for key, name, at, seconds, panels in rows
    ]
    if not values:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    with unit_of_work():
        for value in values:
            statement = insert(InsightResult).values(**value)
            statement = statement.on_conflict_do_update(
                index_elements=[InsightResult.key],
                set_={name: value[name] for name in ("computed_at", "seconds", "panels")},
            )
            db.session.execute(statement)


# --- panels as JSON (labels already in the key's language) ------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return float(value)
    if value is None or isinstance(value, int | float | bool | str):
        return value
    return str(value)  # a lazy translated string, an enum


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if "$datetime" in value:
            return dt.datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
    return value


def _plain_panel(panel: Panel) -> dict[str, Any]:
    return {
        "key": panel.key,
        "title": str(panel.title),
        "columns": [[c.key, str(c.label), str(c.kind)] for c in panel.columns],
        "rows": [{k: _plain(v) for k, v in row.items()} for row in panel.rows],
        "chart": str(panel.chart),
        "x": panel.x,
        "series": list(panel.series),
        "note": str(panel.note),
    }


def _panel(data: dict[str, Any]) -> Panel:
    return Panel(
        key=data["key"],
        title=data["title"],
        columns=[Column(k, label, ColumnKind(kind)) for k, label, kind in data["columns"]],
        rows=[{k: _unplain(v) for k, v in row.items()} for row in data["rows"]],
        chart=Chart(data["chart"]),
        x=data["x"],
        series=tuple(data["series"]),
        note=data["note"],
    )


def refresh_job(payload: dict[str, Any]) -> None:
    """The ``insights.refresh`` job (periodic; see :func:`refresh`)."""
    computed = refresh()
    if computed:
        log.info("insights: %s dashboards recomputed", computed)
