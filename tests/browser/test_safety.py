"""People close the loop, on a phone: the MSL reports an HCP's chat message to PV in one click,
then attests for a chat that ended; Medical Information sees the report button on a question.
Every page fits a 390 px wide screen."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

PHONE = {"width": 390, "height": 844}


def _fits(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_msl_reports_a_chat_message_and_attests_an_ended_chat_on_a_phone(page: Any) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "msl")
    page.goto("/chat/")
    page.locator("[data-testid=conversation]", has_text="Dr. Harper Cole").first.click()
    message = page.locator(".chat-msg.theirs", has_text="titration schedule").first
    expect(message).to_be_visible()
    message.get_by_test_id("report-pv").click()
    expect(message.get_by_test_id("report-status")).to_have_text(
        re.compile(r"(Reported to Pharmacovigilance as|already has these words as) PV-\d{6}")
    )
    _fits(page)
    screenshot(page, "safety-chat-report-phone")

    # The demo chat that Dr. Nakamura ended waits for the MSL's attestation on the home page.
    page.goto("/")
    panel = page.get_by_test_id("attestation-panel")
    expect(panel).to_be_visible()
    _fits(page)
    screenshot(page, "safety-home-panel-phone")
    row = panel.get_by_test_id("awaiting-attestation").filter(has_text="Dr. Kai Nakamura")
    row.get_by_role("link", name="Attest").click()
    expect(page.get_by_test_id("attest-messages")).to_be_visible()
    expect(page.locator("[data-testid=chat-attestation] input:checked")).to_have_count(0)
    _fits(page)
    screenshot(page, "safety-attest-phone")
    page.check("[data-testid=chat-attestation] input[value=none]")
    page.locator("[data-testid=attest-form] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text("Attested for messages up to #")
    assert page.js_errors == []


def test_medical_information_sees_the_report_button_on_a_phone(page: Any) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "mi")
    page.goto("/questions/queue?view=all")
    page.get_by_test_id("queue").locator("a[href^='/questions/']").first.click()
    expect(page.get_by_test_id("report-pv").first).to_be_visible()
    _fits(page)
    screenshot(page, "safety-question-phone")
    assert page.js_errors == []
