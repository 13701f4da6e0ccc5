"""The dashboards of ``/insights``, in the order the page lists them."""

from __future__ import annotations

from portal.insights import adoption, content, engagement, questions, safety
from portal.insights.panels import Dashboard

DASHBOARDS: tuple[Dashboard, ...] = (
    content.DASHBOARD,
    questions.DASHBOARD,
    safety.DASHBOARD,
    engagement.DASHBOARD,
    adoption.DASHBOARD,
)


def find_dashboard(key: str) -> Dashboard | None:
    return next((d for d in DASHBOARDS if d.key == key), None)
