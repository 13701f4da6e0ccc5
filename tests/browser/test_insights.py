"""An administrator reads the insight dashboards: the menu, a dashboard's charts drawn by
Chart.js within the Content-Security-Policy (no console error), its tables, and the page on a
phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

PHONE = {"width": 390, "height": 844}

# Whether a canvas holds at least one painted pixel.
PAINTED = """canvas => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) return true; }
    return false;
}"""


def test_admin_opens_insights_and_sees_charts_with_their_tables(page: Any) -> None:
    sign_in(page, "admin")
    page.click("[data-testid=nav-insights]")
    expect(page.locator("[data-testid=dashboard-content]")).to_be_visible()
    page.click("[data-testid=dashboard-content]")
    expect(page.locator("h1")).to_have_text("Content")

    charts = page.locator("canvas[data-insight-chart]")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 1
    for index in range(charts.count()):
        assert charts.nth(index).evaluate(PAINTED), f"chart {index} is blank"
    expect(page.locator("[data-testid=table-weekly] tbody tr")).to_have_count(12)
    expect(page.locator("[data-testid=csv-weekly]")).to_be_visible()
    screenshot(page, "insights-content")

    page.click("[data-testid=dashboard-tabs] >> text=Questions")
    expect(page.locator("h1")).to_have_text("Questions")
    expect(page.locator("[data-testid=panel-times]")).to_be_visible()
    assert page.js_errors == []  # a CSP violation is reported as a console error


def test_a_dashboard_fits_a_phone(page: Any) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "admin")
    page.goto("/insights/questions")
    chart = page.locator("canvas[data-insight-chart]").first
    expect(chart).to_be_visible()
    assert chart.evaluate(PAINTED)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the dashboard is {overflow}px wider than the screen"
    screenshot(page, "phone-insights-questions")
    assert page.js_errors == []
