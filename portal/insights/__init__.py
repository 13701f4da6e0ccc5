"""Insights: the dashboards of ``/insights`` (figures computed in the database, drawn in the
browser, each with its table and CSV), for administrators, compliance and team leads, each
counting what their side of the firewall may see.

The panel contract is :mod:`portal.insights.panels`; the dashboards are listed in
:mod:`portal.insights.dashboards`; computed dashboards are kept and refreshed by the worker
(:mod:`portal.insights.results`); the pages are :mod:`portal.insights.views`.
"""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import Flask
from flask.cli import AppGroup

insights_cli = AppGroup("insights", help="The insight dashboards.")


@insights_cli.command("refresh")
@click.option("--force", is_flag=True, help="Recompute even the dashboards computed just now.")
def refresh_command(force: bool) -> None:
    """Compute the dashboards people open (the worker's round, at once); prints
    {"computed": n, "seconds": s}."""
    import time

    from portal.insights import results

    started = time.perf_counter()
    computed = results.refresh(force=force)
    seconds = round(time.perf_counter() - started, 2)
    click.echo(json.dumps({"computed": computed, "seconds": seconds}))


def init_app(app: Flask) -> None:
    """Wire the ``/insights`` pages, the worker's refresh and ``flask insights`` into ``app``."""
    from portal import jobs
    from portal.insights import results, views

    app.register_blueprint(views.blueprint, url_prefix="/insights")
    jobs.register(
        app,
        "insights.refresh",
        results.refresh_job,
        every=dt.timedelta(minutes=app.config["INSIGHTS_REFRESH_MINUTES"]),
        lease=dt.timedelta(minutes=30),
        max_attempts=1,
    )
    app.cli.add_command(insights_cli)
