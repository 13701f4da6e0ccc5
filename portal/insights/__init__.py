"""Insights: the dashboards of ``/insights`` (figures computed in the database, drawn in the
browser, each with its table and CSV), for administrators, compliance and team leads, each
counting what their side of the firewall may see.

The panel contract is :mod:`portal.insights.panels`; the dashboards are listed in
:mod:`portal.insights.dashboards`; the pages in :mod:`portal.insights.views`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the ``/insights`` pages into ``app``."""
    from portal.insights import views

    app.register_blueprint(views.blueprint, url_prefix="/insights")
