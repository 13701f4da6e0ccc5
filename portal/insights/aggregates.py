"""SQL building blocks the Safety, Chat and contact, and Adoption dashboards share.

Everything here builds SQL, or shapes rows the database already aggregated: which records the
viewer's side of the firewall may count, nearest-rank percentiles with window functions (the
same SQL on SQLite and PostgreSQL; SQLite has no ``percentile_cont``), shares in percent, and
one row per week of a weekly panel, empty weeks included.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, Numeric, and_, case, cast, func, select, true
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from portal import policy
from portal.extensions import db
from portal.insights.panels import Filters, Viewer, epoch_seconds
from portal.models.reference import Role, Side

BOTH_SIDES = frozenset({Side.COMMERCIAL, Side.MEDICAL})


def rows_of(statement: Any) -> list[dict[str, Any]]:
    """The aggregate's rows, as plain dicts keyed by the statement's labels."""
    return [dict(row._mapping) for row in db.session.execute(statement)]


def dialect() -> str:
    return db.session.get_bind().dialect.name


def sees_all(viewer: Viewer) -> bool:
    """Administrators and compliance: every record counts, neutral colleagues' too."""
    return viewer.sides >= BOTH_SIDES


def side_clause(viewer: Viewer, side: Any) -> ColumnElement[bool]:
    """``side`` (a column holding a record's firewall side) is one the viewer may count
    (``policy.insight_record_sides``)."""
    if sees_all(viewer):
        return true()
    return side.in_(sorted(policy.insight_record_sides(viewer.sides)))


def staff_role_clause(viewer: Viewer, role: Any) -> ColumnElement[bool]:
    """``role`` (the role column of the staff member behind a record) works on a side the
    viewer may count: for records that carry no side of their own (conversations, audits)."""
    if sees_all(viewer):
        return true()
    sides = policy.insight_record_sides(viewer.sides)
    return role.in_(sorted(r for r in Role if policy.side_of(r) in sides))


def in_range(column: Any, filters: Filters) -> ColumnElement[bool]:
    """``column`` falls in the filters' date range."""
    return and_(column >= filters.start, column < filters.end)


def hours_between(start: Any, end: Any) -> ColumnElement[Any]:
    """Clock hours from ``start`` to ``end`` (timestamp columns), on either database."""
    name = dialect()
    return (epoch_seconds(end, name) - epoch_seconds(start, name)) / 3600.0


def percent(part: Any, whole: Any) -> ColumnElement[Any]:
    """``part`` of ``whole`` in percent, rounded to one decimal; NULL when ``whole`` is 0."""
    share = 100.0 * cast(part, Float) / func.nullif(cast(whole, Float), 0.0)
    return func.round(cast(share, Numeric(12, 4)), 1)


def percentiles(values: Select[*tuple[Any, ...]], group: str, value: str) -> Select[Any]:
    """Per ``group`` of the rows of ``values``: how many (``n``), the median (``p50``) and the
    90th percentile (``p90``) of ``value``, nearest-rank (the smallest value whose rank is at
    least p·n), ranked with ``ROW_NUMBER``/``COUNT`` windows."""
    rows = values.subquery("measured")
    ranked = select(
        rows.c[group].label("grp"),
        rows.c[value].label("val"),
        func.row_number().over(partition_by=rows.c[group], order_by=rows.c[value]).label("rn"),
        func.count().over(partition_by=rows.c[group]).label("total"),
    ).subquery("ranked")
    return select(
        ranked.c.grp,
        func.count().label("n"),
        func.min(case((ranked.c.rn * 2 >= ranked.c.total, ranked.c.val))).label("p50"),
        func.min(case((ranked.c.rn * 10 >= ranked.c.total * 9, ranked.c.val))).label("p90"),
    ).group_by(ranked.c.grp)


def one_decimal(value: Any) -> float | None:
    """A database number (``Decimal`` on PostgreSQL, ``float`` on SQLite) as a float with one
    decimal, or ``None``."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = float(value)
    return round(float(value), 1)


def weekly_rows(
    filters: Filters, found: Mapping[int, dict[str, Any]], empty: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One row per week of the range (``week``: its Monday, ISO), in order: what the database
    aggregated for that week's bucket (``found``), or ``empty`` for a week without records."""
    return [
        {"week": monday.isoformat(), **found.get(bucket, empty)}
        for bucket, monday in enumerate(filters.weeks())
    ]
