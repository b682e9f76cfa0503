"""Tab completion in the web client's input box: nicks, channels, commands, and the focus."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from hubbub.net.app import App
from tests.browser.conftest import WebUser, web_url
from tests.e2e.ircclient import IRCTestClient


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement ? document.activeElement.id : ''"))


async def type_and_tab(page: Page, text: str, tabs: int = 1) -> None:
    await page.fill("#input", text)
    for _ in range(tabs):
        await page.press("#input", "Tab")


async def test_tab_completes_nicks_channels_and_commands(browser: Browser, web_app: App) -> None:
    others = []
    for nick in ("carol", "caroline", "dave"):
        client = await IRCTestClient.connect(*web_app.address("irc"))
        await client.register(nick)
        await client.send("JOIN #hubbub")
        await client.expect("366")
        others.append(client)
    carol, caroline, _dave = others
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("alice", "#hubbub #help")
    await user.open_buffer("#hubbub")
    page = user.page
    await expect(page.locator("#member-list .member")).to_have_count(4)
    text_input = page.locator("#input")

    # Alphabetical while nobody has spoken; ": " after a nick at the start of the line.
    await type_and_tab(page, "car")
    await expect(text_input).to_have_value("carol: ")
    assert await focused_id(page) == "input"
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("caroline: ")
    await page.press("#input", "Tab")  # round again
    await expect(text_input).to_have_value("carol: ")
    await page.press("#input", "Shift+Tab")  # and back
    await expect(text_input).to_have_value("caroline: ")

    # The most recently active first, once they have spoken.
    await caroline.send("PRIVMSG #hubbub :first")
    await expect(user.lines("#hubbub", "first")).to_have_count(1)
    await carol.send("PRIVMSG #hubbub :second")
    await expect(user.lines("#hubbub", "second")).to_have_count(1)
    await caroline.send("PRIVMSG #hubbub :third")
    await expect(user.lines("#hubbub", "third")).to_have_count(1)
    await type_and_tab(page, "CAR")  # case does not matter
    await expect(text_input).to_have_value("caroline: ")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("carol: ")

    # Mid-line: a space after the nick (not a second one), and the rest of the line is kept.
    await page.fill("#input", "hello d and more")
    await text_input.evaluate("e => e.setSelectionRange(7, 7)")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("hello dave and more")
    assert await text_input.evaluate("e => e.selectionStart") == len("hello dave ")
    await page.fill("#input", "hello d")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("hello dave ")

    # Any other key ends the cycle: the next Tab completes the new word.
    await type_and_tab(page, "car")
    await expect(text_input).to_have_value("caroline: ")
    await page.keyboard.type("hi da")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("caroline: hi dave ")

    # Channels from the joined ones; commands from the client's list.
    await type_and_tab(page, "see #h")
    await expect(text_input).to_have_value("see #help ")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("see #hubbub ")
    await type_and_tab(page, "/who")
    await expect(text_input).to_have_value("/whois ")
    await type_and_tab(page, "/qu")
    await expect(text_input).to_have_value("/query ")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("/quit ")
    await page.press("#input", "Tab")
    await expect(text_input).to_have_value("/quote ")
    await page.press("#input", "Shift+Tab")
    await expect(text_input).to_have_value("/quit ")
    # The completed text is sent as typed.
    await type_and_tab(page, "ca", 2)
    await page.press("#input", "Enter")
    await expect(user.lines("#hubbub", "carol:")).to_have_count(1)
    await carol.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "carol: ")
    assert not user.errors, user.errors
    await user.close()
    for client in others:
        await client.close()


async def test_tab_never_leaves_the_input_by_accident(browser: Browser, web_app: App) -> None:
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("solo")
    page = user.page
    text_input = page.locator("#input")
    for text in ("", "zzz nothing", "/nosuchcommand", "#nosuchchannel"):
        await type_and_tab(page, text)
        await expect(text_input).to_have_value(text)
        assert await focused_id(page) == "input", text
        await page.press("#input", "Shift+Tab")
        assert await focused_id(page) == "input", text

    # Elsewhere Tab moves the focus as usual, and Escape lets it out of the input.
    await page.focus("#join-input")
    await page.keyboard.press("Tab")
    assert await focused_id(page) != "join-input"
    await page.focus("#input")
    await page.keyboard.press("Escape")
    await page.keyboard.press("Tab")
    assert await focused_id(page) != "input"
    assert await page.evaluate("document.activeElement.textContent") == "Send"
    # The escape hatch is for one Tab only, and is described to screen readers.
    await page.focus("#input")
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "input"
    hint = await text_input.evaluate(
        "e => document.getElementById(e.getAttribute('aria-describedby')).textContent"
    )
    assert "Escape" in hint
    assert not user.errors, user.errors
    await user.close()
