"""The web client against a real hubbub: search and jumping to a result, browser
notifications while the page is hidden (with the title's count), and typing notifications."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from hubbub.net.app import App
from tests.browser.conftest import DESKTOP, WebUser, web_url
from tests.browser.test_web_client_history import said, speaker
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT

RECORD_NOTIFICATIONS = """
window.__notes = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.__notes.push({ title, body: (options || {}).body || "" });
  }
};
"""
"""Keeps what the page shows as notifications (the real ones are made too)."""


async def test_search_finds_a_message_and_shows_it_in_context(
    browser: Browser, web_app: App
) -> None:
    carol = await speaker(web_app, channels="#hubbub #other")
    lines = [f"chatter {i:03}" for i in range(150)]
    lines[20] = "the release needle is in this haystack"
    await said(carol, "#hubbub", *lines)
    await said(carol, "#other", "another needle, elsewhere")
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("finder", "#hubbub #other")
    await user.open_buffer("#hubbub")
    page = user.page
    await expect(user.lines("#hubbub", "chatter 149")).to_have_count(1)
    await expect(user.lines("#hubbub", "needle")).to_have_count(0)  # too old to be shown yet

    # Here (#hubbub) only.
    await expect(page.locator("#search-form")).to_be_visible()
    await page.fill("#search-input", "needle")
    await page.press("#search-input", "Enter")
    results = page.locator("#search-results .result")
    await expect(results).to_have_count(1)
    await expect(page.locator("#search-title")).to_have_text("1 result for “needle” in #hubbub")
    await expect(results.first.locator(".result-where")).to_have_text("#hubbub")
    await expect(results.first.locator(".text")).to_have_text(
        "the release needle is in this haystack"
    )

    # A click: the conversation, scrolled to the message, highlighted, with its context.
    await results.first.locator("button").click()
    await expect(page.locator("#search-panel")).to_be_hidden()
    found = user.log("#hubbub").locator(".msg.found")
    await expect(found).to_have_count(1)
    await expect(found.locator(".text")).to_have_text("the release needle is in this haystack")
    await expect(found).to_be_in_viewport()
    await expect(user.lines("#hubbub", "chatter 019")).to_have_count(1)
    await expect(user.lines("#hubbub", "chatter 021")).to_have_count(1)
    texts = await user.log("#hubbub").locator(".msg.said .text").all_text_contents()
    assert texts == sorted(set(texts), key=texts.index), "no line twice"
    numbered = [t for t in texts if t.startswith("chatter")]
    assert numbered == sorted(numbered), "in order"

    # Everywhere, words in any case.
    await page.select_option("#search-scope", "all")
    await page.fill("#search-input", "NEEDLE")
    await page.press("#search-input", "Enter")
    await expect(results).to_have_count(2)
    await expect(results.locator(".result-where")).to_have_text(
        ["#other", "#hubbub"]
    )  # newest first
    await results.first.locator("button").click()
    await expect(page.locator("#buffer-name")).to_have_text("#other")
    await expect(user.log("#other").locator(".msg.found")).to_have_count(1)

    # Nothing found, said so.
    await page.fill("#search-input", "absent")
    await page.press("#search-input", "Enter")
    await expect(page.locator("#search-title")).to_have_text("No results for “absent”")
    await page.click("#search-close")
    await expect(page.locator("#messages")).to_be_visible()
    assert not user.errors, user.errors
    await user.close()
    await carol.close()


async def test_notifications_for_mentions_and_private_messages_while_hidden(
    browser: Browser, web_app: App
) -> None:
    carol = await speaker(web_app)
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    await context.grant_permissions(["notifications"])
    await context.add_init_script(RECORD_NOTIFICATIONS)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT * 1000)
    user = WebUser(context, page)
    await page.goto(web_url(web_app))
    await user.login("alice")
    await expect(page.locator("#notify")).to_be_checked()

    # Visible: no notification, even for a mention.
    await said(carol, "#hubbub", "alice: you are here")
    await expect(user.lines("#hubbub", "you are here")).to_have_count(1)
    assert await page.evaluate("window.__notes.length") == 0

    await user.set_hidden(True)
    await said(carol, "#hubbub", "just chatting", "alice, are you there?")
    await expect(user.lines("#hubbub", "are you there")).to_have_count(1)
    await said(carol, "alice", "a private word")
    await expect(user.lines("carol", "a private word")).to_have_count(1)
    notes = await page.evaluate("window.__notes")
    assert notes == [
        {"title": "carol in #hubbub", "body": "alice, are you there?"},
        {"title": "carol", "body": "a private word"},
    ]
    # The title counts them (the plain message is unread, but not counted there).
    await expect(page).to_have_title(re.compile(r"^\(2\) hubbub"))
    await expect(user.buffer_item("#hubbub").locator(".unread")).to_have_text("2")

    # Back to the page: the conversation in view is read, the title says what is left.
    await user.set_hidden(False)
    await expect(user.buffer_item("#hubbub").locator(".unread")).to_have_count(0)
    await expect(page).to_have_title(re.compile(r"^\(1\) hubbub"))

    # The setting turns them off.
    await page.uncheck("#notify")
    await user.set_hidden(True)
    await said(carol, "#hubbub", "alice: and now?")
    await expect(user.lines("#hubbub", "and now?")).to_have_count(1)
    assert await page.evaluate("window.__notes.length") == 2
    assert not user.errors, user.errors
    await user.close()
    await carol.close()


async def test_typing_is_shown_and_sent(browser: Browser, web_app: App) -> None:
    url = web_url(web_app)
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol", "message-tags")
    await carol.send("JOIN #hubbub")
    await carol.expect("366")
    alice = await WebUser.open(browser, url)
    bob = await WebUser.open(browser, url)
    await alice.login("alice")
    await bob.login("bob")
    await carol.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!"))

    # Bob types: alice sees it, carol gets one active (the next may come only 3 s later).
    await bob.page.locator("#input").press_sequentially("hel")
    await expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    await bob.page.locator("#input").press_sequentially("lo")
    await bob.page.press("#input", "Enter")
    got = await carol.collect_until(lambda m: m.command == "PRIVMSG")
    typing = [m.tags.get("+typing") for m in got if m.command == "TAGMSG"]
    assert typing == ["active"], got
    assert got[-1].params == ("#hubbub", "hello")
    # The message ends it.
    await expect(alice.page.locator("#typing")).to_have_text("")

    # Someone else types, then gives up (done): shown, then not.
    await carol.send("@+typing=active TAGMSG #hubbub")
    await expect(bob.page.locator("#typing")).to_have_text("carol is typing…")
    await expect(alice.page.locator("#typing")).to_have_text("carol is typing…")
    await carol.send("@+typing=done TAGMSG #hubbub")
    await expect(bob.page.locator("#typing")).to_have_text("")

    # In a private conversation (its own 3 s): typed, then erased without sending: done,
    # once the 3 s since the active have passed.
    await bob.say("/query carol")
    await expect(bob.page.locator("#buffer-name")).to_have_text("carol")
    await bob.page.locator("#input").press_sequentially("oops")
    await bob.page.locator("#input").press("Control+a")
    await bob.page.locator("#input").press("Backspace")
    states = []
    while "done" not in states:
        msg = await carol.expect("TAGMSG", timeout=TIMEOUT)
        assert msg.params == ("carol",), msg
        states.append(msg.tags.get("+typing"))
    assert states == ["active", "done"], states
    await bob.open_buffer("#hubbub")

    # Turned off: nothing is sent, though still shown from others.
    await bob.page.uncheck("#send-typing")
    await bob.page.locator("#input").press_sequentially("quiet now")
    await bob.page.press("#input", "Enter")
    got = await carol.collect_until(lambda m: m.command == "PRIVMSG")
    assert [m for m in got if m.command == "TAGMSG"] == [], got
    await carol.send("@+typing=active TAGMSG #hubbub")
    await expect(bob.page.locator("#typing")).to_have_text("carol is typing…")
    for user in (alice, bob):
        assert not user.errors, user.errors
        await user.close()
    await carol.close()
