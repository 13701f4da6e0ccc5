"""The Questions dashboard: volume, response and close times in business time, SLA, reroutes,
and whether HCPs found the answers helpful.

Which questions count (the firewall, :func:`_visible`): a viewer who sees the medical side counts
every question (PRODUCT.md: medical roles may see commercial interactions; administrators and
compliance see all); a commercial-only viewer (a sales or market-access lead) counts only the
questions the commercial side may open: a commercial category, owned by a commercial team, never
flagged off-label (a question moved to medical by a follow-up is owned by a medical team). Medical
categories and teams are not even listed for them, and the "rerouted" share (always a move from
commercial to medical) is left out.

A question counts in the range by the day it was received. Response and close times are the
business minutes stored on the question when it was first answered and when it was closed
(``first_response_business_minutes``, ``close_business_minutes``: on the owning team's calendar,
the one its due time runs on); median and 90th percentile are nearest-rank (the smallest value
with at least half, or 90 %, of the values at or below it), computed in SQL with window functions.
A question breached its SLA when its first response (or, without one, its closing) came after
its due time, or it is still waiting past its due time now.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Float,
    Numeric,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from portal.extensions import db
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
from portal.models import Product, TeamKey, utcnow
from portal.questions.models import (
    COMMERCIAL_CATEGORIES,
    COMMERCIAL_TEAMS,
    QUEUE_TEAMS,
    Category,
    Question,
    QuestionEvent,
    QuestionEventKind,
    QuestionStatus,
    team_label,
)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def visible_questions(viewer: Viewer) -> ColumnElement[bool]:
    """The questions ``viewer``'s figures may count (see the module's docstring): every one for
    a viewer on the medical side; for a commercial lead, commercial questions a commercial team
    owns, never off-label. The Adoption dashboard counts by the same clause."""
    if viewer.sees_medical:
        return true()
    if viewer.sees_commercial:
        return and_(
            Question.owner_team.in_(sorted(COMMERCIAL_TEAMS)),
            Question.category.in_(sorted(COMMERCIAL_CATEGORIES)),
            Question.off_label_flag.is_(False),
        )
    return false()


def _categories(viewer: Viewer) -> list[Category]:
    return [c for c in Category if viewer.sees_medical or c in COMMERCIAL_CATEGORIES]


def _teams(viewer: Viewer) -> list[TeamKey]:
    return [t for t in QUEUE_TEAMS if viewer.sees_medical or t in COMMERCIAL_TEAMS]


def _where(viewer: Viewer, filters: Filters) -> list[ColumnElement[bool]]:
    clauses = [
        Question.created_at >= filters.start,
        Question.created_at < filters.end,
        visible_questions(viewer),
    ]
    if filters.product_id is not None:
        clauses.append(Question.product_id == filters.product_id)
    return clauses


def _weekly_pivot(
    viewer: Viewer, filters: Filters, column: Any, keys: list[Any]
) -> list[dict[str, Any]]:
    """Questions per week and per value of ``column`` (one GROUP BY), one row per week."""
    week = week_bucket(Question.created_at, filters, _dialect())
    counts: dict[tuple[int, str], int] = {
        (int(w), str(k)): int(n)
        for w, k, n in db.session.execute(
            select(week, column, func.count())
            .where(*_where(viewer, filters))
            .group_by(week, column)
        )
    }
    rows = []
    for bucket, monday in enumerate(filters.weeks()):
        row: dict[str, Any] = {"week": monday.isoformat()}
        for key in keys:
            row[str(key)] = counts.get((bucket, str(key)), 0)
        row["total"] = sum(row[str(k)] for k in keys)
        rows.append(row)
    return rows


def by_category(viewer: Viewer, filters: Filters) -> Panel:
    keys = _categories(viewer)
    return Panel(
        key="categories",
        title=_l("Questions per week, by category"),
        columns=(
            Column("week", _l("Week of"), ColumnKind.DATE),
            *(Column(str(c), c.label) for c in keys),
            Column("total", _l("Total")),
        ),
        rows=_weekly_pivot(viewer, filters, Question.category, keys),
        chart=Chart.STACKED_BAR,
        x="week",
        series=tuple(str(c) for c in keys),
    )


def by_team(viewer: Viewer, filters: Filters) -> Panel:
    keys = _teams(viewer)
    return Panel(
        key="teams",
        title=_l("Questions per week, by owning team"),
        columns=(
            Column("week", _l("Week of"), ColumnKind.DATE),
            *(Column(str(t), team_label(t)) for t in keys),
            Column("total", _l("Total")),
        ),
        rows=_weekly_pivot(viewer, filters, Question.owner_team, keys),
        chart=Chart.STACKED_BAR,
        x="week",
        series=tuple(str(t) for t in keys),
        note=str(_l("The team that owns the question now.")),
    )


def by_product(viewer: Viewer, filters: Filters) -> Panel:
    rows = db.session.execute(
        select(Product.name, func.count(Question.id).label("questions"))
        .select_from(Question)
        .outerjoin(Product, Product.id == Question.product_id)
        .where(*_where(viewer, filters))
        .group_by(Product.id, Product.name)
        # Ties by name, questions without a product last (NULLs sort alike on both backends).
        .order_by(func.count(Question.id).desc(), Product.id.is_(None), Product.name)
    ).all()
    return Panel(
        key="products",
        title=_l("Questions by product"),
        columns=(
            Column("product", _l("Product"), ColumnKind.TEXT),
            Column("questions", _l("Questions")),
        ),
        rows=[
            {"product": name if name is not None else str(_l("No product")), "questions": int(n)}
            for name, n in rows
        ],
        chart=Chart.BAR,
        x="product",
        series=("questions",),
    )


def _ranked(metric: str, minutes: Any, viewer: Viewer, filters: Filters) -> Any:
    return select(
        literal(metric).label("metric"),
        minutes.label("minutes"),
        func.row_number().over(order_by=minutes).label("rn"),
        func.count().over().label("n"),
    ).where(*_where(viewer, filters), minutes.is_not(None))


def _hours(minutes: Any) -> Any:
    return func.round(cast(cast(minutes, Float) / 60, Numeric), 1)


def times(viewer: Viewer, filters: Filters) -> Panel:
    """Time to first response and to close, in business hours: median and 90th percentile
    (nearest rank), from one statement."""
    ranked = union_all(
        _ranked("first_response", Question.first_response_business_minutes, viewer, filters),
        _ranked("close", Question.close_business_minutes, viewer, filters),
    ).subquery()
    # Nearest rank: ceil(n / 2) and ceil(9 n / 10), in integer arithmetic (no CEIL in SQLite).
    median_rank = (ranked.c.n + 1) // 2
    p90_rank = (ranked.c.n * 9 + 9) // 10
    found = {
        r.metric: r
        for r in db.session.execute(
            select(
                ranked.c.metric,
                func.max(ranked.c.n).label("n"),
                _hours(func.max(case((ranked.c.rn == median_rank, ranked.c.minutes)))).label(
                    "median"
                ),
                _hours(func.max(case((ranked.c.rn == p90_rank, ranked.c.minutes)))).label("p90"),
            ).group_by(ranked.c.metric)
        )
    }
    labels = {"first_response": _l("First response"), "close": _l("Close")}
    rows = []
    for metric, label in labels.items():
        r = found.get(metric)
        rows.append(
            {
                "measure": str(label),
                "questions": int(r.n) if r else 0,
                "median": float(r.median) if r and r.median is not None else None,
                "p90": float(r.p90) if r and r.p90 is not None else None,
            }
        )
    return Panel(
        key="times",
        title=_l("Time to first response and to close (business hours)"),
        columns=(
            Column("measure", _l("Measure"), ColumnKind.TEXT),
            Column("questions", _l("Questions")),
            Column("median", _l("Median"), ColumnKind.HOURS),
            Column("p90", _l("90th percentile"), ColumnKind.HOURS),
        ),
        rows=rows,
        chart=Chart.BAR,
        x="measure",
        series=("median", "p90"),
        note=str(_l("Questions received in the range that were answered (or closed).")),
    )


def _percent(part: Any, whole: Any) -> Any:
    return func.round(cast(100.0 * part / func.nullif(whole, 0), Numeric), 1)


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def outcomes(viewer: Viewer, filters: Filters, *, now: dt.datetime | None = None) -> Panel:
    """Per week received: SLA breach rate, share rerouted (viewers who see medical only), share
    of rated answers found helpful."""
    now = now or utcnow()
    week = week_bucket(Question.created_at, filters, _dialect())
    responded = func.coalesce(Question.first_response_at, Question.closed_at)
    waiting = Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])
    breached = or_(
        and_(responded.is_not(None), responded > Question.due_at),
        and_(responded.is_(None), waiting, Question.due_at < now),
    )
    rerouted = exists().where(
        QuestionEvent.question_id == Question.id,
        QuestionEvent.kind == QuestionEventKind.REROUTED,
    )
    received = func.count(Question.id)
    rated = _sum(Question.helpful.is_not(None))
    helpful = _sum(Question.helpful.is_(True))
    show_rerouted = viewer.sees_medical
    columns = [
        received.label("received"),
        _sum(breached).label("breached"),
        _percent(_sum(breached), received).label("breach_pct"),
        rated.label("rated"),
        _percent(helpful, rated).label("helpful_pct"),
    ]
    if show_rerouted:
        columns.append(_percent(_sum(rerouted), received).label("rerouted_pct"))
    found = {
        int(r.week): r
        for r in db.session.execute(
            select(week.label("week"), *columns).where(*_where(viewer, filters)).group_by(week)
        )
    }
    keys = ["received", "breached", "breach_pct", "rated", "helpful_pct"]
    if show_rerouted:
        keys.append("rerouted_pct")
    rows = []
    for bucket, monday in enumerate(filters.weeks()):
        r = found.get(bucket)
        row: dict[str, Any] = {"week": monday.isoformat()}
        for key in keys:
            value = getattr(r, key) if r else None
            if key.endswith("_pct"):
                row[key] = float(value) if value is not None else None
            else:
                row[key] = int(value or 0)
        rows.append(row)
    panel_columns = [
        Column("week", _l("Week of"), ColumnKind.DATE),
        Column("received", _l("Received")),
        Column("breached", _l("Past due")),
        Column("breach_pct", _l("SLA breach rate"), ColumnKind.PERCENT),
        Column("rated", _l("Answers rated")),
        Column("helpful_pct", _l("Found helpful"), ColumnKind.PERCENT),
    ]
    series = ["breach_pct", "helpful_pct"]
    if show_rerouted:
        panel_columns.append(Column("rerouted_pct", _l("Rerouted"), ColumnKind.PERCENT))
        series.append("rerouted_pct")
    return Panel(
        key="outcomes",
        title=_l("SLA, reroutes and helpfulness per week"),
        columns=tuple(panel_columns),
        rows=rows,
        chart=Chart.LINE,
        x="week",
        series=tuple(series),
        note=str(
            _l(
                "By the week the question was received. Past due: answered (or closed) after "
                "its due time, or still waiting past it."
            )
        ),
    )


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    """Every panel of the Questions dashboard, counting what ``viewer``'s side may see."""
    return [
        by_category(viewer, filters),
        by_team(viewer, filters),
        by_product(viewer, filters),
        times(viewer, filters),
        outcomes(viewer, filters),
    ]


DASHBOARD = Dashboard(key="questions", title=_l("Questions"), build=build)
