"""The web client's SASL and CHATHISTORY support, against a scripted IRC server.

A small fake server, speaking over the real WebSocket endpoint code (same static files, same
headers), checks the exact lines the client sends and replays a message twice, which hubbub
never does (tests/browser/test_web_client_history.py has the same features against hubbub).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from playwright.async_api import Browser, expect
from websockets.asyncio.server import ServerConnection, serve

from hubbub.config import ListenSection
from hubbub.net.websocket import WebSocketEndpoint
from hubbub.protocol.message import parse
from tests.browser.conftest import WebUser

NAME = ":fake.example"


def _stamp(minutes_ago: int) -> str:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeIRC:
    """What the scripted server saw."""

    url: str = ""
    requested: list[str] = field(default_factory=list)
    sasl: list[bytes] = field(default_factory=list)
    history_requests: list[tuple[str, ...]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    sent: int = 0

    async def handle(self, ws: ServerConnection) -> None:
        nick = "*"
        async for frame in ws:
            line = frame if isinstance(frame, str) else frame.decode()
            self.lines.append(line)
            msg = parse(line)
            cmd, params = msg.command, msg.params
            out: list[str] = []
            if cmd == "CAP" and params[0] == "LS":
                out.append(
                    f"{NAME} CAP * LS :sasl=PLAIN,EXTERNAL batch server-time message-tags "
                    "draft/chathistory echo-message sts=duration=60"
                )
            elif cmd == "CAP" and params[0] == "REQ":
                self.requested.extend(params[1].split())
                out.append(f"{NAME} CAP * ACK :{params[1]}")
            elif cmd == "AUTHENTICATE" and params[0] == "PLAIN":
                out.append("AUTHENTICATE +")
            elif cmd == "AUTHENTICATE":
                self.sasl.append(base64.b64decode(params[0]))
                out.append(f"{NAME} 900 {nick} {nick}!u@h acct :You are now logged in as acct")
                out.append(f"{NAME} 903 {nick} :SASL authentication successful")
            elif cmd == "NICK":
                nick = params[0]
            elif cmd == "CAP" and params[0] == "END":
                out += [
                    f"{NAME} 001 {nick} :Welcome to FakeNet, {nick}",
                    f"{NAME} 005 {nick} CHATHISTORY=50 NETWORK=FakeNet :are supported",
                    f"{NAME} 376 {nick} :End of MOTD",
                ]
            elif cmd == "JOIN":
                out += [
                    f"@time={_stamp(0)} :{nick}!u@h JOIN {params[0]}",
                    f"{NAME} 353 {nick} = {params[0]} :{nick} @old",
                    f"{NAME} 366 {nick} {params[0]} :End of /NAMES list.",
                ]
            elif cmd == "CHATHISTORY" and params[0] == "TARGETS":
                self.history_requests.append(params[:1])
                out += [f"{NAME} BATCH +t1 draft/chathistory-targets", f"{NAME} BATCH -t1"]
            elif cmd == "CHATHISTORY":
                self.history_requests.append(params)
                target = params[1]
                out.append(f"{NAME} BATCH +h1 chathistory {target}")
                for i, (ago, text) in enumerate(
                    [(90, "first, from before you came"), (60, "second"), (30, "third")]
                ):
                    out.append(
                        f"@batch=h1;time={_stamp(ago)};msgid=m{i} :old!o@h PRIVMSG {target} :{text}"
                    )
                out.append(f"{NAME} BATCH -h1")
            elif cmd == "PRIVMSG":
                self.sent += 1
                echo = (
                    f"@time={_stamp(0)};msgid=live{self.sent} "
                    f":{nick}!u@h PRIVMSG {params[0]} :{params[1]}"
                )
                out += [echo, echo]  # the same message twice (a replay): shown once
            for reply in out:
                await ws.send(reply)


@pytest.fixture
async def fake_irc() -> AsyncIterator[FakeIRC]:
    fake = FakeIRC()
    listen = ListenSection(address="127.0.0.1:0", websocket=True)
    # Only the HTTP side of the endpoint is used: no hubbub core behind it, just its name.
    endpoint = WebSocketEndpoint(
        cast(Any, SimpleNamespace(name=NAME[1:], metrics=None, trusted_proxies=())),
        listen,
        secure=False,
    )
    async with serve(
        fake.handle,
        "127.0.0.1",
        0,
        process_request=endpoint.process_request,
        select_subprotocol=endpoint.select_subprotocol,
    ) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        fake.url = f"http://{host}:{port}/"
        yield fake


async def test_sasl_plain_and_chathistory(browser: Browser, fake_irc: FakeIRC) -> None:
    user = await WebUser.open(browser, fake_irc.url)
    page = user.page
    await page.click("#auth summary")
    await page.fill("#sasl-user", "acct")
    await page.fill("#sasl-pass", "s3cret pass")
    await user.login("histy", channels="#history")

    assert fake_irc.sasl == [b"acct\0acct\0s3cret pass"]
    for cap in ("sasl", "batch", "server-time", "draft/chathistory", "echo-message"):
        assert cap in fake_irc.requested
    assert "sts" not in fake_irc.requested

    # History arrives in a batch and is shown in time order, before the join.
    texts = user.lines("#history").locator(".text")
    await expect(texts).to_have_text(
        ["first, from before you came", "second", "third", "You joined #history"]
    )
    assert fake_irc.history_requests == [("TARGETS",), ("LATEST", "#history", "*", "50")]
    first_time = await user.lines("#history").first.locator("time").text_content()
    assert first_time is not None
    assert first_time != ""

    # A message echoed twice with one msgid is shown once.
    await user.say("live and once")
    await user.say("and a second line")
    await expect(user.lines("#history", "and a second line")).to_have_count(1)
    # Both copies of the first were handled before the second line arrived.
    await expect(user.lines("#history", "live and once")).to_have_count(1)
    await expect(page.locator("#buffers li.buffer").first).to_have_text("FakeNet")
    assert not user.errors, user.errors
    await user.close()
