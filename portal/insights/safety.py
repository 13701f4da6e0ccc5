"""The Safety dashboard (placeholder: filled in by its owner)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.insights.panels import Dashboard, Filters, Panel, Viewer


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    return []


DASHBOARD = Dashboard(key="safety", title=_l("Safety"), build=build)
