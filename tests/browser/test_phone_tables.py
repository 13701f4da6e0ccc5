"""The table-heavy page of each role, on a phone (390 x 844): the page never grows wider than the
screen, and the cells a person comes for (status, product) are on screen without scrolling sideways.
Tables become one card per row there (`.table-stack` in static/css/portal.css)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

PHONE = {"width": 390, "height": 844}

# A value of the PV cards' definition lists, by its term.
_DD = ".//dt[normalize-space()='{}']/following-sibling::dd[1]"

# who, the page, the first row of its list, the key cells of that row (CSS within the row).
PAGES = [
    pytest.param(
        "hcp",
        "/questions/",
        "[data-testid=question-row]",
        ("td[data-label=Status]", "td[data-label=Product]"),
        id="hcp-my-questions",
    ),
    pytest.param(
        "mi",
        "/questions/queue?view=all",
        "[data-testid=queue-row]",
        ("td[data-label=Product]", "td[data-label=Due]", "td[data-label=Assignee]"),
        id="staff-question-queue",
    ),
    pytest.param(
        "pv",
        "/safety/cases",
        "[data-testid=pv-cards] > li",
        ("[class*=pv-status-]", f"xpath={_DD.format('Product')}", f"xpath={_DD.format('Due')}"),
        id="pv-case-list",
    ),
    pytest.param(
        "content",
        "/library/manage",
        "[data-testid=materials-table] tbody tr",
        ("td[data-label=State]", "td[data-label=Product]", "td[data-label=Expires]"),
        id="content-workspace",
    ),
    pytest.param(
        "admin",
        "/admin/users",
        "[data-testid=user-table] tbody tr",
        ("td[data-label=Status]", "td[data-label=Role]"),
        id="admin-users",
    ),
]


@pytest.mark.parametrize(("who", "path", "row", "cells"), PAGES)
def test_table_page_fits_a_phone_and_shows_its_key_cells(
    page: Any, who: str, path: str, row: str, cells: tuple[str, ...]
) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, who)
    page.goto(path)
    first = page.locator(row).first
    expect(first).to_be_visible()

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
    for cell in cells:
        target = first.locator(cell).first
        # Scroll the page down to the cell, never sideways: a cell clipped by a table that
        # scrolls in its own box, or pushed past the screen's edge, is not in the viewport.
        target.evaluate(
            "el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 120)"
        )
        expect(target).to_be_in_viewport(ratio=1)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"phone-{who}-{path.strip('/').split('?')[0].replace('/', '-')}")
    assert page.js_errors == []
