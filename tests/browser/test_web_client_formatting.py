"""mIRC formatting (bold, colours...) drawn by the web client, safely; the option to strip it."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Locator, expect

from hubbub.net.app import App
from tests.browser.conftest import WebUser, web_url
from tests.e2e.ircclient import IRCTestClient

B = "\x02"  # bold
C = "\x03"  # colour
H = "\x04"  # hex colour
IT = "\x1d"  # italics
M = "\x11"  # monospace
R = "\x16"  # reverse
RESET = "\x0f"
S = "\x1e"  # strikethrough
U = "\x1f"  # underline

STYLES = (
    f"{B}bold{B} plain {IT}italic{IT} {U}under{U} {S}strike{S} {U}{S}both{RESET} {M}mono{M} end"
)
COLOURS = (
    f"{C}4red{C} {C}12,1blue on black{RESET} normal {C}28extended{C} {C}4,99red on default{C} "
    f"{C}3,comma stays{C} {C}99fg default{C}"
)
HEX = f"{H}FF8800hex orange{H} {H}000000,FFFFFFblack on white{RESET} after"
REVERSE = f"{R}reversed{R} {C}4,2{R}swapped{RESET}"
LINK = f"{B}see https://example.org/formatted{B} {C}4and https://example.org/red{RESET}"
INERT = f'{B}<b>not bold html</b>{B} {C}4<img src=x onerror="window.__pwned=1">{RESET}'


def piece(user: WebUser, text: str) -> Locator:
    """The element in #hubbub that holds exactly this piece of a message."""
    return (
        user.log("#hubbub")
        .locator(".msg .text span, .msg .text a")
        .filter(has_text=re.compile("^" + re.escape(text) + "$"))
    )


async def style(locator: Locator, prop: str) -> str:
    return str(await locator.evaluate("(e, p) => getComputedStyle(e)[p]", prop))


async def test_formatting_is_drawn_safely_and_can_be_turned_off(
    browser: Browser, web_app: App
) -> None:
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol")
    await carol.send("JOIN #hubbub", f"TOPIC #hubbub :{B}Bold topic{B} and plain")
    await carol.expect("TOPIC")
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("alice")
    page = user.page
    await carol.send(*(f"PRIVMSG #hubbub :{text}" for text in (STYLES, COLOURS, HEX, REVERSE)))
    await carol.send(f"PRIVMSG #hubbub :{LINK}", f"PRIVMSG #hubbub :{INERT}")
    await expect(user.lines("#hubbub", "not bold html")).to_have_count(1)

    # Bold, italics, underline, strikethrough, monospace.
    assert int(await style(piece(user, "bold"), "fontWeight")) >= 700
    assert await style(piece(user, "italic"), "fontStyle") == "italic"
    assert "underline" in await style(piece(user, "under"), "textDecorationLine")
    assert "line-through" in await style(piece(user, "strike"), "textDecorationLine")
    both = await style(piece(user, "both"), "textDecorationLine")
    assert "underline" in both
    assert "line-through" in both
    assert "mono" in (await style(piece(user, "mono"), "fontFamily")).lower()
    await expect(
        user.lines("#hubbub", "bold plain italic under strike both mono end")
    ).to_have_count(1)
    plain_weight = (
        await user.lines("#hubbub", "mono end")
        .locator(".text")
        .evaluate("e => getComputedStyle(e).fontWeight")
    )
    assert int(plain_weight) < 700

    # The 16 colours, extended ones, 99 (the default), backgrounds.
    assert await style(piece(user, "red"), "color") == "rgb(255, 0, 0)"
    assert await style(piece(user, "blue on black"), "color") == "rgb(0, 0, 252)"
    assert await style(piece(user, "blue on black"), "backgroundColor") == "rgb(0, 0, 0)"
    assert await style(piece(user, "extended"), "color") == "rgb(116, 0, 0)"
    assert await style(piece(user, "red on default"), "backgroundColor") == "rgba(0, 0, 0, 0)"
    assert await style(piece(user, ",comma stays"), "color") == "rgb(0, 147, 0)"
    await expect(piece(user, "fg default")).to_have_count(0)  # 99: nothing to draw
    await expect(user.lines("#hubbub", "normal extended red on default")).to_have_count(1)
    # Hex colours, set with the CSSOM (the CSP forbids style attributes in markup, not this).
    assert await style(piece(user, "hex orange"), "color") == "rgb(255, 136, 0)"
    assert await style(piece(user, "black on white"), "color") == "rgb(0, 0, 0)"
    assert await style(piece(user, "black on white"), "backgroundColor") == "rgb(255, 255, 255)"
    # Reverse swaps the colours (the defaults when none are set).
    reversed_text = piece(user, "reversed")
    text_colour = await page.evaluate("getComputedStyle(document.body).color")
    assert await style(reversed_text, "backgroundColor") == text_colour
    assert await style(piece(user, "swapped"), "color") == "rgb(0, 0, 127)"
    assert await style(piece(user, "swapped"), "backgroundColor") == "rgb(255, 0, 0)"

    # Links inside formatted text are still links, and formatted.
    link = user.log("#hubbub").locator("a.link", has_text="https://example.org/formatted")
    await expect(link).to_have_attribute("href", "https://example.org/formatted")
    assert int(await style(link, "fontWeight")) >= 700
    red_link = user.log("#hubbub").locator("a.link", has_text="https://example.org/red")
    await expect(red_link).to_have_count(1)

    # Markup in formatted text stays text.
    inert = user.lines("#hubbub", "not bold html").locator(".text")
    await expect(inert).to_have_text('<b>not bold html</b> <img src=x onerror="window.__pwned=1">')
    created = await page.evaluate("document.querySelectorAll('#messages b, #messages img').length")
    assert created == 0
    assert await page.evaluate("window.__pwned === undefined")

    # The topic is drawn too.
    topic_bold = page.locator("#topic span").filter(has_text=re.compile("^Bold topic$"))
    assert int(await style(topic_bold, "fontWeight")) >= 700

    # The setting: off strips every line shown (and the topic), and is remembered.
    toggle = page.locator("#show-formatting")
    await expect(toggle).to_be_checked()
    await toggle.uncheck()
    await expect(piece(user, "bold")).to_have_count(0)
    await expect(page.locator("#messages .text span, #topic span")).to_have_count(0)
    await expect(
        user.lines("#hubbub", "bold plain italic under strike both mono end")
    ).to_have_count(1)
    await expect(link).to_have_count(1)  # links stay links
    await page.reload()  # back signed in, in the same channel, the setting kept
    await expect(page.locator("#status")).to_have_class("status online")
    await expect(page.locator("#buffer-name")).to_have_text("#hubbub")
    await expect(page.locator("#show-formatting")).not_to_be_checked()
    await carol.send(f"PRIVMSG #hubbub :{B}later bold{B}")
    await expect(user.lines("#hubbub", "later bold")).to_have_count(1)
    await expect(user.log("#hubbub").locator(".text span")).to_have_count(0)
    await page.locator("#show-formatting").check()
    assert int(await style(piece(user, "later bold"), "fontWeight")) >= 700

    assert not any("Content Security Policy" in line for line in user.console), user.console
    assert not user.errors, user.errors
    await user.close()
    await carol.close()


async def test_right_to_left_text_reads_right_to_left_and_stays_in_its_place(
    browser: Browser, web_app: App
) -> None:
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol")
    await carol.send("JOIN #hubbub")
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("alice")
    hebrew = "\u05e9\u05dc\u05d5\u05dd"  # shalom
    await carol.send(f"PRIVMSG #hubbub :{hebrew} world!", "PRIVMSG #hubbub :\u202eevil override")
    line = user.lines("#hubbub", "world!")
    await expect(line).to_have_count(1)
    # A right-to-left line: its first word is drawn rightmost, the "!" after it leftmost.
    left_of = await line.locator(".text").evaluate(
        """e => {
            const node = e.firstChild.nodeType === 3 ? e.firstChild : e.firstChild.firstChild;
            const at = (i) => { const r = document.createRange(); r.setStart(node, i);
                r.setEnd(node, i + 1); return r.getBoundingClientRect().left; };
            const s = node.textContent;
            return { bang: at(s.indexOf("!")), shin: at(0) };
        }"""
    )
    assert left_of["bang"] < left_of["shin"]
    # An override in a message stays in it: the nick and time are still drawn before it.
    evil = user.lines("#hubbub", "override")
    await expect(evil).to_have_count(1)
    nick_right = await evil.locator(".nick").evaluate("e => e.getBoundingClientRect().right")
    text_left = await evil.locator(".text").evaluate("e => e.getBoundingClientRect().left")
    assert nick_right <= text_left
    assert await style(evil.locator(".text"), "unicodeBidi") == "plaintext"
