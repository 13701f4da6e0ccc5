"""The ``/insights`` pages: the list of dashboards, a dashboard, and a panel's CSV.

Thin on purpose: each view finds the viewer's sides (:func:`portal.policy.insight_sides`), reads
the filters from the query string and asks for the dashboard's panels (kept for a while once
computed: :mod:`portal.insights.results`). Someone with no side
gets 404 everywhere here (ids reveal nothing), as does a dashboard they may not see.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import policy
from portal.csv_cells import safe_cell
from portal.extensions import db
from portal.inputs import MAX_ID
from portal.insights import results
from portal.insights.dashboards import DASHBOARDS, find_dashboard
from portal.insights.panels import ColumnKind, Dashboard, Filters, Panel, Viewer
from portal.models import Product

blueprint = Blueprint("insights", __name__)

DEFAULT_WEEKS = 12
MAX_DAYS = 370
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def _viewer() -> Viewer:
    viewer = Viewer(sides=policy.insight_sides(current_user))
    if not viewer.sides:
        abort(404)
    return viewer


def _dashboard(viewer: Viewer, key: str) -> Dashboard:
    dashboard = find_dashboard(key)
    if dashboard is None or not dashboard.visible(viewer):
        abort(404)
    return dashboard


def today() -> dt.date:
    """Today in the business time zone."""
    zone = ZoneInfo(current_app.config.get("BUSINESS_TIMEZONE") or "UTC")
    return dt.datetime.now(zone).date()


def default_range(day: dt.date) -> tuple[dt.date, dt.date]:
    """The last 12 weeks up to ``day``: from the Monday eleven weeks before ``day``'s week to
    ``day`` itself (the current week so far is the twelfth)."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday - dt.timedelta(weeks=DEFAULT_WEEKS - 1), day


@dataclasses.dataclass(frozen=True)
class FilterInput:
    """What the filters form holds (as typed), the filters it means, and its problems."""

    values: dict[str, str]
    filters: Filters | None
    errors: dict[str, str]


def _date(raw: str, default: dt.date, field: str, errors: dict[str, str]) -> dt.date:
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[field] = _("Give a date as YYYY-MM-DD.")
        return default


def parse_filters(args: Mapping[str, str], *, day: dt.date) -> FilterInput:
    """The filters of the query string (``since``, ``until``, ``product``); missing dates are the
    last 12 weeks up to ``day``. Problems (a malformed date, ``since`` after ``until``, a range
    over 370 days, an unknown product) are returned by field, never raised."""
    values = {k: (args.get(k) or "").strip()[:40] for k in ("since", "until", "product")}
    errors: dict[str, str] = {}
    since_default, until_default = default_range(day)
    since = _date(values["since"], since_default, "since", errors)
    until = _date(values["until"], until_default, "until", errors)
    for field, day_value in (("since", since), ("until", until)):
        if field not in errors and not EARLIEST <= day_value <= LATEST:
            errors[field] = _("Choose a day between 2000 and 2100.")
    if not errors:
        if since > until:
            errors["since"] = _("The first day must not be after the last.")
        elif (until - since).days + 1 > MAX_DAYS:
            errors["since"] = _("Choose a range of at most %(days)d days.", days=MAX_DAYS)
    product_id: int | None = None
    if values["product"]:
        plain = values["product"].isascii() and values["product"].isdigit()  # not "²"
        number = int(values["product"]) if plain else 0
        if not 1 <= number <= MAX_ID or db.session.get(Product, number) is None:
            errors["product"] = _("Choose a product from the list.")
        else:
            product_id = number
    shown = {**values, "since": since.isoformat(), "until": until.isoformat()}
    if errors:
        return FilterInput(shown, None, errors)
    return FilterInput(shown, Filters(since=since, until=until, product_id=product_id), errors)


def format_value(value: Any, kind: ColumnKind) -> str:
    """A figure as the table and the CSV show it: counts as integers, percentages and hours
    with one decimal, nothing as "" (no data)."""
    if value is None:
        return ""
    if kind in (ColumnKind.PERCENT, ColumnKind.HOURS):
        return f"{float(value):.1f}"
    return str(value)


def chart_data(panel: Panel) -> dict[str, Any]:
    """What ``static/js/insights.js`` draws: labels along ``x`` and one dataset per series."""
    labels = {c.key: str(c.label) for c in panel.columns}
    return {
        "type": str(panel.chart),
        "labels": [str(row.get(panel.x, "")) for row in panel.rows],
        "datasets": [
            {"label": labels.get(key, key), "data": [row.get(key) for row in panel.rows]}
            for key in panel.series
        ],
    }


def _products() -> list[Product]:
    return list(db.session.scalars(select(Product).order_by(Product.name)))


@blueprint.route("/")
@login_required
def index() -> str:
    viewer = _viewer()
    return render_template(
        "insights/index.html",
        dashboards=[d for d in DASHBOARDS if d.visible(viewer)],
    )


@blueprint.route("/<dashboard>")
@login_required
def dashboard(dashboard: str) -> tuple[str, int]:
    viewer = _viewer()
    board = _dashboard(viewer, dashboard)
    form = parse_filters(request.args, day=today())
    computed = results.panels_for(board, viewer, form.filters) if form.filters else None
    return render_template(
        "insights/dashboard.html",
        board=board,
        dashboards=[d for d in DASHBOARDS if d.visible(viewer)],
        form=form,
        panels=computed.panels if computed else [],
        computed_at=computed.computed_at if computed else None,
        products=_products(),
        chart_data=chart_data,
        format_value=format_value,
        query={k: v for k, v in request.args.items() if k in ("since", "until", "product")},
    ), (400 if form.errors else 200)


def _cell(value: Any, kind: ColumnKind) -> str:
    text = format_value(value, kind)
    # Text (a title, a search) is people's: never a formula; numbers are written as they are.
    return safe_cell(text) if kind is ColumnKind.TEXT else text


@blueprint.route("/<dashboard>/<panel>.csv")
@login_required
def panel_csv(dashboard: str, panel: str) -> Response:
    viewer = _viewer()
    board = _dashboard(viewer, dashboard)
    form = parse_filters(request.args, day=today())
    if form.filters is None:
        message = " ".join(form.errors.values())
        return Response(message + "\n", status=400, mimetype="text/plain")
    panels = results.panels_for(board, viewer, form.filters).panels
    found = next((p for p in panels if p.key == panel), None)
    if found is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(c.label) for c in found.columns])
    for row in found.rows:
        writer.writerow([_cell(row.get(c.key), c.kind) for c in found.columns])
    name = f"{board.key}-{found.key}-{form.filters.since}-{form.filters.until}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
