"""Question journeys through the real pages: an HCP asks, Medical Information answers,
Pharmacovigilance acknowledges the adverse event the question mentioned."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, sign_out


def _sign_out(page: Any) -> None:
    sign_out(page)


def test_hcp_question_is_answered_and_its_adverse_event_reaches_pv(page: Any) -> None:
    sign_in(page, "hcp")
    page.goto("/questions/ask")
    # Sent with problems first: every field says what is wrong and the text stays.
    page.fill("textarea[name=text]", "Rash?")
    page.locator("[data-testid=ask-form] button[type=submit]").click()
    expect(page.get_by_test_id("form-problems")).to_be_visible()
    expect(page.locator("textarea[name=text]")).to_have_value("Rash?")
    screenshot(page, "questions-ask-errors")

    text = (
        "What dose of Cardiovex should I use after a patient developed a rash at 10 mg? "
        "Browser journey."
    )
    page.select_option("select[name=product_id]", label="Cardiovex")
    page.check("input[name=category][value=dosing]")
    page.fill("textarea[name=text]", text)
    page.check("input[name=channel][value=portal]")
    page.check("input[name=consent]")
    screenshot(page, "questions-ask")
    page.locator("[data-testid=ask-form] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text("Q-")
    reference = re.search(r"Q-\d{6}", page.locator(".alert-success").inner_text())
    assert reference is not None
    question_url = page.url
    expect(page.get_by_test_id("timeline")).to_contain_text("With Medical Information")
    # The HCP never sees routing reasons or flags.
    expect(page.get_by_test_id("reasons")).to_have_count(0)
    expect(page.get_by_test_id("ae-flag")).to_have_count(0)
    screenshot(page, "questions-hcp-received")
    _sign_out(page)

    # Medical Information sees why it was routed and that PV is involved, then answers.
    sign_in(page, "mi")
    page.goto("/questions/queue?view=all")
    expect(page.get_by_test_id("queue")).to_contain_text(reference.group(0))
    screenshot(page, "questions-queue")
    page.goto(question_url)
    expect(page.get_by_test_id("reasons")).to_contain_text("Pharmacovigilance")
    expect(page.get_by_test_id("reasons")).to_contain_text("rash")
    expect(page.get_by_test_id("ae-flag")).to_be_visible()
    if page.get_by_test_id("claim").count():
        page.get_by_test_id("claim").click()
    page.fill("[data-testid=reply-form] textarea", "Keep **10 mg**; see the dosing guide.")
    # Sent without the safety attestation first: refused, the answer kept.
    page.locator("[data-testid=reply-attestation] input").first.evaluate(
        "input => input.closest('form').noValidate = true"
    )
    page.locator("[data-testid=reply-form] button[type=submit]").click()
    expect(page.get_by_test_id("reply-attestation")).to_contain_text("nothing is chosen for you")
    expect(page.locator("[data-testid=reply-form] textarea")).to_have_value(
        "Keep **10 mg**; see the dosing guide."
    )
    # The rash is a possible adverse event: the answerer says so (PV already has the case).
    page.check("[data-testid=reply-attestation] input[value=adverse_event]")
    screenshot(page, "questions-staff-attests")
    page.locator("[data-testid=reply-form] button[type=submit]").click()
    expect(page.locator(".alert-success")).to_be_visible()
    screenshot(page, "questions-staff-answered")
    _sign_out(page)

    # The HCP sees the answer (bold rendered, no script) and says it helped.
    sign_in(page, "hcp")
    expect(page.get_by_test_id("bell")).to_be_visible()
    page.goto(question_url)
    expect(page.get_by_test_id("timeline")).to_contain_text("Answered")
    expect(page.locator("strong", has_text="10 mg")).to_be_visible()
    page.get_by_test_id("helpful").locator("button").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    screenshot(page, "questions-hcp-answer")
    _sign_out(page)

    # Pharmacovigilance has a case on a one-business-day clock and acknowledges it.
    sign_in(page, "pv")
    page.goto("/safety/cases")
    row = page.get_by_test_id("pv-row").filter(has_text=reference.group(0))
    expect(row).to_have_count(1)
    screenshot(page, "questions-pv-cases")
    row.locator("a").first.click()
    expect(page.get_by_test_id("source-text")).to_contain_text("Browser journey")
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("pv-status")).to_contain_text("Acknowledged")
    screenshot(page, "questions-pv-case")
    assert page.js_errors == []


def test_a_rep_never_sees_a_medical_question(page: Any) -> None:
    sign_in(page, "rep")
    page.goto("/questions/queue?view=all")
    expect(page.get_by_test_id("queue-tabs")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("renal impairment")
    # The demo's first question is a medical (dosing) one: its page does not exist for a rep.
    response = page.goto("/questions/1")
    assert response is not None and response.status == 404
    screenshot(page, "questions-rep-queue")
