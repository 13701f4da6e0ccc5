"""The Content dashboard: what HCPs read and download, what they search for, and what they miss.

Content is neutral (no side of the firewall owns a material's reading figures): every viewer of
``/insights`` sees it. Only HCPs' events count: staff opening a material to check it is not
demand. Per material means per material family (all versions of it), named by its newest
version read in the range.

Searches come from the search log (``content.models.SearchTerm``): the normalized words HCPs
searched for per day, with how many searches found nothing (the library's gaps); never who
searched. The log has no product, so the product filter does not apply to the search panels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from content.models import EventKind, Material, MaterialEvent, MaterialStatus, SearchTerm
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
from portal.models import HcpProfile, Role, User, utcnow

TOP = 20  # materials, searches
EXPIRING_DAYS = 60
DEMAND_DAYS = 30


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _count(kind: EventKind) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((MaterialEvent.kind == kind, 1), else_=0)), 0)


def _hcp_events(filters: Filters) -> Any:
    """HCPs' events in the range (and of the product's materials), as a FROM with its WHERE."""
    query = (
        select()
        .select_from(MaterialEvent)
        .join(User, and_(User.id == MaterialEvent.user_id, User.role == Role.HCP))
        .where(MaterialEvent.at >= filters.start, MaterialEvent.at < filters.end)
    )
    if filters.product_id is not None:
        query = query.join(Material, Material.id == MaterialEvent.material_id).where(
            Material.product_id == filters.product_id
        )
    return query


_READS = (
    Column("views", _l("Views")),
    Column("downloads", _l("Downloads")),
    Column("hcps", _l("Unique HCPs")),
)


def _aggregates() -> list[Any]:
    return [
        _count(EventKind.VIEW).label("views"),
        _count(EventKind.DOWNLOAD).label("downloads"),
        func.count(func.distinct(MaterialEvent.user_id)).label("hcps"),
    ]


def top_materials(filters: Filters) -> Panel:
    """The most viewed materials (families) in the range: views, downloads, unique HCPs."""
    ranked = (
        _hcp_events(filters)
        .add_columns(
            MaterialEvent.family_id.label("family_id"),
            func.max(MaterialEvent.material_id).label("newest"),
            *_aggregates(),
        )
        .group_by(MaterialEvent.family_id)
        .order_by(_count(EventKind.VIEW).desc(), MaterialEvent.family_id)
        .limit(TOP)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Material.title,
            Material.approval_code,
            ranked.c.views,
            ranked.c.downloads,
            ranked.c.hcps,
        )
        .join(ranked, Material.id == ranked.c.newest)
        .order_by(ranked.c.views.desc(), ranked.c.family_id)
    ).all()
    return Panel(
        key="top-materials",
        title=_l("Most read materials"),
        columns=(
            Column("material", _l("Material"), ColumnKind.TEXT),
            Column("code", _l("Approval code"), ColumnKind.TEXT),
            *_READS,
        ),
        rows=[
            {
                "material": r.title,
                "code": r.approval_code,
                "views": int(r.views),
                "downloads": int(r.downloads),
                "hcps": int(r.hcps),
            }
            for r in rows
        ],
        chart=Chart.BAR,
        x="material",
        series=("views", "downloads", "hcps"),
        note=str(_l("HCPs' views and downloads in the range, the %(top)d most viewed.", top=TOP)),
    )


def weekly_reads(filters: Filters) -> Panel:
    """Views, downloads and unique HCPs per week (every week of the range, empty ones too)."""
    week = week_bucket(MaterialEvent.at, filters, _dialect())
    found = {
        int(r.week): r
        for r in db.session.execute(
            _hcp_events(filters).add_columns(week.label("week"), *_aggregates()).group_by(week)
        )
    }
    rows = []
    for bucket, monday in enumerate(filters.weeks()):
        r = found.get(bucket)
        rows.append(
            {
                "week": monday.isoformat(),
                "views": int(r.views) if r else 0,
                "downloads": int(r.downloads) if r else 0,
                "hcps": int(r.hcps) if r else 0,
            }
        )
    return Panel(
        key="weekly",
        title=_l("Reading per week"),
        columns=(Column("week", _l("Week of"), ColumnKind.DATE), *_READS),
        rows=rows,
        chart=Chart.LINE,
        x="week",
        series=("views", "downloads", "hcps"),
        note=str(_l("Unique HCPs are counted per week.")),
    )


def by_specialty(filters: Filters) -> Panel:
    """Views, downloads and unique HCPs per HCP specialty."""
    rows = db.session.execute(
        _hcp_events(filters)
        .join(HcpProfile, HcpProfile.user_id == MaterialEvent.user_id)
        .add_columns(HcpProfile.specialty.label("specialty"), *_aggregates())
        .group_by(HcpProfile.specialty)
        .order_by(_count(EventKind.VIEW).desc(), HcpProfile.specialty)
    ).all()
    return Panel(
        key="specialties",
        title=_l("Reading by specialty"),
        columns=(Column("specialty", _l("Specialty"), ColumnKind.TEXT), *_READS),
        rows=[
            {
                "specialty": r.specialty,
                "views": int(r.views),
                "downloads": int(r.downloads),
                "hcps": int(r.hcps),
            }
            for r in rows
        ],
        chart=Chart.BAR,
        x="specialty",
        series=("views", "downloads", "hcps"),
    )


def _searches(filters: Filters) -> Any:
    return (
        select(
            SearchTerm.query.label("query"),
            func.sum(SearchTerm.searches).label("searches"),
            func.sum(SearchTerm.no_result).label("no_result"),
        )
        .where(SearchTerm.day >= filters.since, SearchTerm.day <= filters.until)
        .group_by(SearchTerm.query)
    )


def top_searches(filters: Filters) -> Panel:
    """What HCPs searched for most, and how often each search found nothing."""
    total = func.sum(SearchTerm.searches)
    rows = db.session.execute(
        _searches(filters).order_by(total.desc(), SearchTerm.query).limit(TOP)
    ).all()
    return Panel(
        key="searches",
        title=_l("Top searches"),
        columns=(
            Column("query", _l("Search"), ColumnKind.TEXT),
            Column("searches", _l("Searches")),
            Column("no_result", _l("With no result")),
        ),
        rows=[
            {"query": r.query, "searches": int(r.searches), "no_result": int(r.no_result)}
            for r in rows
        ],
        chart=Chart.BAR,
        x="query",
        series=("searches", "no_result"),
        note=str(_l("HCPs' searches, by their words; all products.")),
    )


def missed_searches(filters: Filters) -> Panel:
    """The library's gaps: searches that found nothing, most frequent first."""
    missed = func.sum(SearchTerm.no_result)
    rows = db.session.execute(
        _searches(filters).having(missed > 0).order_by(missed.desc(), SearchTerm.query).limit(TOP)
    ).all()
    return Panel(
        key="no-result",
        title=_l("Searches with no result"),
        columns=(
            Column("query", _l("Search"), ColumnKind.TEXT),
            Column("no_result", _l("With no result")),
            Column("searches", _l("Searches")),
        ),
        rows=[
            {"query": r.query, "no_result": int(r.no_result), "searches": int(r.searches)}
            for r in rows
        ],
        chart=Chart.BAR,
        x="query",
        series=("no_result",),
        note=str(_l("What HCPs looked for and the library does not hold; all products.")),
    )


EXPIRING_SHOWN = 25


def expiring_in_demand(filters: Filters, *, now: dt.datetime | None = None) -> Panel:
    """Published materials expiring within 60 days that HCPs viewed in the last 30 days (as of
    today, whatever the range), the most viewed first (at most :data:`EXPIRING_SHOWN`; the note
    says how many there are): renew them before they disappear."""
    now = now or utcnow()
    since = now - dt.timedelta(days=DEMAND_DAYS)
    views = (
        select(func.count())
        .select_from(MaterialEvent)
        .join(User, and_(User.id == MaterialEvent.user_id, User.role == Role.HCP))
        .where(
            MaterialEvent.family_id == Material.family_id,
            MaterialEvent.kind == EventKind.VIEW,
            MaterialEvent.at >= since,
            MaterialEvent.at < now,
        )
        .correlate(Material)
        .scalar_subquery()
    )
    query = select(
        Material.title, Material.approval_code, Material.expires_at, views.label("views")
    ).where(
        Material.status == MaterialStatus.APPROVED,
        Material.effective_at <= now,
        Material.expires_at > now,
        Material.expires_at <= now + dt.timedelta(days=EXPIRING_DAYS),
    )
    if filters.product_id is not None:
        query = query.where(Material.product_id == filters.product_id)
    inner = query.subquery()
    # The most viewed first, at most EXPIRING_SHOWN of them (a large library has thousands
    # expiring in any two months); how many there are in all rides along as a window count.
    rows = db.session.execute(
        select(inner, func.count().over().label("in_all"))
        .where(cast(inner.c.views, Integer) > 0)
        .order_by(inner.c.views.desc(), inner.c.expires_at, inner.c.approval_code)
        .limit(EXPIRING_SHOWN)
    ).all()
    in_all = int(rows[0].in_all) if rows else 0
    zone = filters.zone
    return Panel(
        key="expiring",
        title=_l("Expiring within 60 days, still in demand"),
        columns=(
            Column("material", _l("Material"), ColumnKind.TEXT),
            Column("code", _l("Approval code"), ColumnKind.TEXT),
            Column("expires", _l("Expires"), ColumnKind.DATE),
            Column("views", _l("HCP views, last 30 days")),
        ),
        rows=[
            {
                "material": r.title,
                "code": r.approval_code,
                "expires": _aware(r.expires_at).astimezone(zone).date().isoformat(),
                "views": int(r.views),
            }
            for r in rows
        ],
        chart=Chart.BAR,
        x="material",
        series=("views",),
        note=str(
            _l("As of today, whatever the range.")
            if in_all <= EXPIRING_SHOWN
            else _l(
                "As of today, whatever the range: the %(shown)d most viewed of %(count)d.",
                shown=EXPIRING_SHOWN,
                count=in_all,
            )
        ),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    # A subquery's column loses the model's type on SQLite's side: read back as UTC.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    """Every panel of the Content dashboard (the same for every viewer: content is neutral)."""
    return [
        weekly_reads(filters),
        top_materials(filters),
        by_specialty(filters),
        top_searches(filters),
        missed_searches(filters),
        expiring_in_demand(filters),
    ]


DASHBOARD = Dashboard(key="content", title=_l("Content"), build=build)
