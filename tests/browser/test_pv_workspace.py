"""The PV workspace on a phone: an HCP reports a side effect in a question, Pharmacovigilance
completes the case and asks a follow-up, the HCP answers it in the portal, PV reads the answer."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, sign_out

PHONE = {"width": 390, "height": 844}


def _sign_out(page: Any) -> None:
    page.goto("/")
    sign_out(page)


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


def test_pv_works_a_case_and_the_hcp_answers_its_follow_up_on_a_phone(page: Any) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "hcp")
    page.goto("/questions/ask")
    page.select_option("select[name=product_id]", label="Cardiovex")
    page.check("input[name=category][value=safety]")
    page.fill(
        "textarea[name=text]",
        "My patient was hospitalised with angioedema two days after starting Cardiovex. "
        "Phone journey.",
    )
    page.check("input[name=channel][value=portal]")
    page.check("input[name=consent]")
    page.locator("[data-testid=ask-form] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text("Q-")
    question = re.search(r"Q-\d{6}", page.locator(".alert-success").inner_text())
    assert question is not None
    _sign_out(page)

    # PV: the list is cards on a phone; the case shows its source, product, reporter and clock.
    sign_in(page, "pv")
    page.goto("/safety/cases")
    card = page.get_by_test_id("pv-cards").locator("li", has_text=question.group(0))
    expect(card).to_be_visible()
    expect(card.get_by_test_id("clock")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "safety-phone-cases")
    card.locator("a").first.click()
    expect(page.get_by_test_id("source-text")).to_contain_text("Phone journey")
    expect(page.get_by_test_id("reporter-card")).to_contain_text("@example.com")
    expect(page.get_by_test_id("product-card")).to_contain_text("Cardiovex")
    case_url = page.url
    reference = re.search(r"PV-\d{6}", page.locator("h1").inner_text())
    assert reference is not None
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("pv-status")).to_contain_text("Acknowledged")
    page.fill("input[name=patient_initials]", "A.B.")
    page.fill("input[name=patient_age]", "64 years")
    page.check("input[name=patient_sex][value=female]")
    page.check("input[name=seriousness][value=hospitalisation]")
    page.locator("[data-testid=pv-form] button[type=submit]").click()
    expect(page.get_by_test_id("serious")).to_contain_text("Serious")
    page.fill("textarea[name=ask-body]", "Has the angioedema resolved, and was Cardiovex stopped?")
    page.locator("[data-testid=ask-form] button[type=submit]").click()
    expect(page.get_by_test_id("pv-follow-up-waiting")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "safety-phone-case")
    _sign_out(page)

    # The HCP: told PV has a question, answers it; never sees the case.
    sign_in(page, "hcp")
    expect(page.get_by_test_id("pv-requests-panel")).to_be_visible()
    page.get_by_test_id("pv-requests-panel").locator("a").click()
    page.get_by_test_id("pv-request").first.locator("a").click()
    expect(page.get_by_test_id("pv-question")).to_contain_text("Has the angioedema resolved")
    expect(page.locator("body")).not_to_contain_text(reference.group(0))
    page.fill("textarea[name=answer]", "Resolved after stopping Cardiovex.")
    _no_sideways_scroll(page)
    screenshot(page, "safety-phone-hcp-request")
    page.locator("[data-testid=answer-form] button[type=submit]").click()
    expect(page.get_by_test_id("pv-answer")).to_contain_text("Resolved after stopping")
    _sign_out(page)

    # PV reads the answer on the case.
    sign_in(page, "pv")
    page.goto(case_url)
    expect(page.get_by_test_id("pv-follow-up-answer")).to_contain_text("Resolved after stopping")
    assert page.js_errors == []
