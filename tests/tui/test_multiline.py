"""``draft/multiline`` in ``hubbub chat``: a received multiline message drawn as one, its later
lines indented under its text; a paste of several lines sent as one message (or refused with
the reason, or as separate lines without the capability)."""

from __future__ import annotations

from textual import events

from hubbub.client import ChatMessage, Join
from hubbub.net.app import App
from hubbub.tui.app import ChatApp, ChatInput, paste_lines
from tests.client.helpers import expect, make_client
from tests.e2e.ircclient import IRCTestClient
from tests.tui.helpers import feed, lines_of, offline_app, screen_text, submit, until

SIZE = (100, 24)
S = ":irc.example.test"
WELCOME = [
    f"{S} 001 ann :Welcome, ann",
    f"{S} 005 ann CASEMAPPING=rfc1459 PREFIX=(ov)@+ CHANTYPES=# :are supported",
    f"{S} 376 ann :End of MOTD",
]
JOINED = [":ann!a@h JOIN #hubbub", f"{S} 366 ann #hubbub :End of NAMES"]


def rows_from(screen: str, text: str, count: int) -> list[str]:
    """``count`` rows of the screen from the one holding ``text``, only the log's part (the
    sidebar and the member list cut off)."""
    rows = screen.split("\n")
    first = next(i for i, row in enumerate(rows) if text in row)
    return [row.split("│")[1].rstrip() for row in rows[first : first + count]]


def paste(app: ChatApp, text: str) -> None:
    """A bracketed paste into the input line, as the terminal sends it."""
    app.query_one("#input", ChatInput).post_message(events.Paste(text))


def test_paste_lines() -> None:
    assert paste_lines("\r\n  \none\r\ntwo\rthree\n\n") == ["one", "two", "three"]
    assert paste_lines("just one\n") == ["just one"]
    assert paste_lines(" \n ") == []


async def test_a_received_batch_is_one_message_with_its_lines_indented() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            f"{S} CAP * LS :batch draft/multiline=max-lines=10 server-time",
            f"{S} CAP * ACK :batch draft/multiline server-time",
            *WELCOME,
            *JOINED,
            "@time=2024-05-17T07:30:00.000Z :bob!b@h BATCH +m1 draft/multiline #hubbub",
            "@batch=m1 :bob!b@h PRIVMSG #hubbub :here is the plan:",
            "@batch=m1 :bob!b@h PRIVMSG #hubbub :  1. \x02tag\x02 the release,",
            "@batch=m1;draft/multiline-concat :bob!b@h PRIVMSG #hubbub : today",
            "@batch=m1 :bob!b@h PRIVMSG #hubbub :  2. tell everyone",
            ":bob!b@h BATCH -m1",
            ":carl!c@h PRIVMSG #hubbub :sounds good",
        )
        await until(pilot, lambda: "sounds good" in screen_text(app), "the lines")
        assert lines_of(app, "#hubbub")[-2:] == [
            "<bob> here is the plan:\n  1. tag the release, today\n  2. tell everyone",
            "<carl> sounds good",
        ]
        rows = rows_from(screen_text(app), "here is the plan", 4)
        start = rows[0].index("here is the plan")
        assert rows[0].endswith("<bob> here is the plan:")
        # The later lines under the text: no time, no nick again, the concatenation joined.
        assert rows[1] == " " * start + "  1. tag the release, today"
        assert rows[2] == " " * start + "  2. tell everyone"
        assert "<carl> sounds good" in rows[3]


async def test_a_paste_beyond_the_servers_limits_is_refused_with_the_reason() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            f"{S} CAP * LS :batch draft/multiline=max-bytes=4096,max-lines=2",
            f"{S} CAP * ACK :batch draft/multiline",
            *WELCOME,
            *JOINED,
        )
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel")
        paste(app, "one\ntwo\nthree")
        await until(pilot, lambda: "not sent" in screen_text(app), "the refusal")
        assert lines_of(app, "#hubbub")[-1] == (
            "not sent: 3 lines (13 bytes) is more than this server takes in one message"
            " (at most 2 lines, 4096 bytes)"
        )
        assert app.query_one("#input", ChatInput).value == ""


async def test_without_the_capability_a_long_paste_is_refused_not_flooded() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *JOINED)
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel")
        paste(app, "\n".join(f"line {i}" for i in range(21)))
        await until(pilot, lambda: "not sent" in screen_text(app), "the refusal")
        assert lines_of(app, "#hubbub")[-1] == (
            "not sent: 21 lines would go as 21 messages (this server does not take several"
            " lines as one); at most 20"
        )


async def test_a_one_line_paste_and_a_paste_into_a_command_stay_in_the_line() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *JOINED)
        box = app.query_one("#input", ChatInput)
        box.focus()
        paste(app, "just one line\n")
        await until(pilot, lambda: box.value == "just one line", "the paste in the line")
        box.value = "/topic "
        box.cursor_position = len(box.value)
        paste(app, "new topic\nsecond line")
        await until(pilot, lambda: box.value == "/topic new topic", "its first line only")


async def test_a_pasted_block_goes_as_one_batch(hubbub_server: App) -> None:
    host, port = hubbub_server.address("irc")
    plain = await IRCTestClient.connect(host, port)
    await plain.register("carol")  # no draft/multiline: the lines one by one
    await plain.send("JOIN #ml")
    await plain.expect("366")
    client = make_client(f"{host}:{port}", "ann")
    await client.connect()
    app = ChatApp(client)
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, app, "/join #ml")
        await until(pilot, lambda: app.model.current.name == "#ml", "#ml to open")
        async with make_client(f"{host}:{port}", "bob", channels=["#ml"]) as bob:
            await expect(bob, Join)
            app.query_one("#input", ChatInput).value = "look: "
            app.query_one("#input", ChatInput).cursor_position = 6
            paste(app, "first\nsecond\nthird")
            got = await expect(bob, ChatMessage, lambda e: e.source == "ann")
            assert got.text == "look: first\nsecond\nthird"  # one message, with its lines
            assert got.msgid
            separate = [await plain.expect("PRIVMSG") for _ in range(3)]
            assert [m.params[1] for m in separate] == ["look: first", "second", "third"]
            await until(pilot, lambda: "<ann> look: first" in screen_text(app), "the echo")
            assert lines_of(app, "#ml")[-1] == "<ann> look: first\nsecond\nthird"

            # And bob's block, received: one message, its lines under its text.
            await bob.send_message("#ml", "from bob\nmore from bob")
            await until(pilot, lambda: "more from bob" in screen_text(app), "bob's block")
            rows = rows_from(screen_text(app), "<bob> from bob", 2)
            assert rows[1].strip() == "more from bob"
            assert rows[1].index("more") == rows[0].index("from bob")
        await submit(pilot, app, "/quit")
    await plain.close()
