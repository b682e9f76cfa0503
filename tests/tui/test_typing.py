"""Typing notifications (IRCv3 ``+typing``): the library's Typing events and send_typing,
and the chat showing and sending them, against a real hubbub server."""

from __future__ import annotations

import asyncio

from hubbub.client import ChatMessage, ClientSession, Event, Join, Other, Typing
from hubbub.client.session import ClientConfig
from hubbub.net.app import App
from hubbub.protocol import parse
from hubbub.tui.app import ChatApp
from tests.client.helpers import expect, make_client
from tests.timeouts import TIMEOUT
from tests.tui.helpers import feed, offline_app, screen_text, submit, until
from tests.tui.test_app_offline import CHANNEL, WELCOME

SIZE = (100, 24)


def session(*lines: str) -> tuple[ClientSession, list[Event]]:
    """A session as ann that has read ``lines``; the events of the last one."""
    s = ClientSession(ClientConfig("ann"))
    events: list[Event] = []
    for text in lines:
        events = s.receive(parse(text))
    return s, events


CAPS = (
    ":srv CAP * LS :message-tags echo-message",
    ":srv CAP * ACK :message-tags echo-message",
    ":srv 001 ann :Welcome",
)


def test_typing_events_from_tagmsg() -> None:
    _, events = session(*CAPS, "@+typing=active :bob!b@h TAGMSG #chan")
    assert events == [Typing("bob", "#chan", "#chan", "active", message=events[0].message)]
    _, events = session(*CAPS, "@+typing=done :bob!b@h TAGMSG ann")
    assert isinstance(events[0], Typing)
    assert (events[0].conversation, events[0].state) == ("bob", "done")
    _, events = session(*CAPS, "@+typing=paused :ann!a@h TAGMSG bob")
    assert isinstance(events[0], Typing)
    assert (events[0].conversation, events[0].from_self) == ("bob", True)
    for other in ("@+typing=bogus :bob!b@h TAGMSG #c", "@+draft/react=x :bob!b@h TAGMSG #c"):
        _, events = session(*CAPS, other)
        assert isinstance(events[0], Other)


def test_typing_message_needs_message_tags_and_the_tag_allowed() -> None:
    s, _ = session(*CAPS)
    msg = s.typing_message("#chan", "active")
    assert msg is not None
    assert msg.to_bytes() == b"@+typing=active TAGMSG #chan\r\n"
    s, _ = session(*CAPS, ":srv 005 ann CLIENTTAGDENY=*,-typing :are supported")
    assert s.typing_message("#chan", "done") is not None
    s, _ = session(*CAPS, ":srv 005 ann CLIENTTAGDENY=typing :are supported")
    assert s.typing_message("#chan", "done") is None
    s, _ = session(":srv 001 ann :Welcome")  # no message-tags
    assert s.typing_message("#chan", "active") is None


async def test_typing_is_shown_and_sent(hubbub_server: App) -> None:
    host, port = hubbub_server.address("irc")
    address = f"{host}:{port}"
    clock = [1000.0]
    client = make_client(address, "ann", channels=["#t"])
    await client.connect()
    app = ChatApp(client, monotonic=lambda: clock[0])
    async with app.run_test(size=SIZE) as pilot, make_client(address, "bob") as bob:
        await until(pilot, lambda: app.model.current.name == "#t", "#t")
        await bob.join("#t")
        await expect(bob, Join, lambda e: e.is_self)
        await until(pilot, lambda: "bob" in screen_text(app), "bob in #t")

        # Shown: until bob's message, until done, or 6 s after the last active.
        assert await bob.send_typing("#t", "active")
        await until(pilot, lambda: "bob is typing…" in screen_text(app), "bob typing")
        await bob.send_message("#t", "hello")
        await until(pilot, lambda: "bob is typing" not in screen_text(app), "the notice to go")
        await bob.send_typing("#t", "active")
        await until(pilot, lambda: "bob is typing…" in screen_text(app), "bob typing again")
        await bob.send_typing("#t", "done")
        await until(pilot, lambda: "bob is typing" not in screen_text(app), "done")
        await bob.send_typing("#t", "active")
        await until(pilot, lambda: "bob is typing…" in screen_text(app), "bob typing again")
        clock[0] += 6.5
        await until(pilot, lambda: "bob is typing" not in screen_text(app), "the notice to expire")

        # Sent: active when ann types (at most every 3 s), done when she clears the line.
        await pilot.press("h")
        typing = await expect(bob, Typing, lambda e: e.nick == "ann")
        assert (typing.conversation, typing.state) == ("#t", "active")
        await pilot.press("i", "backspace", "backspace")  # within 3 s: no second active
        typing = await expect(bob, Typing, lambda e: e.nick == "ann")
        assert typing.state == "done"
        clock[0] += 3.5
        await pilot.press("o", "k")
        typing = await expect(bob, Typing, lambda e: e.nick == "ann")
        assert typing.state == "active"
        await pilot.press("enter")  # the message says it all: no done after it
        said = await expect(bob, ChatMessage, lambda e: e.source == "ann")
        assert said.text == "ok"

        # A command is not typing; /set typing off stops the notices.
        clock[0] += 3.5
        await submit(pilot, app, "/set typing off")
        assert not app.send_typing
        await pilot.press("n", "o")
        await pilot.press("enter")
        seen: list[Event] = []
        async with asyncio.timeout(TIMEOUT):
            async for event in bob:
                seen.append(event)
                if isinstance(event, ChatMessage) and event.source == "ann":
                    assert event.text == "no"
                    break
        assert not [e for e in seen if isinstance(e, Typing)], seen
        await client.quit()


async def test_the_typing_line_does_not_hide_the_last_message() -> None:
    # The line takes a row from the log: the log scrolls to keep its last line in view.
    app = ChatApp(offline_app().client, monotonic=lambda: 0.0)  # (the notice never expires)
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            ":irc.example.test CAP * ACK :message-tags",
            *WELCOME,
            *CHANNEL,
            *[f":bob!b@h PRIVMSG #hubbub :line {i}" for i in range(40)],
        )
        await until(pilot, lambda: "<bob> line 39" in screen_text(app), "the last line")
        await feed(app, "@+typing=active :carl!c@h TAGMSG #hubbub")
        await until(pilot, lambda: "carl is typing…" in screen_text(app), "the typing line")
        await until(pilot, lambda: "<bob> line 39" in screen_text(app), "the last line again")
        log = app.log_of("#hubbub")
        assert log is not None
        assert log.scroll_y == log.max_scroll_y > 0
