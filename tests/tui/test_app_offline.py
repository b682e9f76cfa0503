"""The Textual app with scripted server lines (no network): drawing, keys and commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from rich.color import Color
from rich.style import Style
from textual import events
from textual.widgets import Label, ListItem

from hubbub.client import Client
from hubbub.protocol import Message as IrcMessage
from hubbub.tui.app import ChatApp, ChatInput
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

SIZE = (100, 24)
S = ":irc.example.test"

WELCOME = [
    ":irc.example.test 001 ann :Welcome to the Example network, ann",
    ":irc.example.test 005 ann CASEMAPPING=rfc1459 PREFIX=(ov)@+ CHANTYPES=# :are supported",
    ":irc.example.test 376 ann :End of MOTD",
]
CHANNEL = [
    ":ann!a@h JOIN #hubbub",
    ":irc.example.test 332 ann #hubbub :Talk about hubbub here",
    ":irc.example.test 353 ann = #hubbub :@ann +bob bert carl",
    ":irc.example.test 366 ann #hubbub :End of NAMES",
]


async def scripted(app: ChatApp) -> None:
    await feed(app, *WELCOME, *CHANNEL)
    await feed(
        app,
        ":bob!b@h PRIVMSG #hubbub :good morning everyone",
        ":carl!c@h PRIVMSG #hubbub :\x01ACTION brings coffee\x01",
        ":bert!t@h PRIVMSG #hubbub :ann: did the release go out?",
        ":dora!d@h JOIN #hubbub",
    )


async def test_channel_view_snapshot() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await scripted(app)
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel to open")
        await pilot.pause()
        check_snapshot("channel_view", screen_text(app))


async def test_join_opens_and_shows_the_channel() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await scripted(app)
        await pilot.pause()
        assert app.model.current.name == "#hubbub"
        assert sidebar(app) == ["server", "#hubbub"]
        text = screen_text(app)
        assert "#hubbub: Talk about hubbub here" in text
        assert "<bob> good morning everyone" in text
        assert "* carl brings coffee" in text
        assert "→ dora (d@h) joined" in text
        assert "@ann" in text
        assert "+bob" in text
        assert "5 here" in text


async def test_receive_in_background_counts_unread_and_mentions() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await pilot.press("alt+1")  # back to the server window
        assert app.model.current.name == "*"
        await feed(
            app,
            ":bob!b@h PRIVMSG #hubbub :one",
            ":bob!b@h PRIVMSG #hubbub :two, ann",
            ":erin!e@h PRIVMSG ann :are you there?",
        )
        await pilot.pause()
        assert sidebar(app) == ["server", "#hubbub (2) [1]", "erin (1) [1]"]
        assert lines_of(app, "erin") == ["<erin> are you there?"]
        await pilot.press("ctrl+n")
        assert app.model.current.name == "#hubbub"
        assert sidebar(app) == ["server", "#hubbub", "erin (1) [1]"]
        await pilot.press("ctrl+n")
        assert app.model.current.name == "erin"
        assert "private conversation with erin" in screen_text(app)
        await pilot.press("ctrl+p", "ctrl+p")
        assert app.model.current.name == "*"


async def test_switch_by_clicking_the_sidebar() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL, ":erin!e@h PRIVMSG ann :hi")
        await pilot.pause()
        assert app.model.current.name == "#hubbub"
        await pilot.click("#sidebar ListItem", offset=(2, 0))  # the first item: server
        await until(pilot, lambda: app.model.current.name == "*", "the server window")
        assert app.focused is app.query_one("#input")


async def test_tab_completion() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        box = app.query_one("#input", ChatInput)
        await pilot.press("b", "tab")
        assert box.value == "bert: "
        await pilot.press("tab")
        assert box.value == "bob: "
        await pilot.press("tab")
        assert box.value == "bert: "
        await pilot.press(*"see #h", "tab")
        assert box.value == "bert: see #hubbub "
        await pilot.press("ctrl+u", "/", "j", "o", "tab")
        assert box.value == "/join "
        await pilot.press("ctrl+u", "/", "x", "tab")
        assert box.value == "/x"  # nothing matches: unchanged
        # As the server compares nicks (CASEMAPPING=rfc1459): {z is [Z.
        await feed(app, ":[Zed]!z@h JOIN #hubbub")
        await pilot.press("ctrl+u", "{", "z", "tab")
        assert box.value == "[Zed]: "


async def test_commands_help_unknown_and_input_history() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME)
        box = app.query_one("#input", ChatInput)
        await submit(pilot, app, "/help")
        assert any("/join #channel [key]" in line for line in lines_of(app, "*"))
        assert "Ctrl+N" in "\n".join(lines_of(app, "*"))
        await submit(pilot, app, "/frobnicate")
        assert lines_of(app, "*")[-1] == "unknown command /frobnicate; /help lists them"
        await submit(pilot, app, "hello?")
        assert lines_of(app, "*")[-1].startswith("this is the server window")
        await pilot.press("up")
        assert box.value == "hello?"
        await pilot.press("up", "up")
        assert box.value == "/help"
        await pilot.press("down", "down", "down")
        assert box.value == ""


async def test_not_connected_is_reported() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await submit(pilot, app, "hello")
        await until(
            pilot,
            lambda: lines_of(app, "#hubbub")[-1] == "not sent: not connected to a server",
            "the message's failure",
        )
        await submit(pilot, app, "/nick other")
        await until(
            pilot,
            lambda: lines_of(app, "#hubbub")[-1] == "/nick: not connected to a server",
            "the command's failure",
        )


class HeldClient(Client):
    """A client whose first message waits for ``gate`` to open (as flood control holds
    it); what it sends is kept in ``sent``."""

    def __init__(self) -> None:
        super().__init__("irc.example.test:6667", nick="ann")
        self.gate = asyncio.Event()
        self.sent: list[tuple[str, str]] = []

    async def send_message(
        self, target: str, text: str, *, notice: bool = False, action: bool = False
    ) -> None:
        if not self.sent:
            await self.gate.wait()
        self.sent.append((target, text))

    async def send_typing(self, target: str, state: str = "active") -> bool:
        self.sent.append((target, f"+typing={state}"))
        return True


async def test_sending_never_holds_the_window_and_keeps_the_order() -> None:
    client = HeldClient()
    app = ChatApp(client, clock=lambda: FIXED_TIME)
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel")
        app.query_one("#input", ChatInput).post_message(events.Paste("one\ntwo"))
        await pilot.pause()
        await submit(pilot, app, "three")
        await submit(pilot, app, "/msg bob four")
        # The first is held: the keys still work, and nothing overtakes it.
        await pilot.press("alt+1")
        assert app.model.current.name == "*"
        await submit(pilot, app, "/join #other")  # (it fails: this client never connects)
        await pilot.pause(0.1)
        assert client.sent == []
        assert not any("/join" in line for line in lines_of(app, "*"))
        client.gate.set()
        await until(pilot, lambda: "/join: not connected" in lines_of(app, "*")[-1], "the /join")
        assert client.sent == [
            ("#hubbub", "one\ntwo"),
            ("#hubbub", "+typing=active"),  # (typing "three": after the paste, not before)
            ("#hubbub", "three"),
            ("bob", "four"),
        ]


async def test_part_kick_nick_quit_and_topic_lines() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL, ":carl!c@h PRIVMSG ann :psst")
        await feed(
            app,
            ":bob!b@h NICK robert",
            ":carl!c@h NICK carlos",
            ":bert!t@h PART #hubbub :lunch",
            ":robert!b@h TOPIC #hubbub :New topic",
            ":robert!b@h MODE #hubbub +o carlos",
            ":carlos!c@h QUIT :gone",
            ":robert!b@h KICK #hubbub ann :out",
        )
        await pilot.pause()
        assert lines_of(app, "#hubbub")[-7:] == [
            "bob is now known as robert",
            "carl is now known as carlos",
            "← bert left (lunch)",
            "robert changed the topic to: New topic",
            "robert sets mode +o carlos",
            "← carlos quit (gone)",
            "← you were kicked by robert (out)",
        ]
        assert sidebar(app) == ["server", "(#hubbub)", "carlos (1) [1]"]
        assert lines_of(app, "carlos")[-2:] == [
            "carl is now known as carlos",
            "← carlos quit (gone)",
        ]
        assert "not joined" in screen_text(app)


async def test_a_history_batch_goes_in_place_without_duplicates() -> None:
    # A chathistory batch the server sends by itself (a join replay) is put in place by
    # time, and a message in it that also arrived live is shown once.
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            ":irc.example.test CAP * LS :batch server-time draft/chathistory",
            ":irc.example.test CAP * ACK :batch draft/chathistory server-time",
            *WELCOME,
            "@time=2024-05-17T08:05:00Z;msgid=j :ann!a@h JOIN #hubbub",
            *CHANNEL[1:],
            "@time=2024-05-17T08:06:00Z;msgid=c :bob!b@h PRIVMSG #hubbub :live now",
            ":irc.example.test BATCH +h1 chathistory #hubbub",
            "@batch=h1;time=2024-05-17T08:00:00Z;msgid=a :carl!c@h PRIVMSG #hubbub :earlier",
            "@batch=h1;time=2024-05-17T08:01:00Z;msgid=b :ann!a@h PRIVMSG #hubbub :me earlier",
            "@batch=h1;time=2024-05-17T08:06:00Z;msgid=c :bob!b@h PRIVMSG #hubbub :live now",
            ":irc.example.test BATCH -h1",
        )
        await pilot.pause()
        assert lines_of(app, "#hubbub") == [
            "<carl> earlier",
            "<ann> me earlier",
            "→ you joined #hubbub",
            "topic: Talk about hubbub here",
            "<bob> live now",
        ]
        text = screen_text(app)
        assert text.index("<carl> earlier") < text.index("<bob> live now")
        assert text.count("live now") == 1


async def test_query_close_and_away() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await submit(pilot, app, "/query erin")
        assert app.model.current.name == "erin"
        assert sidebar(app) == ["server", "#hubbub", "erin"]
        await submit(pilot, app, "/close")
        assert sidebar(app) == ["server", "#hubbub"]
        assert app.model.current.name == "#hubbub"
        await feed(app, ":irc.example.test 306 ann :You have been marked as being away")
        await pilot.pause()
        assert "You have been marked as being away" in lines_of(app, "#hubbub")[-1]
        await submit(pilot, app, "/topic")
        assert lines_of(app, "#hubbub")[-1] == "topic of #hubbub: Talk about hubbub here"
        await submit(pilot, app, "/join")
        assert lines_of(app, "#hubbub")[-1] == "usage: /join #channel [key]"


async def test_formatting_and_escape_sequences_never_reach_the_terminal() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            *WELCOME,
            *CHANNEL,
            ":bob!b@h PRIVMSG #hubbub :\x02bold\x02 \x0304red\x03 \x1b[2Jgone",
            ":bob!b@h TOPIC #hubbub :\x1b]0;pwned\x07topic",
        )
        await pilot.pause()
        assert "<bob> bold red [2Jgone" in lines_of(app, "#hubbub")
        text = screen_text(app)
        assert "\x1b" not in text
        assert "#hubbub: ]0;pwnedtopic" in text


def log_rows(app: ChatApp, name: str) -> list[str]:
    """The rows conversation ``name``'s log has rendered (wrapped), trailing spaces removed."""
    log = app.log_of(name)
    assert log is not None
    return [strip.text.rstrip() for strip in log.lines]


async def test_lines_that_arrive_while_a_conversation_is_hidden_wrap_at_its_real_width() -> None:
    # Issue #14: a log hidden by the switcher has no width; lines written to it then were
    # wrapped at RichLog's min_width (20 columns) and stayed so when it was shown again.
    long = " ".join(f"w{i:02}" for i in range(30))  # 119 characters
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, ":ann!a@h JOIN #a", ":ann!a@h JOIN #b")
        await pilot.press("alt+3")  # view #b, so its log has had a width
        await pilot.pause()
        await pilot.press("alt+2")  # leave it: hidden again
        await feed(app, f":bob!b@h PRIVMSG #b :{long}")
        await pilot.press("alt+3")
        await until(pilot, lambda: "<bob> w00" in screen_text(app), "bob's line in #b")
        log = app.log_of("#b")
        assert log is not None
        width = log.scrollable_content_region.width
        assert width > 50
        rows = log_rows(app, "#b")
        assert rows[1].strip() == "── new messages ──"  # bob's line is unread
        assert rows[2].startswith("09:30 <bob> w00 w01 w02")
        assert all(len(row) <= width for row in rows)
        assert len(rows) == 2 + 3  # the join and new-messages lines, then 131 columns in three
        assert "09:30 <bob> w00 w01 w02 w03 w04 w05 w06 w07 w08 w09" in screen_text(app)

        # The same for /whois replies arriving in the hidden server window.
        await feed(
            app,
            ":irc.example.test 311 ann dave d example.org * :Dave Example of the Long Name",
            ":irc.example.test 319 ann dave :@#a #b #c #d #e #f #g #h #i #j #k #l #m #n",
        )
        await pilot.press("alt+1")
        await until(pilot, lambda: "dave" in screen_text(app), "the whois in the server window")
        server = log_rows(app, "*")
        assert max(len(row) for row in server) > 40
        assert any("#a" in row and "#g" in row for row in server), server


async def test_lines_rewrap_when_the_terminal_is_resized() -> None:
    long = " ".join(f"w{i:02}" for i in range(30))
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, ":ann!a@h JOIN #a", f":bob!b@h PRIVMSG #a :{long}")
        await until(pilot, lambda: "<bob> w00" in screen_text(app), "bob's line")
        # (the first layout may still be settling: wait for the line at the log's width)
        await until(pilot, lambda: len(log_rows(app, "#a")) == 1 + 3, "the line wrapped in 3")
        await pilot.resize_terminal(200, 24)
        await until(pilot, lambda: len(log_rows(app, "#a")) == 1 + 1, "the line to re-wrap")
        await pilot.resize_terminal(60, 24)  # (narrow: no member list, more rows)
        await until(pilot, lambda: len(log_rows(app, "#a")) > 1 + 3, "the line to re-wrap")
        log = app.log_of("#a")
        assert log is not None
        assert all(len(r) <= log.scrollable_content_region.width for r in log_rows(app, "#a"))


async def test_sidebar_updates_at_the_same_time_do_not_duplicate_it() -> None:
    # A message opening a conversation while a key switches conversations: both rebuilt the
    # sidebar at once, giving every item twice (or a worker crash on a half-mounted item).
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await asyncio.gather(feed(app, ":erin!e@h PRIVMSG ann :hi"), app.action_cycle(1))
        await pilot.pause()
        items = [item.name for item in app.query("#sidebar ListItem").results(ListItem)]
        assert items == ["*", "#hubbub", "erin"]
        labels = [str(item.query_one(Label).content) for item in app.query(ListItem)]
        assert labels == sidebar(app)


async def test_names_in_the_sidebar_are_never_markup() -> None:
    # "[b]ob" is a valid nick; as a str, Label read it as markup and showed a bold "ob".
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, ":[b]ob!b@h PRIVMSG ann :hi", ":[red]x!r@h PRIVMSG ann :yo")
        await pilot.pause()
        text = screen_text(app)
        assert " [b]ob (1) [1] " in text
        assert " [red]x (1) [1] " in text


async def test_numerics_are_shown_as_sentences() -> None:
    signon = int(datetime(2026, 12, 3, 10, 15, tzinfo=UTC).timestamp())
    app = offline_app()
    app.model.tz = UTC
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL, f"{S} 333 ann #hubbub bob!b@h {signon}")
        await feed(
            app,
            f"{S} 311 ann dave ~d example.org * :Dave Example",
            f"{S} 319 ann dave :@#hubbub +#b",
            f"{S} 312 ann dave irc.example.test :An example server",
            f"{S} 301 ann dave :out for lunch",
            f"{S} 330 ann dave davey :is logged in as",
            f"{S} 671 ann dave :is using a secure connection",
            f"{S} 317 ann dave 93784 {signon} :seconds idle, signon time",
            f"{S} 318 ann dave :End of /WHOIS list",
            f"{S} 367 ann #hubbub *!*@bad bob {signon}",
            f"{S} 368 ann #hubbub :End of channel ban list",
            f"{S} 252 ann 2 :operator(s) online",
            f"{S} 999 ann some * thing :the server says",
        )
        await pilot.pause()
        assert lines_of(app, "*")[-9:] == [
            "dave is ~d@example.org, real name: Dave Example",
            "dave is in @#hubbub, +#b",
            "dave's server: irc.example.test (An example server)",
            "dave is away: out for lunch",
            "dave is logged in as davey",
            "dave is using a secure connection",
            "dave has been idle 1 d 2 h, signed on at 2026-12-03 10:15 (UTC)",
            "2 operators online",
            "some thing the server says",
        ]
        assert lines_of(app, "#hubbub")[1:3] == [
            "topic: Talk about hubbub here",
            "topic of #hubbub, set by bob on 2026-12-03 10:15 (UTC)",
        ]
        assert lines_of(app, "#hubbub")[-2:] == [
            "#hubbub bans *!*@bad, set by bob on 2026-12-03 10:15 (UTC)",
            "end of the ban list of #hubbub",
        ]
        # Away, in answer to a message: where the message was sent from, or the query.
        await feed(app, f"{S} 301 ann erin :on holiday")
        assert lines_of(app, "#hubbub")[-1] == "erin is away: on holiday"
        await submit(pilot, app, "/query erin")
        await feed(app, f"{S} 301 ann erin :on holiday")
        assert lines_of(app, "erin") == ["erin is away: on holiday"]


def unstyled(style: Style) -> bool:
    """True if ``style`` has none of what mIRC formatting sets."""
    flags = (style.bold, style.italic, style.underline, style.strike, style.reverse)
    return not any(flags) and style.color is None and style.bgcolor is None


def screen_style(app: ChatApp, word: str) -> Style:
    """The style ``word`` is drawn in on the screen (the first place it is)."""
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if word in segment.text and segment.style is not None:
                return segment.style
    raise AssertionError(f"{word!r} is not on the screen")


def drawn_style(app: ChatApp, name: str, word: str) -> Style:
    """The style ``word`` is drawn in, in conversation ``name``'s rendered rows."""
    log = app.log_of(name)
    assert log is not None
    for strip in log.lines:
        for segment in strip:
            if word in segment.text and segment.style is not None:
                return segment.style
    raise AssertionError(f"{word!r} is not drawn in {name}")


FORMATTED = (
    ":bob!b@h PRIVMSG #hubbub :\x02bold\x02 \x1ditalic\x1d \x1funder\x1f \x1estruck\x1e "
    "\x0304red\x03 \x0302,08blueonyellow\x03 \x0352extended\x03 \x04ff8800hex\x04 "
    "\x16reversed\x16 \x02\x0313both\x0f reset [bold]literal[/bold] \x1b[2Jx"
)


async def test_mirc_formatting_is_drawn_and_markup_is_not_read() -> None:
    app = offline_app()
    async with app.run_test(size=(200, 24)) as pilot:
        await feed(app, *WELCOME, *CHANNEL, FORMATTED)
        await pilot.pause()
        line = (
            "<bob> bold italic under struck red blueonyellow extended hex reversed both reset "
            "[bold]literal[/bold] [2Jx"
        )
        assert lines_of(app, "#hubbub")[-1] == line
        assert line in screen_text(app)
        assert drawn_style(app, "#hubbub", "bold").bold
        assert drawn_style(app, "#hubbub", "italic").italic
        assert drawn_style(app, "#hubbub", "under").underline
        assert drawn_style(app, "#hubbub", "struck").strike
        assert drawn_style(app, "#hubbub", "red").color == Color.parse("bright_red")
        blue = drawn_style(app, "#hubbub", "blueonyellow")
        assert (blue.color, blue.bgcolor) == (Color.parse("blue"), Color.parse("bright_yellow"))
        assert drawn_style(app, "#hubbub", "extended").color == Color.parse("#ff0000")
        assert drawn_style(app, "#hubbub", "hex").color == Color.parse("#ff8800")
        assert drawn_style(app, "#hubbub", "reversed").reverse
        both = drawn_style(app, "#hubbub", "both")
        assert both.bold
        assert both.color == Color.parse("bright_magenta")
        for plain in ("reset", "[bold]literal[/bold]"):
            assert unstyled(drawn_style(app, "#hubbub", plain)), plain


async def test_formatting_in_the_topic_bar() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL, ":bob!b@h TOPIC #hubbub :\x02Big\x02 news [i]")
        await pilot.pause()
        assert "#hubbub: Big news [i]" in screen_text(app)
        assert screen_style(app, "Big").bold
        assert not screen_style(app, " news [i]").bold


async def test_strip_formatting_option() -> None:
    client = offline_app().client
    app = ChatApp(client, clock=lambda: FIXED_TIME, strip_formatting=True)
    async with app.run_test(size=(200, 24)) as pilot:
        await feed(app, *WELCOME, *CHANNEL, FORMATTED)
        await pilot.pause()
        assert "<bob> bold italic under struck red" in screen_text(app)
        for word in ("bold", "italic", "red", "hex", "reversed", "literal"):
            assert unstyled(drawn_style(app, "#hubbub", word)), word


async def test_an_erroneous_nick_at_registration_is_not_called_in_use() -> None:
    app = offline_app("9ann")
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, f"{S} 432 * 9ann :Erroneous Nickname")
        await pilot.pause()
        (line,) = [line for line in lines_of(app, "*") if "9ann" in line]
        assert line.startswith("nick 9ann is not allowed here (Erroneous Nickname); using hubbub")
        assert app.client.nick in line


LONG = "a fairly long line of words that will wrap around " * 2


async def test_narrow_terminals_keep_the_messages_and_the_input() -> None:
    app = offline_app()
    async with app.run_test(size=(100, 14)) as pilot:
        await feed(app, *WELCOME, *CHANNEL, f":bob!b@h PRIVMSG #hubbub :{LONG}")
        await pilot.pause()
        assert "4 here" in screen_text(app)  # wide: the member list is there
        await pilot.resize_terminal(60, 14)
        await pilot.pause()
        text = screen_text(app)
        assert "4 here" not in text  # the member list goes first
        assert " #hubbub " in text  # the conversation list stays, narrower
        log = app.log_of("#hubbub")
        assert log is not None
        assert log.size.width >= 40  # (it had 18 columns at 60)
        await pilot.resize_terminal(40, 14)
        await pilot.pause()
        text = screen_text(app)
        assert "│" not in text.split("\n")[1]  # no conversation list either
        assert "type a message, or /help" in text  # the input line is still there
        assert "<bob> a fairly long line" in text
        assert app.query_one("#input").size.width >= 30
        await pilot.resize_terminal(100, 14)
        await pilot.pause()
        assert "4 here" in screen_text(app)


async def test_a_wrapped_message_continues_under_its_text() -> None:
    app = offline_app()
    async with app.run_test(size=(60, 14)) as pilot:
        await feed(app, *WELCOME, *CHANNEL, f":bob!b@h PRIVMSG #hubbub :{LONG}")
        await pilot.pause()
        rows = [row.split("│")[-1] for row in screen_text(app).split("\n")]
        first = next(i for i, row in enumerate(rows) if "<bob>" in row)
        body = rows[first].index("a fairly")
        wrapped = rows[first + 1 : first + 4]
        assert [row[:body].strip() for row in wrapped] == ["", "", ""]
        assert [row[body:].split()[0] for row in wrapped] == ["that", "fairly", "that"]
        assert " ".join(" ".join(r.split()) for r in rows[first : first + 4]).endswith(LONG.strip())


class RecordingClient(Client):
    """A client that keeps the lines it is asked to send (``sent``) instead of sending."""

    def __init__(self) -> None:
        super().__init__("irc.example.test:6667", nick="ann")
        self.sent: list[str] = []

    async def send(self, *messages: IrcMessage) -> None:
        self.sent += [m.to_bytes().decode().rstrip("\r\n") for m in messages]


async def test_names_list_kick_mode_invite_ctcp_and_clear() -> None:
    client = RecordingClient()
    app = ChatApp(client, clock=lambda: FIXED_TIME)
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL, ":bob!b@h PRIVMSG #hubbub :hello")
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel")

        async def run(line: str, sent: str | None = None) -> None:
            await submit(pilot, app, line)
            if sent is not None:
                await until(pilot, lambda: client.sent[-1:] == [sent], f"{sent!r} to go")

        # /names: here, from the member list; elsewhere, the server's answer in this window.
        await run("/names")
        assert lines_of(app, "#hubbub")[-1] == "4 in #hubbub: @ann +bob bert carl"
        await run("/names elsewhere", "NAMES #elsewhere")
        await feed(app, f"{S} 353 ann = #elsewhere :@zed yan", f"{S} 366 ann #elsewhere :End")
        await feed(app, f"{S} 353 ann = #unasked :x", f"{S} 366 ann #unasked :End")
        assert lines_of(app, "#hubbub")[-1] == "in #elsewhere: @zed, yan"
        await run("/names #empty", "NAMES #empty")
        await feed(app, f"{S} 366 ann #empty :End")
        assert lines_of(app, "#hubbub")[-1] == "no one visible in #empty"
        assert not any(
            "unasked" in line for name in ("*", "#hubbub") for line in lines_of(app, name)
        )

        await run("/kick bob too loud", "KICK #hubbub bob :too loud")
        await run("/kick #other carl", "KICK #other carl")
        await run("/mode +m", "MODE #hubbub +m")
        await run("/mode +o bert", "MODE #hubbub +o bert")
        await run("/mode", "MODE #hubbub")
        await run("/mode ann +i", "MODE ann +i")
        await run("/mode bob +v")  # not "MODE #hubbub bob +v": a ban on "+v", an op...
        assert lines_of(app, "#hubbub")[-1] == "usage: /mode [#channel|yournick] [modes]"
        assert client.sent[-1] == "MODE ann +i"
        await run("/invite dora", "INVITE dora #hubbub")
        await run("/invite dora ops", "INVITE dora #ops")
        await run("/ctcp bob version", "PRIVMSG bob :\x01VERSION\x01")
        assert lines_of(app, "#hubbub")[-1] == "CTCP VERSION sent to bob"

        await run("/clear")
        assert lines_of(app, "#hubbub") == []
        assert "hello" not in screen_text(app)
        assert app.model.current.oldest_reached  # scrolling back does not fetch them again

        # /list: its answer in the server window, one readable line per channel.
        await run("/list", "LIST")
        assert app.model.current.name == "*"
        await feed(
            app,
            f"{S} 321 ann Channel :Users  Name",
            f"{S} 322 ann #hubbub 4 :[+nt] Talk about hubbub here",
            f"{S} 322 ann #quiet 1 :",
            f"{S} 323 ann :End of /LIST",
        )
        assert lines_of(app, "*")[-4:] == [
            "channels:",
            "#hubbub (4 users): [+nt] Talk about hubbub here",
            "#quiet (1 user)",
            "end of the channel list",
        ]
        await run("/mode")  # the server window has no channel
        assert lines_of(app, "*")[-1] == "usage: /mode [#channel|yournick] [modes]"
        await run("/kick")
        assert lines_of(app, "*")[-1] == "usage: /kick [#channel] nick [reason]"
        assert "unknown" not in "\n".join(lines_of(app, "*"))


async def test_a_slash_alone_is_no_message_and_join_of_several_switches_to_the_first() -> None:
    client = RecordingClient()
    app = ChatApp(client, clock=lambda: FIXED_TIME)
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *WELCOME, *CHANNEL)
        await until(pilot, lambda: app.model.current.name == "#hubbub", "the channel")
        await submit(pilot, app, "/")
        assert lines_of(app, "#hubbub")[-1].startswith("a command goes right after the /")
        await submit(pilot, app, "/join a,#b")
        await until(pilot, lambda: client.sent[-1:] == ["JOIN #a,#b"], "the JOIN")
        await feed(app, ":ann!a@h JOIN #b", ":ann!a@h JOIN #a")
        await until(pilot, lambda: app.model.current.name == "#a", "the first channel")
