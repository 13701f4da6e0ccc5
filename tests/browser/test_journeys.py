"""Whole journeys through the real pages, in a real browser."""

from __future__ import annotations

import re
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
