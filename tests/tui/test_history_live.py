"""Read markers in the chat against a real hubbub server, with an account used from two
connections (the chat, and "a phone"): counts cleared from the other connection, and counted
from the markers after a reconnection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hubbub.client import ChatMessage, Join, Other, SaslConfig, SaslSucceeded
from hubbub.net.app import App
from hubbub.tui.app import ChatApp
from tests.client.helpers import expect, make_client
from tests.tui.helpers import lines_of, sidebar, until
from tests.tui.proxy import Proxy

SIZE = (100, 24)
PASSWORD = "correct-horse-battery"


def saying(text: str) -> Callable[[ChatMessage], bool]:
    """A predicate: a message with this text."""
    return lambda event: event.text == text


async def register(address: str) -> None:
    """The account ``ann``."""
    async with make_client(address, "ann") as client:
        await client.send_raw(f"REGISTER * * :{PASSWORD}")
        done = await expect(
            client, Other, lambda e: e.message is not None and e.message.command == "REGISTER"
        )
        assert done.message is not None
        assert done.message.params[0] == "SUCCESS"


async def test_read_markers_across_connections_and_a_reconnection(hubbub_server: App) -> None:
    host, port = hubbub_server.address("irc")
    address = f"{host}:{port}"
    await register(address)
    sasl = SaslConfig("ann", PASSWORD, required=True)
    proxy = Proxy(port)
    client = make_client(
        f"127.0.0.1:{proxy.port}", "ann", channels=["#r", "#s"], sasl=sasl, reconnect=True
    )
    try:
        await client.connect()
        app = ChatApp(client)
        app.markread_delay = 0.05
        async with (
            app.run_test(size=SIZE) as pilot,
            make_client(address, "bob", channels=["#r", "#s"]) as bob,
            make_client(address, "phone", sasl=sasl, channels=["#s"]) as phone,
        ):
            await expect(phone, SaslSucceeded)
            await until(pilot, lambda: sidebar(app) == ["server", "#r", "#s"], "both channels")
            await expect(bob, Join, lambda e: e.is_self and e.channel == "#s")

            # #r is shown: bob's line there is read, and the server hears of it.
            await bob.send_message("#r", "in r")
            said = await expect(bob, ChatMessage, lambda e: e.text == "in r")
            await until(pilot, lambda: "<bob> in r" in lines_of(app, "#r"), "bob's line")
            assert said.time is not None
            when = said.time
            r = app.model.get("#r")
            assert r is not None
            await until(pilot, lambda: r.sent_marker == when, "the MARKREAD")
            assert await phone.read_marker("#r") == when

            # #s is not shown: counted, until the phone reads it.
            for text in ("one", "two"):
                await bob.send_message("#s", text)
            await until(pilot, lambda: "#s (2)" in sidebar(app), "the unread count")
            last = await expect(phone, ChatMessage, lambda e: e.text == "two")
            assert last.time is not None
            await phone.mark_read("#s", last.time)
            await until(pilot, lambda: sidebar(app) == ["server", "#r", "#s"], "no count")

            # The chat's connection is lost; three lines in #s, the phone reads the first.
            proxy.cut()
            await until(pilot, lambda: app.model.status.startswith("reconnecting"), "the loss")
            times: list[datetime] = []
            for text in ("three", "four", "five"):
                await bob.send_message("#s", text)
                seen = await expect(phone, ChatMessage, saying(text))
                assert seen.time is not None
                times.append(seen.time)
                if text == "three":
                    await phone.mark_read("#s", seen.time)
            proxy.restore()
            # (a marker is a time, to the millisecond: a line of the same millisecond as the
            # one read counts as read too)
            unread = sum(t > times[0] for t in times)
            label = f"#s ({unread})" if unread else "#s"
            await until(pilot, lambda: label in sidebar(app), "the count from the marker")
            lines = lines_of(app, "#s")
            assert [t for t in lines if t.startswith("<bob>")] == [
                f"<bob> {t}" for t in ("one", "two", "three", "four", "five")
            ]
            await pilot.press("alt+3")
            lines = lines_of(app, "#s")
            if unread:
                first = ("three", "four", "five")[3 - unread]
                assert lines[lines.index("── new messages ──") + 1] == f"<bob> {first}"
            conv = app.model.get("#s")
            assert conv is not None
            # (read up to its latest line, which is the chat's own join, after "five")
            await until(pilot, lambda: (conv.sent_marker or times[0]) >= times[-1], "read here")
            marker = await phone.read_marker("#s")
            assert marker is not None
            assert marker >= times[-1]
    finally:
        await client.quit()
        proxy.close()
