"""Whole journeys through the real pages, in a real browser."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in


def test_demo_hcp_signs_in_and_lands_on_their_home(page: Any) -> None:
    sign_in(page, "hcp")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Welcome, Dr. Harper Cole")).to_be_visible()
    expect(page.get_by_test_id("field-team")).to_contain_text("Riley Rep")
    screenshot(page, "hcp-home")
    assert page.js_errors == []


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("pending", "awaiting verification"),
        ("rep", "Commercial side of the firewall"),
        ("msl", "Medical side of the firewall"),
        ("admin", "awaiting verification"),
        ("compliance", "Company-wide function"),
    ],
)
def test_each_demo_login_lands_on_its_role_home(page: Any, who: str, expected: str) -> None:
    sign_in(page, who)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("main")).to_contain_text(expected)
    screenshot(page, f"home-{who}")


def test_wrong_password_is_refused_on_the_page(page: Any) -> None:
    sign_in(page, "hcp", password="not-the-password")
    expect(page.locator(".alert-danger")).to_contain_text("Email or password is incorrect.")
    expect(page).to_have_url(re.compile(r"/login"))


def _mailed_link(tmp_path_factory: pytest.TempPathFactory, to: str, path: str) -> str:
    """The ``path`` link in the newest mail queued for ``to`` by the live server."""
    # live-instance0, ... (pytest adds a "live-instancecurrent" link to the newest).
    (database,) = tmp_path_factory.getbasetemp().glob("live-instance[0-9]*/portal.db")
    with sqlite3.connect(database) as connection:
        (body,) = connection.execute(
            'SELECT body FROM outbox_mail WHERE "to" = ? ORDER BY id DESC LIMIT 1', (to,)
        ).fetchone()
    found = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"\S+)", body)
    assert found, body
    return found.group(1)


def test_hcp_registers_fixes_npi_and_is_verified_by_an_admin(
    browser: Any, live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hcp_context = browser.new_context(base_url=live_server)
    hcp = hcp_context.new_page()
    hcp.goto("/register")
    hcp.fill("input[name=name]", "Dr. Robin Browser")
    hcp.fill("input[name=email]", "robin.browser@hospital.example.org")
    hcp.fill("input[name=password]", "a-long-browser-pass-26")
    hcp.fill("input[name=confirm]", "a-long-browser-pass-26")
    hcp.select_option("select[name=profession]", "physician")
    hcp.select_option("select[name=specialty]", "Neurology")
    hcp.fill("input[name=institution]", "Browser General Hospital")
    hcp.select_option("select[name=country]", "DE")
    # Outside the US the licence field shows and the NPI field hides.
    expect(hcp.locator("input[name=npi]")).to_be_hidden()
    hcp.select_option("select[name=country]", "US")
    expect(hcp.locator("input[name=licence_number]")).to_be_hidden()
    hcp.fill("input[name=postal_code]", "60601")
    hcp.fill("input[name=npi]", "1234567890")
    hcp.click("button[type=submit]")
    screenshot(hcp, "register-npi-error")
    expect(hcp.locator("#npi ~ .invalid-feedback")).to_contain_text("check digit")
    screenshot(hcp, "register-npi-error")
    # The form kept everything but the passwords.
    expect(hcp.locator("input[name=institution]")).to_have_value("Browser General Hospital")
    hcp.fill("input[name=password]", "a-long-browser-pass-26")
    hcp.fill("input[name=confirm]", "a-long-browser-pass-26")
    hcp.fill("input[name=npi]", "1555555550")
    hcp.click("button[type=submit]")
    # The same answer whether or not the address had an account: check your e-mail.
    expect(hcp.locator(".alert-info")).to_contain_text("Check your e-mail")
    screenshot(hcp, "register-check-mail")
    hcp.goto(_mailed_link(tmp_path_factory, "robin.browser@hospital.example.org", "/confirm/"))
    expect(hcp.locator(".alert-success")).to_contain_text("Your email address is confirmed.")
    hcp.fill("input[name=email]", "robin.browser@hospital.example.org")
    hcp.fill("input[name=password]", "a-long-browser-pass-26")
    hcp.click("button[type=submit]")
    expect(hcp.get_by_test_id("verification-status")).to_contain_text("awaiting verification")
    screenshot(hcp, "register-pending")

    admin_context = browser.new_context(base_url=live_server)
    admin = admin_context.new_page()
    sign_in(admin, "admin")
    admin.goto("/admin/users?status=pending")
    admin.get_by_role("link", name="Dr. Robin Browser").click()
    expect(admin.get_by_test_id("verification-actions")).to_be_visible()
    screenshot(admin, "admin-verify")
    admin.get_by_role("button", name="Verify").click()
    expect(admin.locator(".alert-success")).to_contain_text("is verified")
    admin_context.close()

    hcp.reload()
    expect(hcp.get_by_role("heading", name="Welcome, Dr. Robin Browser")).to_be_visible()
    expect(hcp.locator("main")).to_contain_text("Verified")
    hcp_context.close()
