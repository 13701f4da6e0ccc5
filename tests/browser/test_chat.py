"""The chat journey through the real page, two people at once: the HCP writes, the MSL sees it
live and answers, both see read marks and typing, markup stays text, the HCP ends the chat."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_page, screenshot, sign_in

MSL_NAME = "Dr. Morgan Liaison"
HCP_NAME = "Dr. Harper Cole"


@pytest.fixture
def other_page(browser: Any, live_server: str) -> Iterator[Any]:
    """A second browser (its own cookies): the other person in the conversation."""
    context, new_page = open_page(browser, live_server)
    yield new_page
    context.close()


def _open_chat_with_msl(page: Any) -> str:
    """The HCP's conversation with the MSL: the demo's, or one started on "My team"."""
    page.goto("/chat/")
    existing = page.locator("[data-testid=conversation]", has_text=MSL_NAME)
    if existing.count():
        existing.first.click()
    if not existing.count() or page.get_by_test_id("chat-pane").get_attribute("data-state") != (
        "active"
    ):
        page.goto("/chat/team")
        member = page.locator("[data-testid=member]", has_text=MSL_NAME)
        expect(member.get_by_test_id("consent-wording")).to_be_visible()
        screenshot(page, "chat-team")
        member.locator("input[name=consent]").check()
        member.locator("button[type=submit]").click()
    expect(page.get_by_test_id("chat-pane")).to_have_attribute("data-state", "active")
    match = re.search(r"conversation=(\d+)", page.url)
    assert match is not None, page.url
    return match.group(1)


def _live(page: Any) -> None:
    expect(page.get_by_test_id("chat-pane")).to_have_attribute("data-live", "yes")


def test_hcp_and_msl_chat_live_and_the_hcp_ends_it(page: Any, other_page: Any) -> None:
    hcp, msl = page, other_page
    sign_in(hcp, "hcp")
    conversation_id = _open_chat_with_msl(hcp)
    _live(hcp)

    sign_in(msl, "msl")
    msl.goto(f"/chat/?conversation={conversation_id}")
    _live(msl)
    expect(msl.get_by_test_id("end-chat")).to_have_count(0)

    # The HCP types: the MSL sees it. Markup is shown as text, never run or rendered.
    text = "Hello from the browser journey <b>x</b> <img src=x onerror=alert(1)>"
    hcp.get_by_test_id("chat-input").fill(text[:10])
    expect(msl.get_by_test_id("typing")).to_contain_text(f"{HCP_NAME} is typing")
    hcp.get_by_test_id("chat-input").fill(text)
    hcp.get_by_test_id("chat-input").press("Enter")
    expect(hcp.get_by_test_id("chat-input")).to_have_value("")

    mine = hcp.locator(".chat-msg.mine", has_text="Hello from the browser journey").last
    received = msl.locator(".chat-msg.theirs", has_text="Hello from the browser journey").last
    expect(received.get_by_test_id("message-body")).to_have_text(text)
    expect(msl.locator("#chat-message-list b, #chat-message-list img")).to_have_count(0)
    expect(msl.get_by_test_id("typing")).to_have_text("")
    # The MSL's page is on screen, so the HCP's message turns "read".
    expect(mine.get_by_test_id("mark")).to_have_attribute("data-mark", "read")

    # The MSL answers (Shift+Enter makes a new line); the HCP sees it live and reads it.
    box = msl.get_by_test_id("chat-input")
    box.fill("Thank you, Dr. Cole.")
    box.press("Shift+Enter")
    box.type("Here is what the study says.")
    box.press("Enter")
    reply = hcp.locator(".chat-msg.theirs", has_text="Here is what the study says.").last
    expect(reply.get_by_test_id("message-body")).to_have_text(
        "Thank you, Dr. Cole.\nHere is what the study says."
    )
    answer = msl.locator(".chat-msg.mine", has_text="Here is what the study says.").last
    expect(answer.get_by_test_id("mark")).to_have_attribute("data-mark", "read")
    expect(hcp.locator("#chat-message-list [data-testid=message]")).to_have_count(
        msl.locator("#chat-message-list [data-testid=message]").count()
    )

    # A side effect the HCP mentions: the MSL is reminded of the PV case; the HCP sees no banner.
    hcp.get_by_test_id("chat-input").fill("My patient developed a rash after starting Cardiovex.")
    hcp.get_by_test_id("chat-input").press("Enter")
    flagged = msl.locator(".chat-msg.theirs", has_text="developed a rash").last
    expect(flagged.get_by_test_id("ae-banner")).to_contain_text("a PV case was opened")
    expect(hcp.get_by_test_id("ae-banner")).to_have_count(0)

    # The MSL shares an approved material: the HCP gets a card linking to the library.
    picker = msl.locator("#chat-material")
    if picker.locator("option").count() > 1:
        title = picker.locator("option").nth(1).inner_text()
        picker.select_option(index=1)
        msl.locator("#chat-share").click()
        card = hcp.get_by_test_id("material-card").filter(has_text=title).last
        expect(card.locator("a")).to_have_attribute("href", re.compile(r"^/library/"))
    screenshot(hcp, "chat-hcp")
    screenshot(msl, "chat-msl")

    # The HCP ends the chat in one click: the MSL's composer closes at once, with the notice.
    hcp.get_by_test_id("end-chat").locator("button").click()
    expect(hcp.locator(".alert-success")).to_contain_text(f"You ended the chat with {MSL_NAME}")
    expect(hcp.get_by_test_id("state-notice")).to_contain_text("Chat again")
    expect(hcp.get_by_test_id("end-chat")).to_be_hidden()
    expect(hcp.get_by_test_id("chat-input")).to_be_disabled()
    expect(msl.get_by_test_id("state-notice")).to_contain_text(f"{HCP_NAME} ended this chat")
    expect(msl.get_by_test_id("chat-input")).to_be_disabled()
    expect(msl.get_by_test_id("send")).to_be_disabled()
    screenshot(hcp, "chat-hcp-ended")
    screenshot(msl, "chat-msl-ended")

    # After a reload the history is all there, once, in order.
    msl.reload()
    seqs = [
        int(s)
        for s in msl.locator("[data-testid=message][data-seq]").evaluate_all(
            "items => items.map(i => i.dataset.seq)"
        )
    ]
    assert seqs == sorted(set(seqs))
    assert hcp.js_errors == [] and msl.js_errors == []


# The page's socket, wrapped before the page's script runs: a live `message` whose text contains
# "[lost]" never reaches the page (as when a process's message queue was away), and
# window.chatResync() plays the server's `resync`.
LOSSY_SOCKET = """
(() => {
  let wrapped;
  Object.defineProperty(window, "io", {
    configurable: true,
    get() { return wrapped; },
    set(io) {
      wrapped = (...args) => {
        const socket = io(...args);
        const on = socket.on.bind(socket);
        socket.on = (event, handler) => on(event, event !== "message" ? handler : (m) => {
          if (!(m && String(m.body).includes("[lost]"))) { handler(m); }
        });
        window.chatResync = () => {
          socket.listeners("resync").forEach((handler) => handler({ reason: "test" }));
        };
        return socket;
      };
    },
  });
})();
"""


def test_the_page_fetches_lost_live_messages_and_shows_them_in_order(
    page: Any, other_page: Any
) -> None:
    hcp, msl = page, other_page
    hcp.add_init_script(LOSSY_SOCKET)
    sign_in(hcp, "hcp")
    conversation_id = _open_chat_with_msl(hcp)
    _live(hcp)
    sign_in(msl, "msl")
    msl.goto(f"/chat/?conversation={conversation_id}")
    _live(msl)
    run = uuid.uuid4().hex[:6]
    bodies = hcp.locator("#chat-message-list [data-testid=message-body]")

    def say(who: Any, text: str) -> None:
        who.get_by_test_id("chat-input").fill(f"{text} {run}")
        who.get_by_test_id("chat-input").press("Enter")
        expect(who.locator(".chat-msg.mine", has_text=f"{text} {run}")).to_have_count(1)

    def shown() -> list[str]:
        return [t for t in bodies.all_inner_texts() if t.endswith(run)]

    # A lost live message behind one that arrives: the hole is fetched, in its place.
    say(msl, "one [lost]")
    say(msl, "two")
    expect(bodies.filter(has_text=f"one [lost] {run}")).to_have_count(1)
    assert shown() == [f"one [lost] {run}", f"two {run}"]

    # The ack of the HCP's own message (its live copy lost too) shows a hole as well.
    say(msl, "three [lost]")
    say(hcp, "four [lost]")
    expect(bodies.filter(has_text=f"three [lost] {run}")).to_have_count(1)

    # A lost message and then quiet: only the server's `resync` brings it.
    say(msl, "five [lost]")
    hcp.wait_for_timeout(2000)  # longer than the page's wait for a hole
    expect(bodies.filter(has_text=f"five [lost] {run}")).to_have_count(0)
    hcp.evaluate("window.chatResync()")
    expect(bodies.filter(has_text=f"five [lost] {run}")).to_have_count(1)
    assert shown() == [
        f"{n} {run}" for n in ("one [lost]", "two", "three [lost]", "four [lost]", "five [lost]")
    ]
    seqs = [
        int(s)
        for s in hcp.locator("#chat-message-list [data-seq]").evaluate_all(
            "items => items.map((item) => item.getAttribute('data-seq'))"
        )
    ]
    assert seqs == sorted(set(seqs))
    assert hcp.js_errors == []
