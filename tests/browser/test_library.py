"""Library journeys: an HCP searches and bookmarks; a material goes from draft to published and
is withdrawn, through the real pages."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in


def test_hcp_searches_opens_and_bookmarks_a_material(page: Any) -> None:
    sign_in(page, "hcp")
    expect(page.get_by_test_id("recommendations")).to_be_visible()
    page.goto("/library/")
    page.fill("input[name=q]", "dosing")
    page.press("input[name=q]", "Enter")
    results = page.get_by_test_id("library-results")
    expect(results.locator("mark").first).to_be_visible()
    screenshot(page, "library-search")
    results.locator("[data-testid=material-card] a").first.click()
    expect(page.locator("article h1")).to_be_visible()
    title = page.locator("article h1").inner_text()
    page.get_by_test_id("bookmark").click()
    expect(page.locator(".alert-success")).to_contain_text("Added to My library")
    screenshot(page, "library-material")
    page.goto("/library/mine")
    expect(page.get_by_test_id("bookmarks")).to_contain_text(title)
    expect(page.get_by_test_id("history")).to_contain_text(title)
    assert page.js_errors == []


def _fill_material(page: Any, title: str, code: str, pdf: Path) -> None:
    page.fill("input[name=title]", title)
    page.fill("input[name=approval_code]", code)
    page.fill(
        "textarea[name=summary]", "A new summary of Cardiovex titration for the browser journey."
    )
    page.fill(
        "textarea[name=body]", "## Titration\n\nStart low, go slow.\n\n<script>alert(1)</script>"
    )
    page.select_option("select[name=kind]", "dosing_guide")
    page.select_option("select[name=classification]", "promotional")
    page.fill("input[name=effective_at]", "2020-01-01T00:00")
    page.fill("input[name=expires_at]", "2099-01-01T00:00")
    page.set_input_files("input[name=file]", str(pdf))


def test_material_from_draft_to_published_to_withdrawn(
    browser: Any, live_server: str, tmp_path: Path
) -> None:
    title = f"Browser titration guide {uuid.uuid4().hex[:6]}"
    code = f"PRT-US-B{uuid.uuid4().hex[:5].upper()}"
    pdf = tmp_path / "guide.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")

    manager = browser.new_context(base_url=live_server).new_page()
    sign_in(manager, "content")
    manager.goto("/library/manage/new")
    _fill_material(manager, title, code, pdf)
    manager.get_by_role("button", name="Save draft").click()
    expect(manager.get_by_test_id("material-state")).to_have_text("Draft")
    # The script typed into the body is shown as text, never run.
    expect(manager.locator(".material-body")).to_contain_text("<script>alert(1)</script>")
    manager.get_by_role("button", name="Send to MLR review").click()
    expect(manager.get_by_test_id("material-state")).to_have_text("In review")
    expect(manager.get_by_test_id("material-actions")).to_contain_text("nobody approves their own")
    material_url = manager.url

    reviewer = browser.new_context(base_url=live_server).new_page()
    sign_in(reviewer, "reviewer")
    reviewer.goto(material_url)
    reviewer.get_by_role("button", name="Approve this version").click()
    expect(reviewer.get_by_test_id("material-state")).to_have_text("Published")
    screenshot(reviewer, "manage-published")

    hcp = browser.new_context(base_url=live_server).new_page()
    sign_in(hcp, "hcp")
    hcp.goto("/library/?q=" + title.split()[-1])
    hcp.get_by_role("link", name=re.compile("Browser titration guide")).click()
    expect(hcp.get_by_test_id("download")).to_be_visible()
    with hcp.expect_download() as download:
        hcp.get_by_test_id("download").click()
    assert download.value.suggested_filename.endswith(".pdf")
    hcp_url = hcp.url

    reviewer.fill("#withdraw-reason", "Label change: claims no longer accurate.")
    reviewer.get_by_role("button", name="Withdraw").click()
    expect(reviewer.get_by_test_id("material-state")).to_have_text("Withdrawn")

    response = hcp.goto(hcp_url)
    assert response is not None and response.status == 404
    hcp.goto("/library/?q=" + title.split()[-1])
    expect(hcp.get_by_test_id("library-results")).not_to_contain_text(title)


def test_changing_a_filter_applies_it_at_once_and_clear_filters_resets(page: Any) -> None:
    sign_in(page, "hcp")
    page.goto("/library/")
    expect(page.get_by_test_id("clear-filters")).to_have_count(0)
    kind = page.locator("select[name=kind]")
    value = kind.locator("option").nth(1).get_attribute("value")
    with page.expect_navigation():
        kind.select_option(value)
    assert f"kind={value}" in page.url
    expect(page.get_by_test_id("library-count")).to_contain_text("page 1 of")
    page.get_by_test_id("clear-filters").click()
    page.wait_for_url(re.compile(r"/library/$"))
    assert page.js_errors == []
