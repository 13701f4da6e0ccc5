"""Browser harness: a live portal (the real gevent server, as `make run` starts it) with demo data,
driven by Playwright in Debian's Chromium. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        if IN_CI:
            pytest.fail(f"Chromium not found at {CHROMIUM}: CI must run the browser tests")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def open_page(browser: Any, live_server: str) -> tuple[Any, Any]:
    """A fresh browser context (cookies of its own) and its page, whose ``js_errors`` collects
    the script errors and console errors the page shows."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    new_page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    new_page.js_errors = errors
    return context, new_page


@pytest.fixture
def page(browser: Any, live_server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot is saved when the test fails."""
    context, new_page = open_page(browser, live_server)
    yield new_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        new_page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of a journey's step for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sticking_out(page: Any) -> list[str]:
    """The elements reaching past the window's right edge, to say what to fix."""
    return page.evaluate(
        """() => [...document.body.querySelectorAll('*')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8)
            .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`
                + ` (right edge ${Math.round(el.getBoundingClientRect().right)})`)"""
    )


def sign_out(page: Any) -> None:
    """Sign out from the menu (opened first on a phone) and wait for the sign-in page: a
    sign-in started before the sign-out has landed would find the old session still open."""
    if page.locator(".navbar-toggler").is_visible():
        page.locator(".navbar-toggler").click()
        # Bootstrap animates the menu open; a click while it is still "collapsing" can land on
        # the page underneath.
        expect(page.locator(".navbar-collapse.show")).to_be_visible()
        expect(page.locator(".navbar-collapse.collapsing")).to_have_count(0)
    with page.expect_navigation(url=re.compile(r"/login"), timeout=20_000):
        page.locator("form[action='/logout'] button").click()


def sign_in(page: Any, who: str, password: str = "demo-pass-2026") -> None:
    page.goto("/login")
    page.fill("input[name=email]", f"{who}@example.com")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
