"""The web client's ``draft/multiline``: a pasted (or Shift+Enter) block of lines sent as one
batch, shown as one message with its line breaks, live and from history; separate lines for
clients (and servers) without the capability; the server's limits respected."""

from __future__ import annotations

import dataclasses
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

BLOCK = "first line of the paste\nsecond line\nthird, the last"


async def tcp_client(app: App, nick: str, caps: str) -> IRCTestClient:
    """A TCP client in #hubbub with these capabilities."""
    client = await IRCTestClient.connect(*app.address("irc"))
    await client.register(nick, caps)
    await client.send("JOIN #hubbub")
    await client.expect("366")
    return client


async def paste(user: WebUser, text: str) -> None:
    """Put ``text`` on the clipboard and paste it (Ctrl+V) into the message box."""
    await user.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await user.page.evaluate("text => navigator.clipboard.writeText(text)", text)
    await user.page.focus("#input")
    await user.page.keyboard.press("Control+V")


def message_text(user: WebUser, text: str) -> Any:
    """The ``.text`` of the one line in #hubbub that contains ``text``."""
    return user.lines("#hubbub", text).locator(".text")


async def shown(user: WebUser, text: str) -> str:
    """The exact text (line breaks kept: ``to_have_text`` would fold them into spaces) of the
    one message in #hubbub that contains ``text``."""
    line = user.lines("#hubbub", text)
    await expect(line).to_have_count(1)
    return str(await line.locator(".text").evaluate("e => e.textContent"))


async def test_pasted_block_goes_as_one_batch_and_is_shown_as_one_message(
    browser: Browser, web_app: App
) -> None:
    url = web_url(web_app)
    dave = await tcp_client(web_app, "dave", "draft/multiline batch message-tags server-time")
    carol = await tcp_client(web_app, "carol", "")
    alice = await WebUser.open(browser, url)
    bob = await WebUser.open(browser, url)
    await alice.login("alice")
    await bob.login("bob")

    await paste(alice, BLOCK)
    await expect(alice.page.locator("#input")).to_have_value(BLOCK)
    await expect(alice.page.locator("#input")).to_have_attribute("rows", "3")  # it grew
    await alice.page.press("#input", "Enter")
    await expect(alice.page.locator("#input")).to_have_value("")
    await expect(alice.page.locator("#input")).to_have_attribute("rows", "1")

    # A client with the capability gets one batch: three lines in it, one msgid.
    seen = await dave.collect_until(lambda m: m.command == "BATCH" and m.params[0].startswith("-"))
    start = next(m for m in seen if m.command == "BATCH" and m.params[0].startswith("+"))
    assert start.params[1:] == ("draft/multiline", "#hubbub")
    assert "msgid" in start.tags
    lines = [m for m in seen if m.command == "PRIVMSG"]
    assert [m.params[1] for m in lines] == BLOCK.split("\n")
    assert all(m.tags.get("batch") == start.params[0][1:] for m in lines)

    # One without it gets three PRIVMSGs.
    separate = [await carol.expect("PRIVMSG") for _ in range(3)]
    assert [m.params for m in separate] == [("#hubbub", t) for t in BLOCK.split("\n")]

    # Both browsers (alice's own by echo-message) show one message with its three lines.
    for user in (alice, bob):
        await expect(user.lines("#hubbub", "first line of the paste")).to_have_count(1)
        assert await shown(user, "first line of the paste") == BLOCK
        text = message_text(user, "first line of the paste")
        box = await text.bounding_box()
        assert box is not None
        assert box["height"] > 40  # drawn on three lines, not one
    await expect(bob.lines("#hubbub", "second line")).to_have_count(1)  # (the same one)
    assert not alice.errors, alice.errors
    assert not bob.errors, bob.errors
    for user in (alice, bob):
        await user.close()
    await dave.close()
    await carol.close()


async def test_shift_enter_makes_lines_and_a_received_batch_joins_concatenated_lines(
    browser: Browser, web_app: App
) -> None:
    dave = await tcp_client(web_app, "dave", "draft/multiline batch message-tags echo-message")
    alice = await WebUser.open(browser, web_url(web_app))
    await alice.login("alice")

    await alice.page.focus("#input")
    await alice.page.keyboard.type("typed one")
    await alice.page.keyboard.press("Shift+Enter")
    await alice.page.keyboard.type("typed two")
    await expect(alice.page.locator("#input")).to_have_value("typed one\ntyped two")
    await alice.page.keyboard.press("Enter")
    seen = await dave.collect_until(lambda m: m.command == "BATCH" and m.params[0].startswith("-"))
    assert [m.params[1] for m in seen if m.command == "PRIVMSG"] == ["typed one", "typed two"]
    assert await shown(alice, "typed one") == "typed one\ntyped two"

    # dave sends a batch with a concatenated line: joined without a break.
    await dave.send(
        "BATCH +d1 draft/multiline #hubbub",
        "@batch=d1 PRIVMSG #hubbub :a line, ",
        "@batch=d1;draft/multiline-concat PRIVMSG #hubbub :continued",
        "@batch=d1 PRIVMSG #hubbub :and a new one",
        "BATCH -d1",
    )
    await dave.expect(lambda m: m.command == "BATCH" and m.params[0].startswith("-"))
    assert await shown(alice, "a line, ") == "a line, continued\nand a new one"

    # Formatting left open at the end of a line stops there, as for lines of their own.
    await dave.send(
        "BATCH +d2 draft/multiline #hubbub",
        "@batch=d2 PRIVMSG #hubbub :\x02bold start",
        "@batch=d2 PRIVMSG #hubbub :plain second",
        "BATCH -d2",
    )
    await dave.expect(lambda m: m.command == "BATCH" and m.params[0].startswith("-"))
    assert await shown(alice, "bold start") == "bold start\nplain second"
    bold = alice.lines("#hubbub", "bold start").locator(".irc-b")
    await expect(bold).to_have_count(1)
    await expect(bold).to_have_text("bold start")

    # From history: a newcomer sees both as messages of their own lines.
    late = await WebUser.open(browser, web_url(web_app))
    await late.login("late")
    assert await shown(late, "typed one") == "typed one\ntyped two"
    assert await shown(late, "a line, ") == "a line, continued\nand a new one"
    await expect(late.lines("#hubbub", "and a new one")).to_have_count(1)
    assert not alice.errors, alice.errors
    assert not late.errors, late.errors
    await alice.close()
    await late.close()
    await dave.close()


async def test_without_the_capability_the_lines_go_separately(
    browser: Browser, web_app: App
) -> None:
    carol = await tcp_client(web_app, "carol", "draft/multiline batch message-tags")
    alice = await WebUser.open(browser, web_url(web_app))
    await alice.login("alice")
    # As if the server did not offer it (CAP DEL): what a server without it gets.
    await alice.page.evaluate("window.hubbub.state.caps.delete('draft/multiline')")
    await paste(alice, BLOCK)
    await alice.page.press("#input", "Enter")
    got = [await carol.expect("PRIVMSG") for _ in range(3)]
    assert [m.params[1] for m in got] == BLOCK.split("\n")
    assert all("batch" not in m.tags for m in got)
    for text in BLOCK.split("\n"):
        await expect(alice.lines("#hubbub", text)).to_have_count(1)
    await expect(alice.lines("#hubbub")).to_have_count(4)  # (the join, then the three lines)
    await alice.close()
    await carol.close()


async def test_a_block_beyond_the_servers_limits_is_refused_with_a_reason(
    browser: Browser, app_factory: Callable[[Any], Any], tmp_path: Path
) -> None:
    config = make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", websocket=True),
        ),
        multiline_max_lines=3,
        multiline_max_bytes=60,
    )
    config = dataclasses.replace(config, storage=StorageSection(path=str(tmp_path / "m.db")))
    app: App = await app_factory(config)
    carol = await tcp_client(app, "carol", "")
    alice = await WebUser.open(browser, web_url(app))
    await alice.login("alice")

    four = "one\ntwo\nthree\nfour"
    await paste(alice, four)
    await alice.page.press("#input", "Enter")
    await expect(alice.lines("#hubbub", "Not sent").locator(".text")).to_have_text(
        "Not sent: this message is too long (4 lines, and this server takes at most 3 in one"
        " message). Shorten it, or send it in parts."
    )
    await expect(alice.page.locator("#input")).to_have_value(four)  # kept, to be shortened

    await alice.page.fill("#input", "x" * 40 + "\n" + "y" * 40)
    await alice.page.press("#input", "Enter")
    await expect(alice.lines("#hubbub", "81 bytes")).to_have_count(1)

    await alice.page.fill("#input", "short\nenough")
    await alice.page.press("#input", "Enter")
    first = await carol.expect("PRIVMSG")
    assert first.params[1] == "short"  # the refused ones were never sent
    second: Message = await carol.expect("PRIVMSG")
    assert second.params[1] == "enough"
    await alice.close()
    await carol.close()
