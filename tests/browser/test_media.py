"""Media journeys: an HCP on a phone reads a PDF slide deck page by page in the page, and opens a
demo video in the player. The demo data carries a real PDF and MP4 (content/demo_media.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any, live_server: str) -> Iterator[Any]:
    """A phone-sized page collecting script and console errors, as ``open_page`` does."""
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    messages: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("console", lambda msg: messages.append(msg.text))
    page.js_errors = errors
    page.console_messages = messages
    yield page
    context.close()


def _open_first(page: Any, kind: str) -> None:
    page.goto(f"/library/?kind={kind}")
    card = page.get_by_test_id("material-card").first
    thumb = card.get_by_test_id("material-thumb")
    expect(thumb).to_have_attribute("width", "160")
    # The thumbnail image really loaded (lazy loading brings in the first card at once).
    page.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=material-thumb]');"
        " return img.complete && img.naturalWidth === 320; }"
    )
    screenshot(page, f"media-library-{kind}-phone")
    card.locator("a").first.click()
    expect(page.locator("article h1")).to_be_visible()


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px wide)"


def test_hcp_reads_a_pdf_slide_deck_page_by_page_on_a_phone(phone: Any) -> None:
    sign_in(phone, "hcp")
    _open_first(phone, "slide_deck")
    viewer = phone.get_by_test_id("pdf-viewer")
    status = phone.get_by_test_id("pdf-status")

    expect(viewer).to_have_attribute("data-rendered", "1")
    expect(status).to_have_text(re.compile(r"^Page 1 of [2-9]$"))
    canvas = phone.get_by_test_id("pdf-canvas")
    box = canvas.bounding_box()
    assert box is not None and 300 <= box["width"] <= PHONE["width"]
    # Something was drawn: the canvas is not blank white.
    inked = phone.evaluate(
        """() => {
          const c = document.querySelector('[data-pdf-canvas]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let dark = 0;
          for (let i = 0; i < d.length; i += 4) { if (d[i] < 128) dark++; }
          return dark;
        }"""
    )
    assert inked > 100
    _no_sideways_scroll(phone)

    phone.get_by_role("button", name="Next page").click()
    expect(viewer).to_have_attribute("data-rendered", "2")
    expect(status).to_have_text(re.compile(r"^Page 2 of [2-9]$"))
    expect(phone.get_by_role("button", name="Previous page")).to_be_enabled()
    _no_sideways_scroll(phone)
    screenshot(phone, "media-pdf-viewer-phone")

    # Zoomed in, the page scrolls inside its frame, never the whole page sideways.
    phone.get_by_role("button", name="Zoom in").click()
    phone.get_by_role("button", name="Zoom in").click()
    expect(viewer).to_have_attribute("data-rendered", "2")
    _no_sideways_scroll(phone)
    expect(phone.get_by_test_id("download")).to_be_visible()
    assert phone.js_errors == []
    # The Content-Security-Policy let PDF.js start its worker (else it parses on the page).
    assert not [m for m in phone.console_messages if "fake worker" in m.lower()]


def test_hcp_opens_a_demo_video_in_the_player(phone: Any) -> None:
    sign_in(phone, "hcp")
    _open_first(phone, "video")
    player = phone.get_by_test_id("video-player")

    expect(player).to_be_visible()
    # The browser read the clip's metadata through the streaming route.
    phone.wait_for_function("document.querySelector('[data-testid=video-player]').readyState >= 1")
    duration = player.evaluate("v => v.duration")
    assert 1 <= duration <= 3
    assert "/thumbnail.png?v=" in player.evaluate("v => v.poster")
    _no_sideways_scroll(phone)
    screenshot(phone, "media-video-player-phone")
    assert phone.js_errors == []
