"""The web client in headless Chromium against a real hubbub: chat, safety, layout, reconnects."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, expect

from hubbub.config import AuthSection, Config, ListenSection, StorageSection
from hubbub.net.app import App
from tests.browser.conftest import PHONE, WebUser, web_url
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def test_two_browsers_and_a_tcp_client_chat(browser: Browser, web_app: App) -> None:
    url = web_url(web_app)
    alice = await WebUser.open(browser, url)
    bob = await WebUser.open(browser, url)
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol")
    await carol.send("JOIN #hubbub")
    await carol.expect("366")

    await alice.login("alice")
    await bob.login("bob")
    await carol.expect(lambda m: m.command == "JOIN" and m.source is not None and "bob" in m.source)

    # Browser to browser and to the TCP client.
    await alice.say("hello from alice")
    await expect(bob.lines("#hubbub", "hello from alice")).to_have_count(1)
    await expect(alice.lines("#hubbub", "hello from alice")).to_have_count(1)  # echo, once
    msg = await carol.expect("PRIVMSG")
    assert msg.params == ("#hubbub", "hello from alice")

    # TCP client to both browsers, with the server's timestamp on the line.
    await carol.send("PRIVMSG #hubbub :hi both, from a terminal")
    for user in (alice, bob):
        line = user.lines("#hubbub", "hi both, from a terminal")
        await expect(line).to_have_count(1)
        await expect(line.locator(".nick")).to_have_text("carol")
        await expect(line.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))

    # The member list shows everyone, operators (carol, who came first) first.
    members = alice.page.locator("#member-list .member .nick")
    await expect(members).to_have_text(["carol", "alice", "bob"])
    await expect(alice.page.locator("#member-list .member").first.locator(".prefix")).to_have_text(
        "@"
    )

    # A private conversation: bob writes to alice, who sees an unread count, then reads it.
    await bob.say("/msg alice psst, a secret")
    await expect(alice.buffer_item("bob").locator(".unread")).to_have_text("1")
    await alice.open_buffer("bob")
    await expect(alice.lines("bob", "psst, a secret")).to_have_count(1)
    await expect(alice.buffer_item("bob").locator(".unread")).to_have_count(0)
    await alice.say("got it")
    await expect(bob.lines("alice", "got it")).to_have_count(1)

    # Unread counts on a channel that is not in view.
    await carol.send("PRIVMSG #hubbub :one", "PRIVMSG #hubbub :two")
    await expect(alice.buffer_item("#hubbub").locator(".unread")).to_have_text("2")

    # Join and part from the UI.
    await bob.page.fill("#join-input", "#second")
    await bob.page.press("#join-input", "Enter")
    await expect(bob.page.locator("#buffer-name")).to_have_text("#second")
    await bob.page.click("#part-button")
    await expect(bob.buffer_item("#second")).to_have_class("buffer active parted")
    await expect(bob.lines("#second", "You left #second")).to_have_count(1)

    for user in (alice, bob):
        assert not user.errors, user.errors
        await user.close()
    await carol.close()


PAYLOAD = '<img src=x onerror="window.__pwned=1;alert(1)">'
SCRIPT = "<script>window.__pwned=2</script><b>bold?</b>"
NICKLIKE = "<img/src=x/onerror=window.__pwned=3>"


async def test_injection_attempts_stay_inert_text(browser: Browser, web_app: App) -> None:
    mallory = await IRCTestClient.connect(*web_app.address("irc"))
    await mallory.register("mallory")
    await mallory.send("JOIN #hubbub")
    await mallory.expect("366")
    await mallory.send(f"TOPIC #hubbub :{PAYLOAD}")
    await mallory.expect("TOPIC")

    victim = await WebUser.open(browser, web_url(web_app))
    await victim.login("victim")
    page = victim.page
    await expect(page.locator("#topic")).to_have_text(PAYLOAD)

    await mallory.send(
        f"PRIVMSG #hubbub :{PAYLOAD}",
        f"PRIVMSG #hubbub :{SCRIPT}",
        f"PRIVMSG #hubbub :\x01ACTION {PAYLOAD}\x01",
        f"NOTICE #hubbub :{SCRIPT}",
        f"PRIVMSG victim :{PAYLOAD}",
        f"JOIN #{NICKLIKE}",
    )
    await expect(victim.lines("#hubbub", SCRIPT)).to_have_count(2)
    await expect(victim.lines("mallory", PAYLOAD)).to_have_count(1)
    # Nick-like names from the server: a channel name and the target echoed in an error.
    await victim.say(f"/join #{NICKLIKE}")
    await expect(page.locator("#buffer-name")).to_have_text(f"#{NICKLIKE}")
    await expect(victim.buffer_item(f"#{NICKLIKE}")).to_have_count(1)
    await victim.say(f"/msg {NICKLIKE} hello?")
    await expect(page.locator("#buffer-name")).to_have_text(NICKLIKE)
    await expect(victim.lines(NICKLIKE, "No such nick")).to_have_count(1)
    await mallory.send(f"PART #hubbub :{PAYLOAD}", f"QUIT :{SCRIPT}")
    await expect(victim.lines("#hubbub", f"mallory left ({PAYLOAD})")).to_have_count(1)

    await victim.open_buffer("#hubbub")
    texts = await victim.lines("#hubbub").locator(".text").all_text_contents()
    assert PAYLOAD in texts
    assert SCRIPT in texts
    created = await page.evaluate(
        "document.querySelectorAll('img, script:not([src]), b, iframe, object, embed').length"
    )
    assert created == 0, "user text must never become elements"
    assert await page.evaluate("window.__pwned === undefined"), "injected script ran"
    assert victim.dialogs == []
    assert not any("Content Security Policy" in line for line in victim.console), victim.console
    assert not victim.errors, victim.errors
    await victim.close()
    await mallory.close()


async def test_ctcp_answers_are_paced(browser: Browser, web_app: App) -> None:
    """A flood of CTCP requests gets three answers, then one per five seconds: answered
    each, they made the page exceed the server's flood control and be disconnected (an
    attack audit killed every web client of a channel that way)."""
    victim = await WebUser.open(browser, web_url(web_app))
    await victim.login("victim")
    mallory = await IRCTestClient.connect(*web_app.address("irc"))
    await mallory.register("mallory")
    await mallory.send(*[f"PRIVMSG victim :\x01PING {'x' * 200}\x01"] * 10)
    answers = [await mallory.expect("NOTICE") for _ in range(3)]
    assert answers[0].params[1] == f"\x01PING {'x' * 64}\x01"
    await asyncio.sleep(1.0)  # (what the page would answer more has arrived by then)
    await mallory.send("PING :fence")
    later = await mallory.collect_until(lambda m: m.command == "PONG")
    assert [m for m in later if m.command == "NOTICE"] == []
    await victim.close()
    await mallory.close()


async def test_being_kicked_and_leaving_keep_the_buffer(browser: Browser, web_app: App) -> None:
    op = await IRCTestClient.connect(*web_app.address("irc"))
    await op.register("op")
    await op.send("JOIN #hubbub")
    await op.expect("366")
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("kickee")
    await op.expect("JOIN")
    await op.send("KICK #hubbub kickee :enough")
    await expect(user.lines("#hubbub", "You were kicked by op (enough)")).to_have_count(1)
    await expect(user.buffer_item("#hubbub")).to_have_class(re.compile(r"\bparted\b"))
    await user.say("/join #hubbub")
    await expect(user.buffer_item("#hubbub")).not_to_have_class(re.compile(r"\bparted\b"))
    await op.send("KICK #hubbub op :self")  # another member goes: the list loses only them
    await expect(user.lines("#hubbub", "op was kicked by op (self)")).to_have_count(1)
    await user.say("/part #hubbub")
    await expect(user.lines("#hubbub", "You left #hubbub")).to_have_count(1)
    assert not user.errors, user.errors
    await user.close()
    await op.close()


async def test_sasl_login_to_an_account(browser: Browser, web_app: App) -> None:
    owner = await IRCTestClient.connect(*web_app.address("irc"))
    await owner.register("ada")
    await owner.send("REGISTER * * hunter2hunter2")
    await owner.expect("900")
    await owner.close()

    user = await WebUser.open(browser, web_url(web_app))
    await user.page.click("#auth summary")
    await user.page.fill("#sasl-user", "ada")
    await user.page.fill("#sasl-pass", "hunter2hunter2")
    await user.login("ada_web")
    await expect(user.lines("*server*", "You are now logged in as ada")).to_have_count(1)
    await user.say("/whois ada_web")
    await expect(user.lines("#hubbub", "is logged in as")).to_have_count(1)

    wrong = await WebUser.open(browser, web_url(web_app))
    await wrong.page.click("#auth summary")
    await wrong.page.fill("#sasl-user", "ada")
    await wrong.page.fill("#sasl-pass", "not the password")
    await wrong.login("guesser")  # a failed login still connects, without the account
    await expect(wrong.lines("*server*", "Login to your account failed")).to_have_count(1)
    for each in (user, wrong):
        assert not each.errors, each.errors
        await each.close()


async def test_server_password(
    browser: Browser, app_factory: Callable[[Config], Any], tmp_path: Path
) -> None:
    config = make_config(
        (ListenSection(address="127.0.0.1:0", websocket=True),),
    )
    config = dataclasses.replace(
        config,
        auth=AuthSection(password="letmein"),
        storage=StorageSection(path=str(tmp_path / "pass.db")),
    )
    app: App = await app_factory(config)
    wrong = await WebUser.open(browser, web_url(app))
    await wrong.page.click("#auth summary")
    await wrong.page.fill("#server-password", "guess")
    await wrong.page.fill("#nick", "guesser")
    await wrong.page.click("#connect-button")
    # Refused: back on the form with the server's reason, and no reconnecting.
    await expect(wrong.page.locator("#login-error")).to_contain_text("Password incorrect")
    await expect(wrong.page.locator("#login")).to_be_visible()

    right = await WebUser.open(browser, web_url(app))
    await right.page.click("#auth summary")
    await right.page.fill("#server-password", "letmein")
    await right.login("insider")
    for user in (wrong, right):
        assert not user.errors, user.errors
        await user.close()


async def test_phone_layout(browser: Browser, web_app: App) -> None:
    user = await WebUser.open(browser, web_url(web_app), viewport=PHONE)
    await user.login("pocket", channels="#hubbub #other")
    page = user.page
    sidebar = page.locator("#sidebar")
    await expect(sidebar).not_to_be_in_viewport()
    await expect(page.locator("#input")).to_be_in_viewport()
    await page.click("#toggle-sidebar")
    await expect(sidebar).to_be_in_viewport()
    await user.buffer_item("#hubbub").click()
    await expect(sidebar).not_to_be_in_viewport()
    await expect(page.locator("#buffer-name")).to_have_text("#hubbub")
    await page.click("#toggle-members")
    await expect(page.locator("#member-list .member .nick")).to_have_text(["pocket"])
    await expect(page.locator("#members")).to_be_in_viewport()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing may overflow sideways on a phone"
    await user.close()


async def test_reconnects_with_backoff_and_rejoins(browser: Browser, web_app: App) -> None:
    watcher = await IRCTestClient.connect(*web_app.address("irc"))
    await watcher.register("watcher")
    await watcher.send("JOIN #hubbub")
    await watcher.expect("366")
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("bouncy")
    await watcher.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bouncy!"))

    session = next(s for s in web_app.server.sessions if s.user.nick == "bouncy")
    web_app.server.quit(session, "Killed for the test", error="Killed for the test")
    await watcher.expect(lambda m: m.command == "QUIT" and (m.source or "").startswith("bouncy!"))
    await expect(user.page.locator("#status")).to_contain_text("reconnecting in")
    # Back, with the same nick, in the same channel.
    await watcher.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("bouncy!"))
    await expect(user.page.locator("#status")).to_have_class("status online")
    await watcher.send("PRIVMSG #hubbub :welcome back")
    await expect(user.lines("#hubbub", "welcome back")).to_have_count(1)
    await user.close()
    await watcher.close()


async def test_reconnect_countdown_keeps_clear_of_the_sidebar_edges(
    browser: Browser, web_app: App
) -> None:
    """The status ("reconnecting in 60s", its longest) stays inside the sidebar's padding."""
    for width in (1280, 900):  # the wide sidebar, and the narrower one without a member list
        user = await WebUser.open(
            browser, web_url(web_app), viewport={"width": width, "height": 700}
        )
        nick = f"edge{width}"
        await user.login(nick)
        session = next(s for s in web_app.server.sessions if s.user.nick == nick)
        web_app.server.quit(session, "Killed for the test", error="Killed for the test")
        status = user.page.locator("#status")
        await expect(status).to_contain_text("reconnecting in")
        await user.page.evaluate(
            "document.getElementById('status').textContent = 'reconnecting in 60s'"
        )
        sidebar = await user.page.locator("#sidebar").bounding_box()
        box = await status.bounding_box()
        logo = await user.page.locator("#sidebar .brand .logo").bounding_box()
        assert sidebar is not None
        assert box is not None
        assert logo is not None
        assert box["x"] - sidebar["x"] >= 12, (width, box, sidebar)
        assert (sidebar["x"] + sidebar["width"]) - (box["x"] + box["width"]) >= 12, (width, box)
        overlap = box["x"] < logo["x"] + logo["width"] and box["y"] < logo["y"] + logo["height"]
        assert not overlap, (box, logo)
        assert await status.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "text cut off"
        await user.close()


async def test_screenshot_of_a_conversation(browser: Browser, web_app: App, tmp_path: Path) -> None:
    """A realistic conversation, photographed for the README.

    Set ``HUBBUB_UPDATE_SCREENSHOT=1`` to write ``docs/screenshot.png`` (and the phone
    version); otherwise the pictures go to a temporary directory.
    """
    out = DOCS if os.environ.get("HUBBUB_UPDATE_SCREENSHOT") else tmp_path
    url = web_url(web_app)
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol")
    await carol.send("JOIN #hubbub", "JOIN #dev")
    await carol.expect(lambda m: m.command == "366" and m.params[1] == "#dev")
    await carol.send("TOPIC #hubbub :Welcome to hubbub: IRC for everyone, in a terminal or here")
    await carol.expect("TOPIC")
    dave = await IRCTestClient.connect(*web_app.address("irc"))
    await dave.register("dave")
    await dave.send("JOIN #hubbub", "AWAY :lunch")
    await dave.expect("306")

    alice = await WebUser.open(browser, url)
    await alice.login("alice", "#hubbub #dev")
    bob = await WebUser.open(browser, url)
    await bob.login("bob")
    await alice.open_buffer("#hubbub")

    async def carol_says(text: str) -> None:
        await carol.send(f"PRIVMSG #hubbub :{text}")
        await expect(alice.lines("#hubbub", text.replace("\x02", ""))).to_have_count(1)

    async def says(user: WebUser, text: str, shown: str | None = None) -> None:
        await user.say(text)
        await expect(alice.lines("#hubbub", shown or text)).to_have_count(1)

    await carol_says("morning all! 0.1 is tagged: https://example.org/hubbub/releases")
    await says(bob, "nice! does the web client work on phones now?")
    await says(alice, "it does, the sidebars fold away on small screens")
    await carol_says("and TLS listeners reload their certificates on \x02REHASH\x02")
    await says(bob, "/me opens it on his phone", "opens it on his phone")
    await says(bob, "alice: looks great, thanks")
    await carol.send("PRIVMSG #dev :alice, can you review the websocket PR?")
    await bob.say("/msg alice lunch later?")
    await expect(alice.buffer_item("bob").locator(".unread")).to_have_text("1")
    await expect(alice.buffer_item("#dev").locator(".unread")).to_have_text("1")
    await expect(alice.page.locator('#member-list .member.away[data-nick="dave"]')).to_have_count(1)
    await bob.open_buffer("#hubbub")
    await bob.page.locator("#input").press_sequentially("see you")
    await expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    await alice.page.click("#input")
    await alice.page.screenshot(path=str(out / "screenshot.png"))

    phone = await WebUser.open(browser, url, viewport=PHONE)
    await phone.login("erin")
    await carol.send("PRIVMSG #hubbub :hi erin, welcome!")
    await bob.open_buffer("#hubbub")
    await bob.say("erin: the ☰ button up there lists your channels")
    await expect(phone.lines("#hubbub", "lists your channels")).to_have_count(1)
    await phone.say("found it, thanks! typing this on the bus")
    await carol.send("PRIVMSG #hubbub :\x01ACTION waves\x01")
    await expect(phone.lines("#hubbub", "waves")).to_have_count(1)
    await phone.page.screenshot(path=str(out / "screenshot-phone.png"))

    assert (out / "screenshot.png").stat().st_size > 10_000
    for user in (alice, bob, phone):
        assert not user.errors, user.errors
        await user.close()
    await carol.close()
    await dave.close()
