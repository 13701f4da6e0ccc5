"""The account team's journey through the real pages, two people at once: the rep prepares a visit
from the HCP page (roster, search, plan note), shares an approved material with a note; the HCP
sees it in "Shared with me", opens it and asks the rep for a call; the rep accepts from the home
worklist and the HCP sees the meeting booked. Then the new pages at phone size: no sideways
scrolling. Screenshots `account-<page>-<desktop|phone>.png` go to tests/artifacts/."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import open_page, screenshot, sign_in, sticking_out

HCP_NAME = "Dr. Harper Cole"
REP_NAME = "Riley Rep"
PHONE = {"width": 390, "height": 844}


def _heading(page: Any, text: str) -> None:
    expect(page.locator("main h1").first).to_contain_text(text)


def _used(page: Any) -> int:
    """The HCP page's count of unsolicited contacts in the window ("2 of 4")."""
    text = page.get_by_test_id("cap-used").inner_text()
    found = re.match(r"(\d+) of (\d+)", text)
    assert found, text
    return int(found.group(1))


def _open_cole_from_the_roster(rep: Any) -> str:
    """Roster, search "Cole", open Dr. Cole's page; return its path (ids differ between seeds)."""
    nav = rep.get_by_test_id("nav-hcps")
    if nav.is_visible():
        nav.click()
    else:  # on a phone the menu is folded: the address is the same link
        rep.goto(nav.get_attribute("href"))
    _heading(rep, "HCPs")
    rep.fill("#roster-q", "Cole")
    with rep.expect_navigation():
        rep.press("#roster-q", "Enter")
    expect(rep).to_have_url(re.compile(r"/hcps/\?.*q=Cole"))
    row = rep.get_by_test_id("roster-row").filter(has_text=HCP_NAME)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=HCP_NAME).click()
    expect(rep).to_have_url(re.compile(r"/hcps/\d+$"))
    _heading(rep, HCP_NAME)
    return re.sub(r"^https?://[^/]+", "", rep.url)


def _fits(page: Any, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{what} is {overflow}px wider than the phone: {sticking_out(page)}"


def test_rep_prepares_a_visit_shares_a_material_and_the_hcp_books_a_call(
    page: Any, browser: Any, live_server: str
) -> None:
    rep = page
    run = uuid.uuid4().hex[:6]

    # --- the rep prepares the visit from the HCP page ---------------------------------------
    sign_in(rep, "rep")
    expect(rep).to_have_url(re.compile(r"/$"))
    hcp_path = _open_cole_from_the_roster(rep)
    rep.goto("/hcps/?q=Cole")
    screenshot(rep, "account-roster-desktop")
    rep.goto(hcp_path)

    expect(rep.get_by_test_id("planning")).to_be_visible()
    expect(rep.get_by_test_id("touches")).to_contain_text("Touched in the last 30 days")
    expect(rep.get_by_test_id("timeline").get_by_test_id("event").first).to_be_visible()
    expect(rep.get_by_test_id("record-interaction")).to_be_visible()
    expect(rep.get_by_test_id("propose-meeting")).to_be_visible()
    used_before = _used(rep)

    plan = f"Visit next week: ask about the dosing study; bring the patient leaflet. [{run}]"
    rep.fill("#plan-text", plan)
    rep.get_by_role("button", name="Save plan").click()
    expect(rep.locator(".alert-success")).to_contain_text(
        "Your plan for the next interaction was saved."
    )
    expect(rep).to_have_url(re.compile(re.escape(hcp_path) + r"#plan$"))
    expect(rep.locator("#plan-text")).to_have_value(plan)
    suggestions = rep.get_by_test_id("plan-suggestion")
    suggested = suggestions.first.locator("a").inner_text() if suggestions.count() else ""
    screenshot(rep, "account-hcp-page-desktop")

    # --- ... and shares an approved material with a note -------------------------------------
    rep.get_by_test_id("share-material").click()
    _heading(rep, f"Share a material with {HCP_NAME}")
    rule = rep.get_by_test_id("rule-now")
    assert "text-success" in (rule.get_attribute("class") or ""), (
        f"the contact rule refuses the demo rep's share: {rule.inner_text()}"
    )
    if suggested:  # the plan's suggestion, found by its title (it may be on a later page)
        rep.fill("#q", suggested)
        with rep.expect_navigation():
            rep.press("#q", "Enter")
    choices = rep.get_by_test_id("shareable-material")
    choice = choices.filter(has_text=suggested).first if suggested else choices.first
    expect(choice).to_be_visible()
    title = choice.locator(".fw-semibold").inner_text().strip()
    choice.locator("input[type=radio]").check()
    note = f"As promised at our last visit, the summary of the study. [{run}]"
    rep.get_by_test_id("share-note").fill(note)
    screenshot(rep, "account-share-desktop")
    rep.get_by_test_id("share-form").get_by_role("button", name="Share").click()

    expect(rep).to_have_url(re.compile(re.escape(hcp_path) + "$"))
    expect(rep.locator(".alert-success")).to_contain_text(f"Material shared with {HCP_NAME}.")
    assert _used(rep) == used_before + 1
    shared_event = rep.locator("[data-testid=event][data-kind=material_shared]").first
    expect(shared_event).to_contain_text(title)
    expect(shared_event).to_contain_text(REP_NAME)
    expect(rep.get_by_test_id("touch").filter(has_text=REP_NAME).first).to_be_visible()

    # --- the HCP sees it, opens it, and asks the rep for a call ------------------------------
    hcp_context, hcp = open_page(browser, live_server)
    try:
        sign_in(hcp, "hcp")
        expect(hcp).to_have_url(re.compile(r"/$"))
        hcp.get_by_test_id("nav-shared").click()
        _heading(hcp, "Shared with me")
        item = hcp.get_by_test_id("shared-item").filter(has_text=note).first
        expect(item.get_by_test_id("shared-link")).to_have_text(title)
        expect(item.get_by_test_id("share-note")).to_have_text(note)
        expect(item.get_by_test_id("new")).to_be_visible()
        expect(item).to_contain_text(f"Shared by {REP_NAME}")
        screenshot(hcp, "account-shared-with-me-desktop")
        item.get_by_test_id("shared-link").click()
        expect(hcp).to_have_url(re.compile(r"/library/"))
        _heading(hcp, title)
        hcp.go_back()
        hcp.reload()
        item = hcp.get_by_test_id("shared-item").filter(has_text=note).first
        expect(item.get_by_test_id("opened")).to_be_visible()

        hcp.get_by_test_id("nav-meetings").click()
        hcp.get_by_test_id("request-meeting").click()
        _heading(hcp, "Ask for a meeting")
        form = hcp.get_by_test_id("meeting-form")
        rep_option = form.locator("select[name=staff_id] option").filter(has_text=REP_NAME)
        form.locator("select[name=staff_id]").select_option(rep_option.get_attribute("value"))
        form.get_by_test_id("mode").locator("input[value=phone]").check()
        # Three days ahead at 10:00 in the HCP's own zone: in the future wherever that is.
        when = (dt.date.today() + dt.timedelta(days=3)).strftime("%Y-%m-%dT10:00")
        form.locator("input[name=slot_1]").fill(when)
        topic = f"Dosing in older patients [{run}]"
        form.locator("input[name=topic]").fill(topic)
        screenshot(hcp, "account-meeting-request-desktop")
        form.get_by_role("button", name="Send my request").click()
        expect(hcp.locator(".alert-success")).to_contain_text("Your request was sent.")
        mine = hcp.get_by_test_id("meeting").filter(has_text=topic)
        expect(mine).to_have_attribute("data-state", "requested")
        meeting_id = mine.get_attribute("data-meeting-id")

        # --- the rep sees the request on the home worklist and accepts it --------------------
        rep.goto("/")
        request = rep.locator(f"[data-testid=meeting-request][data-meeting-id='{meeting_id}']")
        expect(request).to_contain_text(f"{HCP_NAME} asked for a phone call")
        # The worklist also shows that the HCP opened what the rep shared.
        expect(rep.get_by_test_id("engagement").filter(has_text=title).first).to_be_visible()
        screenshot(rep, "account-rep-home-worklist-desktop")
        request.get_by_role("link", name="Answer").click()
        _heading(rep, "Meetings")
        waiting = rep.locator(f"[data-testid=meeting][data-meeting-id='{meeting_id}']")
        expect(waiting.get_by_test_id("meeting-state")).to_have_text("Waiting for your answer")
        expect(waiting.get_by_test_id("meeting-topic")).to_contain_text(topic)
        screenshot(rep, "account-rep-meetings-desktop")
        waiting.get_by_test_id("accept-form").get_by_role("button", name="Accept").click()
        expect(rep.locator(".alert-success")).to_contain_text(f"Meeting booked with {HCP_NAME}.")
        booked = rep.locator(f"[data-testid=meeting][data-meeting-id='{meeting_id}']")
        expect(booked).to_have_attribute("data-state", "accepted")

        # --- the HCP sees the call booked ----------------------------------------------------
        hcp.goto("/outreach/meetings")
        accepted = hcp.locator(f"[data-testid=meeting][data-meeting-id='{meeting_id}']")
        expect(accepted).to_have_attribute("data-state", "accepted")
        expect(accepted.get_by_test_id("meeting-time")).to_be_visible()
        expect(accepted.get_by_test_id("meeting-ics")).to_be_visible()
        screenshot(hcp, "account-hcp-meetings-desktop")

        # The rep's HCP page records the meeting too.
        rep.goto(hcp_path)
        expect(rep.locator("[data-testid=event][data-kind=meeting_accepted]").first).to_be_visible()
        assert hcp.js_errors == [], hcp.js_errors
    finally:
        hcp_context.close()
    assert rep.js_errors == [], rep.js_errors


def test_account_team_pages_fit_a_phone(page: Any, browser: Any, live_server: str) -> None:
    rep = page
    rep.set_viewport_size(PHONE)
    sign_in(rep, "rep")
    expect(rep).to_have_url(re.compile(r"/$"))
    _fits(rep, "The rep's home (worklist)")
    screenshot(rep, "account-rep-home-worklist-phone")
    hcp_path = _open_cole_from_the_roster(rep)
    _fits(rep, "Dr. Cole's page")
    screenshot(rep, "account-hcp-page-phone")
    rep.goto("/hcps/")
    expect(rep.get_by_test_id("roster-row").first).to_be_visible()
    _fits(rep, "The roster")
    screenshot(rep, "account-roster-phone")
    rep.goto(hcp_path)
    rep.get_by_test_id("share-material").click()
    _heading(rep, "Share a material")
    _fits(rep, "The share page")
    screenshot(rep, "account-share-phone")
    rep.goto("/outreach/meetings")
    _heading(rep, "Meetings")
    _fits(rep, "The rep's meetings")
    screenshot(rep, "account-rep-meetings-phone")
    assert rep.js_errors == [], rep.js_errors

    hcp_context, hcp = open_page(browser, live_server)
    try:
        hcp.set_viewport_size(PHONE)
        sign_in(hcp, "hcp")
        expect(hcp).to_have_url(re.compile(r"/$"))
        for path, heading, name in (
            ("/outreach/shared", "Shared with me", "shared-with-me"),
            ("/outreach/meetings/request", "Ask for a meeting", "meeting-request"),
            ("/outreach/meetings", "Meetings", "hcp-meetings"),
        ):
            hcp.goto(path)
            _heading(hcp, heading)
            _fits(hcp, f"The HCP's {heading}")
            screenshot(hcp, f"account-{name}-phone")
        assert hcp.js_errors == [], hcp.js_errors
    finally:
        hcp_context.close()
