"""The chat's history (issue #14), with Pilot against the scripted history server: what was
missed put in place on join and after a reconnection, scrolling back, read markers and
unread counts, and ``/search``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.style import Style

from hubbub.client import Client
from hubbub.protocol import Message
from hubbub.tui.app import ChatApp
from hubbub.tui.model import DIVIDER_TEXT, START_TEXT
from hubbub.tui.search import SearchScreen, parse_search
from tests.client.fakeserver import FakeServer, HistoryOptions, line, running, stamp
from tests.client.helpers import make_client
from tests.tui.helpers import (
    FIXED_TIME,
    check_snapshot,
    feed,
    lines_of,
    offline_app,
    screen_text,
    sidebar,
    submit,
    until,
)
from tests.tui.test_app_offline import CHANNEL, WELCOME, S

SIZE = (100, 30)
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def at(i: int) -> datetime:
    """The time of message ``i`` (one a second)."""
    return BASE + timedelta(seconds=i)


def said(i: int, target: str = "#chan", nick: str = "bob", text: str | None = None) -> Message:
    """Stored message ``i`` (msgid ``m<i>``), by default ``<bob> message 00i`` in #chan."""
    return line(stamp(at(i)), f"m{i}", f"{nick}!u@h", "PRIVMSG", target, text or f"message {i:03d}")


def shown(i: int, nick: str = "bob") -> str:
    """How message ``i`` reads in the conversation."""
    return f"<{nick}> message {i:03d}"


def marker(i: int) -> str:
    """A MARKREAD value: read up to message ``i``."""
    return "timestamp=" + stamp(at(i))


@dataclass
class Setup:
    fake: FakeServer
    opts: HistoryOptions
    address: str
    client: Client
    app: ChatApp

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as a lost network would."""
        for peer in list(self.fake.peers):
            peer.writer.close()


@asynccontextmanager
async def chat(opts: HistoryOptions, *channels: str) -> AsyncIterator[Setup]:
    """``hubbub chat``'s app as ann, joined to ``channels`` on the history server."""
    fake = FakeServer({}, opts)
    async with running(fake) as address:
        client = make_client(address, "ann", channels=channels, reconnect=True)
        await client.connect()
        app = ChatApp(client)
        app.markread_delay = 0.05
        try:
            yield Setup(fake, opts, address, client, app)
        finally:
            await client.close()


async def test_history_on_join_then_what_was_missed_after_a_reconnection() -> None:
    opts = HistoryOptions(
        messages={"#chan": [said(i) for i in range(1, 6)]}, markers={"#chan": marker(3)}
    )
    async with chat(opts, "#chan") as s, s.app.run_test(size=SIZE) as pilot:
        app = s.app
        await until(pilot, lambda: shown(5) in lines_of(app, "#chan"), "the history of #chan")
        lines = lines_of(app, "#chan")
        # Read up to message 3 (the server's marker): the new messages line before 4.
        assert lines[:6] == [shown(1), shown(2), shown(3), DIVIDER_TEXT, shown(4), shown(5)]
        assert "→ you joined #chan" in lines
        screen = screen_text(app)
        assert screen.index("message 003") < screen.index("new messages") < screen.index("004")

        # Shown at its latest line: read up to message 5, told to the server once.
        await until(pilot, lambda: opts.markers.get("#chan") == marker(5), "the MARKREAD")
        await pilot.pause(0.2)
        sent = [r for r in s.fake.received if r.startswith("MARKREAD #chan timestamp=")]
        assert sent == [f"MARKREAD #chan {marker(5)}"]

        # The connection is lost; meanwhile two messages in #chan and a private one.
        opts.messages["#chan"] += [said(6), said(7)]
        opts.messages["dave"] = [said(8, "ann", "dave", "are you there?")]
        s.drop_connections()
        await until(pilot, lambda: shown(7) in lines_of(app, "#chan"), "the missed messages")
        lines = lines_of(app, "#chan")
        for i in range(1, 8):
            assert lines.count(shown(i)) == 1, lines
        assert lines.count(DIVIDER_TEXT) == 1
        divider = lines.index(DIVIDER_TEXT)
        assert lines[divider + 1 : divider + 3] == [shown(6), shown(7)]
        assert any(text.startswith("disconnected:") for text in lines)
        # Asked for what came after the last line seen, by its msgid.
        assert "CHATHISTORY LATEST #chan msgid=m5 100" in s.fake.received

        # The private conversation active meanwhile: opened, counted as unread and a mention.
        await until(pilot, lambda: "dave (1) [1]" in sidebar(app), "the private conversation")
        assert lines_of(app, "dave") == [DIVIDER_TEXT, "<dave> are you there?"]
        await pilot.press("ctrl+n")
        assert app.model.current.name == "dave"
        assert "<dave> are you there?" in screen_text(app)


async def test_page_up_at_the_top_loads_older_messages_back_to_the_start() -> None:
    opts = HistoryOptions(messages={"#chan": [said(i) for i in range(45)]})
    async with chat(opts, "#chan") as s, s.app.run_test(size=SIZE) as pilot:
        app = s.app
        app.page = 10
        await until(pilot, lambda: shown(44) in lines_of(app, "#chan"), "the latest messages")
        assert shown(33) not in lines_of(app, "#chan")
        for _ in range(50):  # a page of the screen at a time, and a page of history at the top
            if START_TEXT in lines_of(app, "#chan"):
                break
            await pilot.press("pageup")
            await pilot.pause(0.05)
        await until(pilot, lambda: START_TEXT in lines_of(app, "#chan"), "the start of history")
        lines = lines_of(app, "#chan")
        assert lines[0] == START_TEXT
        assert [t for t in lines if t.startswith("<")] == [shown(i) for i in range(45)]
        assert "CHATHISTORY BEFORE #chan msgid=m35 10" in s.fake.received
        assert "message 000" in screen_text(app)  # and the view went up with them
        befores = [r for r in s.fake.received if r.startswith("CHATHISTORY BEFORE")]
        assert len(befores) == 4  # 35 older: pages of 10, 10, 10 and a short one of 5


async def test_unread_counts_come_from_read_markers_and_follow_other_clients() -> None:
    opts = HistoryOptions(
        messages={
            "#chan": [said(i) for i in range(3)],
            "#side": [said(i, "#side") for i in (3, 4, 5, 6, 7)],
        },
        markers={"#side": marker(4)},
    )
    async with chat(opts, "#chan", "#side") as s, s.app.run_test(size=SIZE) as pilot:
        app = s.app
        # #chan (shown) has no marker: its history is no news. #side was read up to 4.
        await until(pilot, lambda: "#side (3)" in sidebar(app), "the unread count of #side")
        assert sidebar(app) == ["server", "#chan", "#side (3)"]

        # Another client of the same user reads #side: its count goes.
        async with make_client(s.address, "ann_phone") as phone:
            assert await phone.mark_read("#side", at(7)) == at(7)
        await until(pilot, lambda: "#side" in sidebar(app), "the count to clear")

        # Lost connection, two more in #side: counted from the marker the server gives back.
        opts.messages["#side"] += [said(8, "#side"), said(9, "#side", text="ann: look")]
        s.drop_connections()
        await until(pilot, lambda: "#side (2) [1]" in sidebar(app), "the new unread count")

        # Shown: the new messages line is where the other client stopped.
        await pilot.press("alt+3")
        lines = lines_of(app, "#side")
        assert lines[lines.index(DIVIDER_TEXT) + 1 :][:2] == [shown(8), "<bob> ann: look"]
        assert sidebar(app) == ["server", "#chan", "#side"]
        await until(pilot, lambda: opts.markers.get("#side") == marker(9), "the marker to move")


def drawn(app: ChatApp, word: str) -> Style:
    """The style ``word`` is drawn in on the screen."""
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if word in segment.text and segment.style is not None:
                return segment.style
    raise AssertionError(f"{word!r} is not on the screen")


async def test_search_opens_the_conversation_around_the_result() -> None:
    opts = HistoryOptions(messages={"#chan": [said(i) for i in range(60)]})
    async with chat(opts, "#chan") as s, s.app.run_test(size=SIZE) as pilot:
        app = s.app
        app.page = 10
        await until(pilot, lambda: shown(59) in lines_of(app, "#chan"), "the latest messages")
        await submit(pilot, app, "/search in:#chan from:bob message 012")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "the results")
        assert s.fake.searches[-1] == {
            "in": "#chan",
            "from": "bob",
            "text": "message 012",
            "limit": "100",
        }
        text = screen_text(app)
        assert '1 message for "message 012" in #chan from bob' in text
        assert "<bob> message 012" in text
        await pilot.press("enter")
        await until(pilot, lambda: app.model.current.focus == "m12", "the result's conversation")
        await until(pilot, lambda: "message 012" in screen_text(app), "the result on screen")
        lines = lines_of(app, "#chan")
        assert shown(12) in lines
        assert shown(59) not in lines  # a stretch of the past, not the latest
        assert "#chan: earlier messages" in screen_text(app)
        assert drawn(app, "message 012").reverse
        assert not drawn(app, "message 013").reverse

        # Ctrl+End: back to the latest; the highlight goes.
        await pilot.press("ctrl+end")
        await until(pilot, lambda: shown(59) in lines_of(app, "#chan"), "the latest again")
        assert not app.model.current.detached
        assert "earlier messages" not in screen_text(app)


async def test_search_without_results_or_words() -> None:
    opts = HistoryOptions(messages={"#chan": [said(i) for i in range(3)]})
    async with chat(opts, "#chan") as s, s.app.run_test(size=SIZE) as pilot:
        app = s.app
        await until(pilot, lambda: shown(2) in lines_of(app, "#chan"), "the history")
        await submit(pilot, app, "/search nothing like it")
        await until(
            pilot,
            lambda: lines_of(app, "#chan")[-1] == 'no messages found for "nothing like it"',
            "the answer",
        )
        await submit(pilot, app, "/search")
        assert lines_of(app, "#chan")[-1].startswith("usage: /search")


def test_search_words() -> None:
    q = parse_search("release in:#hubbub notes FROM:bob")
    assert (q.text, q.in_, q.from_) == ("release notes", "#hubbub", "bob")
    assert q.describe() == '"release notes" in #hubbub from bob'
    q = parse_search("in: from:x")
    assert (q.text, q.in_, q.from_) == ("in:", None, "x")
    assert parse_search("").empty
    assert parse_search("from:ann").describe() == "messages from ann"


async def test_history_view_snapshot() -> None:
    # A join with history, the marker in the middle of it, and someone typing: the window
    # docs/client.md shows.
    def tag(minutes: int) -> str:
        return stamp(FIXED_TIME + timedelta(minutes=minutes))

    client = offline_app().client
    app = ChatApp(client, clock=lambda: FIXED_TIME, monotonic=lambda: 0.0)
    async with app.run_test(size=(100, 16)) as pilot:
        await feed(
            app,
            f"{S} CAP * LS :batch server-time message-tags draft/chathistory draft/read-marker",
            f"{S} CAP * ACK :batch server-time message-tags draft/chathistory draft/read-marker",
            *WELCOME,
            *CHANNEL[:1],
            f"{S} MARKREAD #hubbub timestamp={tag(-7)}",
            *CHANNEL[1:],
            f"{S} BATCH +h chathistory #hubbub",
            f"@batch=h;time={tag(-9)};msgid=1 :bob!b@h PRIVMSG #hubbub :the release is tagged",
            f"@batch=h;time={tag(-7)};msgid=2 :ann!a@h PRIVMSG #hubbub :thanks bob, going home",
            f"@batch=h;time={tag(-4)};msgid=3 :carl!c@h PRIVMSG #hubbub :ann: the docs build broke",
            f"@batch=h;time={tag(-3)};msgid=4 :bert!t@h PRIVMSG #hubbub :\x01ACTION looks\x01",
            f"@batch=h;time={tag(-1)};msgid=5 :carl!c@h PRIVMSG #hubbub :fixed, never mind",
            f"{S} BATCH -h",
            "@+typing=active :bob!b@h TAGMSG #hubbub",
        )
        await until(pilot, lambda: "bob is typing…" in screen_text(app), "the typing line")
        lines = lines_of(app, "#hubbub")
        assert lines.index(DIVIDER_TEXT) == lines.index("<carl> ann: the docs build broke") - 1
        check_snapshot("history_view", screen_text(app))


async def test_new_messages_line_when_coming_back_and_deleted_messages() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            f"{S} CAP * LS :message-tags server-time draft/message-redaction",
            f"{S} CAP * ACK :message-tags server-time draft/message-redaction",
            *WELCOME,
            ":ann!a@h JOIN #a",
            ":ann!a@h JOIN #b",
            "@msgid=x1 :bob!b@h PRIVMSG #b :seen before",
        )
        await pilot.press("alt+3")
        await pilot.press("alt+2")  # #b was seen up to its last line
        await feed(
            app,
            "@msgid=x2 :bob!b@h PRIVMSG #b :first unread",
            "@msgid=x3 :bob!b@h PRIVMSG #b :second unread",
        )
        await until(pilot, lambda: "#b (2)" in sidebar(app), "the unread count")
        await pilot.press("alt+3")
        lines = lines_of(app, "#b")
        assert lines[-3:] == [DIVIDER_TEXT, "<bob> first unread", "<bob> second unread"]
        assert "new messages" in screen_text(app)
        assert lines.count(DIVIDER_TEXT) == 1

        # Read now: next time, no line (the old one goes too).
        await pilot.press("alt+2", "alt+3")
        assert DIVIDER_TEXT not in lines_of(app, "#b")

        # Deleted by bob: the text goes, the line stays.
        await feed(app, ":bob!b@h REDACT #b x2 :oops")
        await until(pilot, lambda: "(message deleted)" in screen_text(app), "the deletion")
        assert lines_of(app, "#b")[-2:] == ["<bob> (message deleted)", "<bob> second unread"]
        assert "first unread" not in screen_text(app)
