"""Server replies (numerics) shown as sentences by the web client, against a real hubbub."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from hubbub.net.app import App
from tests.browser.conftest import WebUser, web_url
from tests.e2e.ircclient import IRCTestClient


async def local_time(user: WebUser, seconds: int) -> str:
    """How the browser writes a Unix time in its locale (what the client should show)."""
    return str(await user.page.evaluate("s => new Date(s * 1000).toLocaleString()", seconds))


async def test_whois_whowas_and_channel_replies_are_sentences(
    browser: Browser, web_app: App
) -> None:
    carol = await IRCTestClient.connect(*web_app.address("irc"))
    await carol.register("carol")
    await carol.send("JOIN #hubbub", "TOPIC #hubbub :all about hubbub")
    await carol.expect("TOPIC")
    dave = await IRCTestClient.connect(*web_app.address("irc"))
    await dave.register("dave", realname="Dave Davis")
    await dave.send("REGISTER * * hunter2hunter2")
    await dave.expect("900")
    await dave.send("JOIN #hubbub", "AWAY :at lunch")
    await dave.expect("306")

    user = await WebUser.open(browser, web_url(web_app))
    await user.login("alice")
    server = web_app.server
    channel = server.find_channel("#hubbub")
    assert channel is not None
    topic_at = await local_time(user, channel.topic_time)
    await expect(user.lines("#hubbub", f"Topic set by carol on {topic_at}")).to_have_count(1)

    # LUSERS at registration: sentences, not the counts before the server's text.
    texts = user.log("*server*").locator(".msg .text")
    await expect(
        texts.filter(has_text=re.compile(r"^Current local users \d+, max \d+$"))
    ).to_have_count(1)
    await expect(texts.filter(has_text=re.compile(r"^\d+ channels? formed$"))).to_have_count(1)
    await expect(texts.filter(has_text=re.compile(r"^\d+ \d+ "))).to_have_count(0)
    await expect(texts.filter(has_text=re.compile(r"^\d+ operators? online$"))).to_have_count(1)

    # WHOIS
    await user.say("/whois dave")
    dave_user = server.find_user("dave")
    assert dave_user is not None
    signon = await local_time(user, int(dave_user.signon))
    lines = user.lines("#hubbub")
    await expect(
        lines.filter(has_text=re.compile(r"dave is ~user@\S+ \(real name: Dave Davis\)"))
    ).to_have_count(1)
    await expect(lines.filter(has_text=re.compile(r"dave is in #hubbub$"))).to_have_count(1)
    await expect(lines.filter(has_text=f"dave is on {server.name}")).to_have_count(1)
    await expect(lines.filter(has_text="dave is away: at lunch")).to_have_count(1)
    idle = re.compile(rf"dave has been idle \d+ s, signed on at {re.escape(signon)}$")
    await expect(lines.filter(has_text=idle)).to_have_count(1)
    await expect(lines.filter(has_text="dave is logged in as dave")).to_have_count(1)
    for raw in ("seconds idle", "signon time", "End of /WHOIS", "dave dave is logged in as"):
        await expect(lines.filter(has_text=raw)).to_have_count(0)

    # WHOWAS, once dave has gone.
    await dave.send("QUIT :bye")
    await expect(user.lines("#hubbub", "dave quit")).to_have_count(1)
    await user.say("/whowas dave")
    await expect(
        lines.filter(has_text=re.compile(r"dave was ~user@\S+ \(real name: Dave Davis\)"))
    ).to_have_count(1)
    await expect(
        lines.filter(has_text=re.compile(rf"dave was on {re.escape(server.name)} \(.+\)$"))
    ).to_have_count(1)
    await user.say("/whowas nobody")
    await expect(lines.filter(has_text="nobody: There was no such nickname")).to_have_count(1)
    await expect(lines.filter(has_text="End of WHOWAS")).to_have_count(0)

    # A channel of our own: its modes, creation time and ban list.
    await user.say("/join #mine")
    await expect(user.page.locator("#buffer-name")).to_have_text("#mine")
    mine = server.find_channel("#mine")
    assert mine is not None
    await user.say("/quote MODE #mine")
    created = await local_time(user, mine.created)
    mine_lines = user.lines("#mine")
    await expect(mine_lines.filter(has_text=re.compile(r"#mine has modes \+\w+$"))).to_have_count(1)
    await expect(mine_lines.filter(has_text=f"#mine was created on {created}")).to_have_count(1)
    await user.say("/quote MODE #mine b")
    await expect(mine_lines.filter(has_text="#mine has no bans")).to_have_count(1)
    await user.say("/quote MODE #mine +b *!*@bad.example")
    await expect(mine_lines.filter(has_text="sets mode +b *!*@bad.example")).to_have_count(1)
    await user.say("/quote MODE #mine b")
    entry = mine.lists["b"][0]
    banned_at = await local_time(user, int(entry.time))
    ban = f"#mine bans *!*@bad.example (set by alice on {banned_at})"
    await expect(mine_lines.filter(has_text=ban)).to_have_count(1)
    await expect(mine_lines.filter(has_text="#mine has 1 ban")).to_have_count(1)
    await user.say("/quote MODE #mine e")
    await expect(mine_lines.filter(has_text="#mine has no exceptions")).to_have_count(1)
    assert not user.errors, user.errors
    await user.close()
    await carol.close()
    await dave.close()


async def test_replies_hubbub_does_not_send_and_durations(browser: Browser, web_app: App) -> None:
    """Numerics from other servers, fed to the client's line handler as if received."""
    user = await WebUser.open(browser, web_url(web_app))
    await user.login("alice")
    lines = [
        ":irc.example 313 alice dave :is a Network Administrator",
        ":irc.example 671 alice dave :is using a secure connection",
        ":irc.example 338 alice dave dave@10.0.0.1 10.0.0.1 :Actual user@host, Actual IP",
        ":irc.example 317 alice dave 93784 1700000000 :seconds idle, signon time",
        ":irc.example 317 alice erin 23 :seconds idle",
        ":irc.example 317 alice fred 3725 1700000000 :seconds idle, signon time",
        ":irc.example 319 alice erin :@#ops +#voice #plain",
        ":irc.example 367 alice #hubbub *!*@spam.example",
        ":irc.example 252 alice 1 :operator(s) online",
        ":irc.example 254 alice 7 :channels formed",
        ":irc.example 999 alice some thing :an unknown numeric",
    ]
    await user.page.evaluate("lines => lines.forEach(window.hubbub.receive)", lines)
    signon = await local_time(user, 1700000000)
    shown = user.log("#hubbub").locator(".msg .text")
    for text in (
        "dave is a Network Administrator",
        "dave is using a secure connection",
        "dave actually connects from dave@10.0.0.1 (10.0.0.1)",
        f"dave has been idle 1 d 2 h, signed on at {signon}",
        "erin has been idle 23 s",
        f"fred has been idle 1 h 2 min, signed on at {signon}",
        "erin is in #ops (operator), #voice (voice) and #plain",
        "#hubbub bans *!*@spam.example",
    ):
        await expect(shown.filter(has_text=text)).to_have_count(1)
    server_lines = user.log("*server*").locator(".msg .text")
    await expect(server_lines.filter(has_text=re.compile("^1 operator online$"))).to_have_count(1)
    await expect(server_lines.filter(has_text=re.compile("^7 channels formed$"))).to_have_count(1)
    # An unknown numeric keeps the plain fallback: its parameters after our nick.
    await expect(server_lines.filter(has_text="some thing an unknown numeric")).to_have_count(1)
    assert not user.errors, user.errors
    await user.close()
