"""The API reference (/api/v1/docs): Swagger UI from our own static files renders every
operation of the served document, within the Content-Security-Policy; and an administrator's
token journey on the tokens page."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in


def watch_csp(page: Any) -> list[str]:
    """Every Content-Security-Policy violation the page reports (from the page's own events,
    which fire even where the console says nothing)."""
    violations: list[str] = []
    page.expose_function("reportCsp", lambda text: violations.append(text))
    page.add_init_script(
        """document.addEventListener('securitypolicyviolation', (e) =>
            window.reportCsp(`${e.violatedDirective} ${e.blockedURI}`));"""
    )
    return violations


def test_reference_page_renders_every_operation_without_csp_violations(page: Any) -> None:
    violations = watch_csp(page)

    page.goto("/api/v1/docs")

    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    document = page.request.get("/api/v1/openapi.json").json()
    expected = sum(
        1
        for methods in document["paths"].values()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    )
    expect(operations).to_have_count(expected)
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/me")).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/v1/me").first.click()
    expect(page.locator(".opblock.is-open .responses-wrapper")).to_be_visible()
    screenshot(page, "api-docs")
    assert violations == []
    assert [e for e in page.js_errors if "Content Security Policy" in e or "Refused" in e] == []
    assert page.js_errors == []


def test_admin_creates_a_token_and_sees_it_once(page: Any) -> None:
    sign_in(page, "admin")
    expect(page.get_by_test_id("whoami")).to_be_visible()
    page.get_by_test_id("nav-api-tokens").click()
    page.get_by_test_id("new-token").click()
    page.fill("input[name=name]", "Warehouse (browser test)")
    page.get_by_label("read:commercial", exact=False).check()
    page.get_by_role("button", name="Create token").click()

    secret = page.get_by_test_id("token-secret").input_value()
    assert secret.startswith("hcpp_")
    screenshot(page, "api-token-created")
    page.get_by_role("link", name="Done: back to the tokens").click()
    expect(page.get_by_test_id("token-table")).to_contain_text("Warehouse (browser test)")
    assert secret not in page.content()
    assert page.js_errors == []
