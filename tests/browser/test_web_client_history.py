"""The web client's history features against a real hubbub (which keeps history by default):
missed messages after closing the page or losing the connection, the "new messages" line,
scrolling back, read markers shared by two connections of one account, and a page reload."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, expect

from hubbub.config import ListenSection, StorageSection
from hubbub.net.app import App
from hubbub.protocol.message import Message
from tests.browser.conftest import WebUser, web_url
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient


def joined(channel: str) -> Callable[[Message], bool]:
    """Matches the end of NAMES of a channel (the JOIN is done)."""
    return lambda m: m.command == "366" and m.params[1] == channel


async def speaker(app: App, nick: str = "carol", channels: str = "#hubbub") -> IRCTestClient:
    """A TCP client in the channels whose messages, echoed, are in history when said()."""
    client = await IRCTestClient.connect(*app.address("irc"))
    await client.register(nick, "echo-message message-tags batch server-time")
    for channel in channels.split():
        await client.send(f"JOIN {channel}")
        await client.expect(joined(channel))
    return client


async def said(client: IRCTestClient, target: str, *texts: str) -> None:
    """Say each text and wait for its echo: then it is stored (the echo waits for the disk)."""
    for text in texts:
        await client.send(f"PRIVMSG {target} :{text}")
    last = texts[-1]
    await client.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == last)


async def just_above(user: WebUser, name: str, text: str) -> str:
    """The class of the element just above the line with ``text`` (the "new messages" line
    should be there)."""
    line = user.lines(name, text)
    await expect(line).to_have_count(1)
    return str(
        await line.evaluate(
            "e => e.previousElementSibling ? e.previousElementSibling.className : ''"
        )
    )


async def test_reopened_page_shows_what_was_missed_below_a_new_messages_line(
    browser: Browser, web_app: App
) -> None:
    url = web_url(web_app)
    carol = await speaker(web_app)
    alice = await WebUser.open(browser, url)
    await alice.login("alice")
    await said(carol, "#hubbub", "seen before closing")
    await expect(alice.lines("#hubbub", "seen before closing")).to_have_count(1)
    await alice.wait_until_read("#hubbub")
    await alice.page.close()  # the tab is closed: alice quits
    await carol.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("alice!"))

    await said(carol, "#hubbub", "missed one", "missed two")
    back = await alice.another_page(url)  # a new tab: no form, the same nick and channel
    await expect(back.page.locator("#status")).to_have_class("status online")
    await expect(back.page.locator("#login")).to_be_hidden()
    await expect(back.page.locator("#buffer-name")).to_have_text("#hubbub")
    for text in ("seen before closing", "missed one", "missed two"):
        await expect(back.lines("#hubbub", text)).to_have_count(1)
    # The line is just above the first message that came while the page was closed.
    assert "unread-line" in await just_above(back, "#hubbub", "missed one")
    await expect(back.log("#hubbub").locator(".unread-line")).to_have_count(1)
    await expect(back.log("#hubbub").locator(".unread-line")).to_have_text("New messages")
    await expect(back.page.locator("#my-nick")).to_have_text("alice")
    assert not back.errors, back.errors
    await back.close()
    await carol.close()


async def test_reconnect_fetches_what_was_missed_once(browser: Browser, web_app: App) -> None:
    carol = await speaker(web_app)
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("bouncy")
    await said(carol, "#hubbub", "before the cut")
    await expect(user.lines("#hubbub", "before the cut")).to_have_count(1)
    await user.wait_until_read("#hubbub")

    session = next(s for s in web_app.server.sessions if s.user.nick == "bouncy")
    web_app.server.quit(session, "Killed for the test", error="Killed for the test")
    await carol.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("bouncy!"))
    await said(carol, "#hubbub", "while you were away", "and this too")
    await carol.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bouncy!"))
    await expect(user.page.locator("#status")).to_have_class("status online")

    for text in ("before the cut", "while you were away", "and this too"):
        await expect(user.lines("#hubbub", text)).to_have_count(1)  # fetched, and only once
    assert "unread-line" in await just_above(user, "#hubbub", "while you were away")
    # In time order: the missed lines come before the "You joined" of the reconnection.
    texts = await user.lines("#hubbub").locator(".text").all_text_contents()
    assert texts.index("while you were away") < texts.index("and this too") < len(texts) - 1
    await said(carol, "#hubbub", "live again")
    await expect(user.lines("#hubbub", "live again")).to_have_count(1)
    assert not user.errors, user.errors
    await user.close()
    await carol.close()


async def test_scrolling_to_the_top_loads_older_messages(browser: Browser, web_app: App) -> None:
    carol = await speaker(web_app)
    await said(carol, "#hubbub", *(f"line {i:03}" for i in range(120)))
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("reader")
    page = user.page
    chat = user.log("#hubbub").locator(".msg.said")
    await expect(chat).to_have_count(50)  # the latest page
    await expect(chat.first).to_have_text(re.compile("line 070"))
    await expect(user.lines("#hubbub", "line 119")).to_be_in_viewport()

    async def scroll_to_top() -> None:
        await page.evaluate(
            "() => { const box = document.getElementById('messages'); box.scrollTop = 0;"
            " box.dispatchEvent(new Event('scroll')); }"
        )

    top_line = user.lines("#hubbub", "line 070")
    await scroll_to_top()
    await expect(chat).to_have_count(100)
    # The position is kept: the line that was at the top is still in view, the older ones above.
    await expect(top_line).to_be_in_viewport()
    await expect(user.lines("#hubbub", "line 020")).not_to_be_in_viewport()
    scroll_top = await page.evaluate("document.getElementById('messages').scrollTop")
    assert scroll_top > 0

    await scroll_to_top()
    await expect(chat).to_have_count(120)  # as far back as the server keeps
    await expect(chat.first).to_have_text(re.compile("line 000"))
    texts = await chat.locator(".text").all_text_contents()
    assert texts == [f"line {i:03}" for i in range(120)]  # in order, once each
    # Nothing older: scrolling up again asks for nothing more.
    assert await page.evaluate("window.hubbub.state.buffers.get('#hubbub').historyExhausted")
    assert not user.errors, user.errors
    await user.close()
    await carol.close()


async def test_two_connections_of_one_account_share_read_state(
    browser: Browser, web_app: App
) -> None:
    owner = await IRCTestClient.connect(*web_app.address("irc"))
    await owner.register("ada")
    await owner.send("REGISTER * * hunter2hunter2")
    await owner.expect("900")
    await owner.close()
    carol = await speaker(web_app, channels="#hubbub #other")
    url = web_url(web_app)

    async def signed_in(nick: str) -> WebUser:
        user = await WebUser.open(browser, url)
        await user.page.click("#auth summary")
        await user.page.fill("#sasl-user", "ada")
        await user.page.fill("#sasl-pass", "hunter2hunter2")
        await user.login(nick, "#hubbub #other")
        return user

    laptop = await signed_in("ada")
    phone = await signed_in("ada_phone")
    await laptop.open_buffer("#hubbub")
    await phone.open_buffer("#other")

    # A message in #hubbub: unread on the phone (looking at #other) until the laptop, which
    # shows #hubbub, has read it.
    await said(carol, "#hubbub", "news for ada")
    await expect(laptop.lines("#hubbub", "news for ada")).to_have_count(1)
    await laptop.wait_until_read("#hubbub")
    await expect(phone.lines("#hubbub", "news for ada")).to_have_count(1)
    await expect(phone.buffer_item("#hubbub").locator(".unread")).to_have_count(0)

    # While the laptop is hidden, two more: unread on both; after the phone reloads, its
    # counts come from the marker (the server's, shared by the account).
    await laptop.set_hidden(True)
    await said(carol, "#hubbub", "one more", "and another")
    await expect(laptop.buffer_item("#hubbub").locator(".unread")).to_have_text("2")
    await expect(phone.buffer_item("#hubbub").locator(".unread")).to_have_text("2")
    await phone.page.reload()
    await expect(phone.page.locator("#status")).to_have_class("status online")
    await expect(phone.page.locator("#buffer-name")).to_have_text("#other")
    await expect(phone.lines("#hubbub", "and another")).to_have_count(1)
    await expect(phone.buffer_item("#hubbub").locator(".unread")).to_have_text("2")

    # The phone reads them: the laptop's count goes.
    await phone.open_buffer("#hubbub")
    await phone.wait_until_read("#hubbub")
    await expect(laptop.buffer_item("#hubbub").locator(".unread")).to_have_count(0)
    for user in (laptop, phone):
        assert not user.errors, user.errors
        await user.close()
    await carol.close()


async def test_reload_keeps_conversations_and_the_account(browser: Browser, web_app: App) -> None:
    """Registering from the page, then a reload: the same channels, the same private
    conversation in view, logged in again with SASL; the password never in localStorage."""
    bob = await speaker(web_app, "bob", "#dev")
    user = await WebUser.open(browser, web_url(web_app))
    page = user.page
    await page.click("#auth summary")
    await page.fill("#sasl-user", "zoe")
    await page.fill("#sasl-pass", "correct horse battery")
    await page.check("#sasl-register")
    await page.fill("#sasl-email", "zoe@example.org")
    await user.login("zoe", "#hubbub #dev")
    await expect(user.lines("*server*", "Account zoe created")).to_have_count(1)
    await said(bob, "zoe", "psst, zoe")
    await expect(user.lines("bob", "psst, zoe")).to_have_count(1)
    await user.open_buffer("bob")
    await user.say("hello bob")
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "hello bob")

    stored = await page.evaluate("JSON.stringify(localStorage)")
    assert "correct horse battery" not in stored
    assert "zoe" in stored

    await page.reload()
    await expect(page.locator("#login")).to_be_hidden()
    await expect(page.locator("#status")).to_have_class("status online")
    await expect(page.locator("#buffer-name")).to_have_text("bob")
    for name in ("#hubbub", "#dev", "bob"):
        await expect(user.buffer_item(name)).to_have_count(1)
    await expect(user.buffer_item("#dev")).not_to_have_class(re.compile("parted"))
    # The private conversation is back from the server's history (kept for the account).
    await expect(user.lines("bob", "psst, zoe")).to_have_count(1)
    await expect(user.lines("bob", "hello bob")).to_have_count(1)
    session = next(s for s in web_app.server.sessions if s.user.nick == "zoe")
    assert session.user.account == "zoe"

    # Signing out forgets it all: a reload shows the form, and no password is kept.
    await page.click("#signout-button")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#nick")).to_have_value("zoe")
    assert await page.evaluate("sessionStorage.length") == 0
    assert not user.errors, user.errors
    await user.close()
    await bob.close()


async def test_more_missed_than_the_catch_up_bound_leaves_a_line_that_loads_the_rest(
    browser: Browser, app_factory: Callable[[Any], Any], tmp_path: Path
) -> None:
    # Pages of 5 lines (the server's CHATHISTORY limit): the bound is 10 pages, 50 lines.
    config = make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", websocket=True),
        )
    )
    config = dataclasses.replace(
        config,
        storage=StorageSection(path=str(tmp_path / "catchup.db")),
        history=dataclasses.replace(config.history, request_limit=5),
    )
    app: App = await app_factory(config)
    carol = await speaker(app)
    user = await WebUser.open(browser, web_url(app))
    await user.login("bouncy")
    await said(carol, "#hubbub", "before the cut")
    await expect(user.lines("#hubbub", "before the cut")).to_have_count(1)

    session = next(s for s in app.server.sessions if s.user.nick == "bouncy")
    app.server.quit(session, "Killed for the test", error="Killed for the test")
    await carol.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("bouncy!"))
    missed = [f"missed {i:03}" for i in range(70)]
    await said(carol, "#hubbub", *missed)
    await carol.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bouncy!"))
    await expect(user.page.locator("#status")).to_have_class("status online")

    # The newest 50 are fetched; the 20 before them are not, and a line says so, in their place.
    await expect(user.lines("#hubbub", "missed 069")).to_have_count(1)
    await expect(user.lines("#hubbub", "missed 020")).to_have_count(1)
    gap = user.log("#hubbub").locator(".gap.missed")
    await expect(gap).to_have_count(1)
    await expect(gap).to_have_text("More messages were missed while you were away. Load them")
    await expect(user.lines("#hubbub", "missed 019")).to_have_count(0)
    order = await user.log("#hubbub").evaluate(
        """log => [...log.children].map(e => e.classList.contains("gap") ? "GAP"
               : (e.querySelector(".text") || e).textContent)"""
    )
    assert order.index("before the cut") < order.index("GAP") < order.index("missed 020")

    # A click loads the rest (AFTER the last line seen before the cut), in order, once each.
    await gap.get_by_role("button", name="Load them").click()
    await expect(user.lines("#hubbub", "missed 000")).to_have_count(1)
    await expect(user.log("#hubbub").locator(".gap")).to_have_count(0)
    chat = user.log("#hubbub").locator(".msg.said .text")
    await expect(chat).to_have_count(71)
    assert await chat.all_text_contents() == ["before the cut", *missed]
    assert not user.errors, user.errors
    await user.close()
    await carol.close()
