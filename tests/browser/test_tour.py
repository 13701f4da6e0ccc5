"""The tour: every demo role walks its main pages at desktop and at phone size. Each page shows its
main heading, fits the screen without sideways scrolling, logs no script or console error, and
leaves a screenshot `tour-<role>-<page>-<desktop|phone>.png` in tests/artifacts/ for a reviewer
(docs/tour.md shows a few of them, made small by bench/tour_images.py)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, sticking_out

VIEWPORTS = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}


@dataclasses.dataclass(frozen=True)
class Stop:
    """One page of a journey: opened by its address, or reached by following the first visible
    link matching ``follow`` on the page before (ids differ between demo seeds)."""

    name: str
    path: str = ""
    follow: str = ""
    # The main heading, as a pattern; empty means "contains the text of the link followed".
    heading: str = ""


JOURNEYS: dict[str, tuple[Stop, ...]] = {
    "hcp": (
        Stop("home", path="/", heading=r"Welcome, Dr\. Harper Cole"),
        Stop("library", path="/library/", heading=r"Library"),
        Stop("material", follow="[data-testid=material-card] a[href^='/library/']:visible"),
        Stop("ask", path="/questions/ask", heading=r"Ask a question"),
        Stop("my-questions", path="/questions/", heading=r"My questions"),
        Stop("chat", path="/chat/", heading=r"Chat"),
    ),
    "pending": (Stop("home", path="/", heading=r"Hello, Dr\. Pat Newcomer"),),
    "rep": (
        Stop("home", path="/", heading=r"Welcome, Riley Rep"),
        Stop("queue", path="/questions/queue", heading=r"Questions"),
        Stop("chat-team", path="/chat/team", heading=r"Invite an HCP"),
    ),
    "access": (
        Stop("home", path="/", heading=r"Welcome, Avery Access"),
        Stop("queue", path="/questions/queue", heading=r"Questions"),
    ),
    "msl": (
        Stop("home", path="/", heading=r"Welcome, Dr\. Morgan Liaison"),
        Stop("queue", path="/questions/queue", heading=r"Questions"),
        Stop("chat-team", path="/chat/team", heading=r"Invite an HCP"),
    ),
    "mi": (
        Stop("queue", path="/questions/queue", heading=r"Questions"),
        Stop("question", follow="[data-testid=queue-row] a[href^='/questions/']:visible"),
    ),
    "pv": (
        Stop("cases", path="/safety/cases", heading=r"Pharmacovigilance cases"),
        # The list is a table on a desktop and cards on a phone: follow whichever shows.
        Stop("case", follow="main a[href^='/safety/cases/']:visible:has-text('PV-')"),
    ),
    "quality": (
        Stop("home", path="/", heading=r"Welcome, Quinn Quality"),
        Stop("queue", path="/questions/queue", heading=r"Questions"),
    ),
    "content": (
        Stop("workspace", path="/library/manage", heading=r"Content"),
        Stop(
            "manage-material",
            follow="[data-testid=materials-table] tbody a[href^='/library/manage/']:visible",
        ),
    ),
    "reviewer": (
        Stop("review-queue", path="/library/manage?state=in_review", heading=r"Content"),
        Stop(
            "review-material",
            follow="[data-testid=materials-table] tbody a[href^='/library/manage/']:visible",
        ),
    ),
    "compliance": (
        Stop("audit", path="/audit", heading=r"Audit trail"),
        Stop("chat-review", path="/compliance/chats/", heading=r"Chat review"),
        Stop(
            "transcript",
            follow="[data-testid=chat-review-table] a[href^='/compliance/chats/']:visible",
            heading=r"Chat review",
        ),
    ),
    "admin": (
        Stop("users", path="/admin/users", heading=r"Users"),
        Stop("routing", path="/admin/routing/", heading=r"Question routing"),
    ),
}


def _visit(page: Any, stop: Stop) -> None:
    """Open the stop's page and check its main heading."""
    if stop.path:
        page.goto(stop.path)
        heading = re.compile(stop.heading)
    else:
        link = page.locator(stop.follow).first
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        text = link.inner_text().strip()
        link.click()
        expect(page).to_have_url(re.compile(re.escape(href.split("#")[0]) + r"(#.*)?$"))
        # The URL changes before the new page's style sheets apply: measuring then would see an
        # unstyled page (and the transcript's heading is the same as the list's).
        page.wait_for_load_state("load")
        heading = re.compile(stop.heading or re.escape(text))
    main_heading = page.locator("main h1").first
    expect(main_heading).to_be_visible()
    expect(main_heading).to_contain_text(heading)


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("who", list(JOURNEYS))
def test_each_role_walks_its_main_pages_at_desktop_and_phone_size(
    page: Any, who: str, size: str
) -> None:
    page.set_viewport_size(VIEWPORTS[size])
    sign_in(page, who)
    expect(page).to_have_url(re.compile(r"/$"))
    for stop in JOURNEYS[who]:
        _visit(page, stop)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (
            f"{who}'s {stop.name} page is {overflow}px wider than the {size}: {sticking_out(page)}"
        )
        screenshot(page, f"tour-{who}-{stop.name}-{size}")
        assert page.js_errors == [], f"{who}'s {stop.name} page: {page.js_errors}"
