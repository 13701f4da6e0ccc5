"""Records and privacy in the browser: compliance reads the audit trail (filter, chain check,
CSV) and takes a supervisory export that the worker prepares; an HCP downloads their data, reads
it and deletes their account. Every page fits a phone (390 x 844) and leaves a screenshot
`records-*.png` in tests/artifacts/ for a reviewer."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, sign_out, sticking_out

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}
# Where each of a list of elements starts, from the top of the window.
TOPS = "els => els.map(el => Math.round(el.getBoundingClientRect().top))"

# An HCP no other browser test signs in as: this one deletes their account on the shared server.
LEAVING_HCP = "pharmacist"
LEAVING_NAME = "Taylor Brooks, PharmD"


def fits_the_phone(page: Any, name: str) -> None:
    """At phone size the page does not scroll sideways; its screenshot is saved."""
    page.set_viewport_size(PHONE)
    page.wait_for_load_state("load")
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a phone: {sticking_out(page)}"
    screenshot(page, f"records-{name}-phone")


def open_records_menu(page: Any, item: str) -> None:
    """Choose ``item`` (a data-testid) in the Records menu of the navigation bar."""
    # Until its style sheets apply, a page shows the phone's menu button at any width.
    page.wait_for_load_state("load")
    if page.locator(".navbar-toggler").is_visible():
        page.locator(".navbar-toggler").click()
        expect(page.locator(".navbar-collapse.show")).to_be_visible()
    page.click("[data-testid=nav-records]")
    page.click(f"[data-testid={item}]")


def leave(page: Any) -> None:
    """Sign out once the page has its style sheets (before, the phone's menu button shows)."""
    page.wait_for_load_state("load")
    sign_out(page)


def saved(download: Any) -> bytes:
    return Path(download.path()).read_bytes()


def test_the_records_menu_offers_each_role_its_pages_on_one_row(page: Any) -> None:
    offered = {
        "compliance": ["nav-audit", "nav-exports", "nav-retention", "nav-erasure-requests"],
        "admin": ["nav-audit", "nav-retention", "nav-erasure-requests"],
    }
    page.set_viewport_size(WIDE)
    for who, items in offered.items():
        sign_in(page, who)
        expect(page).to_have_url(re.compile(r"/$"))
        page.wait_for_load_state("load")
        links = page.locator("#nav .navbar-nav.me-auto > .nav-item > .nav-link")
        tops = set(links.evaluate_all(TOPS))
        assert len(tops) == 1, f"{who}'s menu takes {len(tops)} rows on a wide screen"
        page.click("[data-testid=nav-records]")
        menu = page.locator("[aria-labelledby=nav-records] .dropdown-item")
        expect(menu).to_have_count(len(items))
        assert [menu.nth(i).get_attribute("data-testid") for i in range(len(items))] == items
        screenshot(page, f"records-menu-{who}")
        page.keyboard.press("Escape")
        expect(menu.first).to_be_hidden()
        leave(page)
    for who in ("hcp", "msl"):
        sign_in(page, who)
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.locator("[data-testid=nav-records]")).to_have_count(0)
        leave(page)
    assert page.js_errors == []


def test_compliance_filters_the_audit_trail_checks_the_chain_and_downloads_csv(
    page: Any,
) -> None:
    sign_in(page, "compliance")
    expect(page).to_have_url(re.compile(r"/$"))
    open_records_menu(page, "nav-audit")
    expect(page.locator("main h1")).to_contain_text("Audit trail")
    expect(page.locator("[data-testid=nav-records]")).to_have_class(re.compile(r"\bactive\b"))

    page.select_option("#f-action", "auth.login")
    page.click("[data-testid=audit-filters] button[type=submit]")
    expect(page).to_have_url(re.compile(r"action=auth\.login"))
    rows = page.locator("[data-testid=audit-table] > li[data-action]")
    expect(rows.first).to_be_visible()
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.action)")) == {"auth.login"}
    expect(rows.first.locator("[data-testid=audit-sentence]")).to_contain_text("signed in")
    screenshot(page, "records-audit-filtered")

    with page.expect_download() as info:
        page.click("[data-testid=audit-csv]")
    table = list(csv.reader(io.StringIO(saved(info.value).decode("utf-8-sig"))))
    assert table[0] == [
        "id", "at", "actor", "action", "sentence", "target_type", "target_id", "details", "hash",
    ]  # fmt: skip
    assert len(table) > 1
    assert {row[3] for row in table[1:]} == {"auth.login"}

    page.click("[data-testid=verify-form] button")
    status = page.locator("[data-testid=chain-status]")
    expect(status).to_have_class(re.compile(r"alert-success"))
    expect(status).to_contain_text(re.compile(r"Chain intact: [\d,]+ records verified"))
    screenshot(page, "records-audit-verified")
    fits_the_phone(page, "audit-verified")

    page.goto("/audit?action=auth.login")
    fits_the_phone(page, "audit-filtered")
    assert page.js_errors == []


def test_compliance_takes_a_supervisory_export_the_worker_prepares(page: Any) -> None:
    sign_in(page, "compliance")
    expect(page).to_have_url(re.compile(r"/$"))
    open_records_menu(page, "nav-exports")
    expect(page.locator("main h1")).to_contain_text("Supervisory exports")
    today = dt.date.today()
    page.fill("#since", (today - dt.timedelta(days=400)).isoformat())
    page.fill("#until", (today + dt.timedelta(days=1)).isoformat())
    screenshot(page, "records-exports-form")
    page.click("[data-testid=export-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/records/exports/\d+$"))

    # The web process runs the worker here (SQLite, no Redis); it looks for jobs every 15 s and
    # the page reloads itself every 5 s while the export runs.
    status = page.locator("[data-testid=export-status]")
    expect(status).to_contain_text("Ready", timeout=60_000)
    sha256 = page.locator("[data-testid=sha256]").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    screenshot(page, "records-export-done")

    with page.expect_download() as info:
        page.click("[data-testid=download]")
    body = saved(info.value)
    assert hashlib.sha256(body).hexdigest() == sha256
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = set(archive.namelist())
        assert "manifest.json" in names
        manifest = json.loads(archive.read("manifest.json"))
        assert "messages.jsonl" in names
        for entry in manifest["files"]:
            content = archive.read(entry["name"])
            assert hashlib.sha256(content).hexdigest() == entry["sha256"], entry["name"]
    assert manifest["audit_chain_head"]["seq"] > 0
    fits_the_phone(page, "export-done")

    page.goto("/records/exports")
    expect(page.locator("[data-testid=export-table] tbody tr").first).to_contain_text("Ready")
    fits_the_phone(page, "exports")
    assert page.js_errors == []


def test_administrators_reach_retention_and_erasure_requests(page: Any) -> None:
    page.set_viewport_size(PHONE)  # through the folded menu
    sign_in(page, "admin")
    expect(page).to_have_url(re.compile(r"/$"))
    open_records_menu(page, "nav-retention")
    expect(page.locator("main h1")).to_contain_text("Retention and legal holds")
    expect(page.locator("[data-testid=period-table]")).to_be_visible()
    fits_the_phone(page, "retention")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "records-retention")

    page.goto("/admin/users")
    page.click("[data-testid=erasure-requests]")
    expect(page).to_have_url(re.compile(r"/admin/privacy/requests$"))
    expect(page.locator("main h1")).to_contain_text("Erasure requests")
    screenshot(page, "records-erasure-requests")
    fits_the_phone(page, "erasure-requests")
    assert page.js_errors == []


def test_an_hcp_downloads_their_data_reads_it_and_deletes_their_account(page: Any) -> None:
    sign_in(page, LEAVING_HCP)
    expect(page).to_have_url(re.compile(r"/$"))
    page.click("[data-testid=my-account]")
    page.click("[data-testid=link-privacy]")
    expect(page.locator("main h1")).to_contain_text("Your data")
    screenshot(page, "records-privacy")

    with page.expect_download() as info:
        page.click("[data-testid=download-json]")
    assert re.fullmatch(r"personal-data-\d{4}-\d{2}-\d{2}\.json", info.value.suggested_filename)
    data = json.loads(saved(info.value))
    assert data["profile"]["name"] == LEAVING_NAME
    assert data["profile"]["email"] == f"{LEAVING_HCP}@example.com"
    fits_the_phone(page, "privacy")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("[data-testid=read-html]")
    expect(page.locator("main h1")).to_contain_text("Everything we hold about you")
    expect(page.locator("[data-testid=section-profile]")).to_contain_text(LEAVING_NAME)
    screenshot(page, "records-privacy-data")
    fits_the_phone(page, "privacy-data")

    page.goto("/account/privacy")
    page.click("[data-testid=link-delete]")
    expect(page.locator("main h1")).to_contain_text("Delete your account")
    fits_the_phone(page, "privacy-delete")
    page.click("[data-testid=delete-form] button[type=submit]")  # neither ticked nor a password
    expect(page.locator("main h1")).to_contain_text("Delete your account")
    expect(page.locator("[data-testid=delete-form] .is-invalid").first).to_be_visible()
    screenshot(page, "records-privacy-delete-refused-phone")

    page.check("[data-testid=delete-form] input[type=checkbox]")
    page.fill("[data-testid=delete-form] input[type=password]", "demo-pass-2026")
    with page.expect_navigation(url=re.compile(r"/login")):
        page.click("[data-testid=delete-form] button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("Your account is deleted")
    screenshot(page, "records-privacy-deleted-phone")

    sign_in(page, LEAVING_HCP)
    expect(page.locator(".alert-danger")).to_contain_text("Email or password is incorrect.")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("[data-testid=my-account]")).to_have_count(0)
    page.goto("/account/privacy")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.js_errors == []
