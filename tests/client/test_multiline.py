"""IRCv3 ``draft/multiline`` in the client library: a text of several lines sent as one batch
when the server offers it (within its limits), and a received batch as one message, live or
in history; line by line on the session, then through the asyncio client and the scripted
server."""

from __future__ import annotations

import pytest

from hubbub.client import ChatMessage, ClientSession, History
from hubbub.client import events as ev
from hubbub.client.history import history_messages
from hubbub.client.multiline import (
    Limits,
    batch_messages,
    combine,
    parse_limits,
    split_keeping_spaces,
)
from hubbub.client.requests import Expect
from hubbub.client.session import ClientConfig
from hubbub.protocol import Message, parse
from tests.client.fakeserver import HISTORY_CAPS, FakeServer, HistoryOptions, running
from tests.client.helpers import expect, make_client

CAPS = "batch message-tags server-time draft/multiline=max-bytes=60,max-lines=4"


def registered(caps: str = CAPS, echo: bool = False) -> ClientSession:
    """A session registered with a server that offered ``caps`` (all acknowledged)."""
    s = ClientSession(ClientConfig("ann"))
    s.start()
    names = " ".join(c.partition("=")[0] for c in caps.split())
    if echo:
        names += " echo-message"
    feed(s, f":srv CAP * LS :{caps}{' echo-message' if echo else ''}")
    feed(s, f":srv CAP ann ACK :{names}", ":srv 001 ann :hi")
    s.outgoing()
    return s


def feed(s: ClientSession, *lines: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    for line in lines:
        out += s.receive(parse(line))
    return out


def wire(s: ClientSession) -> list[str]:
    return [m.serialize() for m in s.outgoing()]


# -- the pure helpers ------------------------------------------------------------------------


def test_limits_from_the_capability_value() -> None:
    assert parse_limits("max-bytes=4096,max-lines=100") == Limits(4096, 100)
    assert parse_limits("max-bytes=40000,future=1") == Limits(40000, None)
    assert parse_limits(None) == Limits(None, None)
    assert parse_limits("max-lines=x") == Limits(None, None)


@pytest.mark.parametrize("line", ["", "short", "word " * 40, "é" * 90, "x" * 200])
def test_splitting_keeps_every_character(line: str) -> None:
    pieces = split_keeping_spaces(line, 50)
    assert "".join(pieces) == line
    assert all(len(p.encode()) <= 50 for p in pieces)


def test_pieces_end_after_a_word() -> None:
    assert split_keeping_spaces("aaaa bbbb cccc", 10) == ["aaaa bbbb ", "cccc"]


def test_batch_within_and_beyond_the_limits() -> None:
    out = batch_messages("#c", "ab\n\ncd", "PRIVMSG", 400, "r1", Limits(6, 3))
    assert out is not None
    assert [m.serialize() for m in out] == [
        "BATCH +r1 draft/multiline #c",
        "@batch=r1 PRIVMSG #c :ab",
        "@batch=r1 PRIVMSG #c :",
        "@batch=r1 PRIVMSG #c :cd",
        "BATCH -r1",
    ]
    assert batch_messages("#c", "ab\n\ncde", "PRIVMSG", 400, "r1", Limits(6, 3)) is None
    assert batch_messages("#c", "a\nb\nc\nd", "PRIVMSG", 400, "r1", Limits(None, 3)) is None
    assert batch_messages("#c", "\n\n", "PRIVMSG", 400, "r1", Limits(None, None)) is None


def test_a_long_line_is_sent_as_concatenated_pieces() -> None:
    out = batch_messages("#c", "aaaa bbbb cccc\nz", "NOTICE", 10, "r", Limits(None, None))
    assert out is not None
    assert [m.serialize() for m in out[1:-1]] == [
        "@batch=r NOTICE #c :aaaa bbbb ",
        "@batch=r;draft/multiline-concat NOTICE #c :cccc",
        "@batch=r NOTICE #c :z",
    ]


def test_combine_uses_the_opening_tags_and_joins_the_lines() -> None:
    start = parse(
        "@msgid=m1;time=2024-05-01T10:00:00.000Z;batch=outer :bob!b@h BATCH +x draft/multiline #c"
    )
    lines = [
        parse("@batch=x :bob!b@h PRIVMSG #c :how is "),
        parse("@batch=x;draft/multiline-concat :bob!b@h PRIVMSG #c :everyone?"),
        parse("@batch=x :bob!b@h PRIVMSG #c :"),
        parse("@batch=x :bob!b@h PRIVMSG #c :bye"),
    ]
    combined = combine(start, lines)
    assert combined == Message(
        "PRIVMSG",
        ("#c", "how is everyone?\n\nbye"),
        "bob!b@h",
        {"msgid": "m1", "time": "2024-05-01T10:00:00.000Z"},
    )
    assert combine(start, []) is None


# -- the session: sending ----------------------------------------------------------------------


def test_draft_multiline_is_requested() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :batch draft/multiline=max-bytes=4096")
    assert wire(s) == ["CAP REQ :batch draft/multiline"]


def test_a_text_of_several_lines_goes_as_one_batch() -> None:
    s = registered()
    events = s.send_message("#c", "one\n\ntwo")
    sent = wire(s)
    assert sent[0] == "BATCH +ml1 draft/multiline #c"
    assert sent[1:-1] == [
        "@batch=ml1 PRIVMSG #c :one",
        "@batch=ml1 PRIVMSG #c :",
        "@batch=ml1 PRIVMSG #c :two",
    ]
    assert sent[-1] == "BATCH -ml1"
    # (no echo-message: one event stands in for the echo)
    assert len(events) == 1
    chat = events[0]
    assert isinstance(chat, ChatMessage)
    assert chat.text == "one\n\ntwo"
    assert chat.from_self


def test_one_line_or_an_action_goes_as_before() -> None:
    s = registered()
    s.send_message("#c", "just one")
    assert wire(s) == ["PRIVMSG #c :just one"]
    s.send_message("#c", "waves\nagain", action=True)
    assert wire(s) == ["PRIVMSG #c :\x01ACTION waves\x01", "PRIVMSG #c :\x01ACTION again\x01"]


def test_beyond_the_limits_or_without_the_capability_it_goes_line_by_line() -> None:
    s = registered()
    s.send_message("#c", "1\n2\n3\n4\n5")  # max-lines=4
    assert wire(s) == [f"PRIVMSG #c :{i}" for i in range(1, 6)]
    s.send_message("#c", "x" * 40 + "\n" + "y" * 40)  # max-bytes=60
    assert len(wire(s)) == 2
    plain = registered("batch message-tags")
    plain.send_message("#c", "a\nb")
    assert wire(plain) == ["PRIVMSG #c :a", "PRIVMSG #c :b"]
    half = registered("draft/multiline message-tags")  # (without batch)
    half.send_message("#c", "a\nb")
    assert wire(half) == ["PRIVMSG #c :a", "PRIVMSG #c :b"]


def test_with_echo_message_the_server_s_echo_is_the_event() -> None:
    s = registered(echo=True)
    assert s.send_message("#c", "a\nb") == []


# -- the session: receiving ------------------------------------------------------------------------


def test_a_received_batch_is_one_message() -> None:
    s = registered()
    assert (
        feed(
            s,
            "@msgid=m9;time=2024-05-01T10:00:00.000Z;account=bobby"
            " :bob!b@h BATCH +q draft/multiline #c",
            "@batch=q :bob!b@h PRIVMSG #c :hello",
            "@batch=q :bob!b@h PRIVMSG #c :",
            "@batch=q :bob!b@h PRIVMSG #c :how is ",
        )
        == []
    )
    events = feed(
        s,
        "@batch=q;draft/multiline-concat :bob!b@h PRIVMSG #c :everyone?",
        ":bob!b@h BATCH -q",
    )
    chats = [e for e in events if isinstance(e, ChatMessage)]
    assert len(chats) == 1
    chat = chats[0]
    assert chat.text == "hello\n\nhow is everyone?"
    assert (chat.source, chat.msgid, chat.account) == ("bob", "m9", "bobby")
    assert chat.time is not None
    assert chat.conversation == "#c"


def test_a_batch_inside_a_labelled_answer_is_live_and_one_message() -> None:
    s = registered(CAPS + " labeled-response", echo=True)
    events = feed(
        s,
        "@label=x :srv BATCH +lr labeled-response",
        "@batch=lr;msgid=m1 :ann!a@h BATCH +in draft/multiline #c",
        "@batch=in :ann!a@h PRIVMSG #c :a",
        "@batch=in :ann!a@h PRIVMSG #c :b",
        "@batch=lr :ann!a@h BATCH -in",
        ":srv BATCH -lr",
    )
    chats = [e for e in events if isinstance(e, ChatMessage)]
    assert [(c.text, c.from_self) for c in chats] == [("a\nb", True)]


def test_a_batch_nested_in_unrequested_history_is_one_past_message() -> None:
    s = registered()
    events = feed(
        s,
        ":srv BATCH +h chathistory #c",
        "@batch=h;msgid=p1 :bob!b@h PRIVMSG #c :before",
        "@batch=h;msgid=p2 :bob!b@h BATCH +m draft/multiline #c",
        "@batch=m :bob!b@h PRIVMSG #c :x",
        "@batch=m :bob!b@h PRIVMSG #c :y",
        "@batch=h :bob!b@h BATCH -m",
        ":srv BATCH -h",
    )
    assert not any(isinstance(e, ChatMessage) for e in events)  # (not live)
    history = [e for e in events if isinstance(e, History)]
    assert [(m.text, m.msgid) for m in history[0].messages] == [("before", "p1"), ("x\ny", "p2")]


def test_a_batch_nested_in_a_requested_history_answer_is_one_history_message() -> None:
    s = registered(CAPS + " draft/chathistory labeled-response")
    request = s.request(
        Message("CHATHISTORY", ("LATEST", "#c", "*", "10")), Expect("CHATHISTORY", ("chathistory",))
    )
    label = s.outgoing()[0].tags["label"]
    events = feed(
        s,
        f"@label={label} :srv BATCH +h chathistory #c",
        "@batch=h;msgid=p1;time=2024-05-01T10:00:00.000Z :bob!b@h PRIVMSG #c :before",
        "@batch=h;msgid=p2;time=2024-05-01T10:00:01.000Z :bob!b@h BATCH +m draft/multiline #c",
        "@batch=m :bob!b@h PRIVMSG #c :x",
        "@batch=m;draft/multiline-concat :bob!b@h PRIVMSG #c :y",
        "@batch=h :bob!b@h BATCH -m",
        "@batch=h;msgid=p3;time=2024-05-01T10:00:02.000Z :bob!b@h PRIVMSG #c :after",
        ":srv BATCH -h",
    )
    assert not any(isinstance(e, ChatMessage) for e in events)
    answers = [e for e in events if isinstance(e, ev.Answer)]
    assert [a.request for a in answers] == [request]
    batch = answers[0].batch("chathistory")
    assert batch is not None
    got = history_messages(batch.lines, s.state)
    assert [(m.msgid, m.text) for m in got] == [("p1", "before"), ("p2", "xy"), ("p3", "after")]


# -- the asyncio client against the scripted server ----------------------------------------------


async def test_the_client_sends_and_receives_multiline_messages() -> None:
    fake = FakeServer(
        {}, HistoryOptions(caps=HISTORY_CAPS + " draft/multiline=max-bytes=4096,max-lines=100")
    )
    async with running(fake) as address, make_client(address, "ann") as client:
        await expect(client, ev.Registered)
        assert "draft/multiline" in client.state.caps
        await client.send_message("#c", "first\nsecond")
        await client.send_raw("PING :sent")
        await expect(client, ev.Pong)
        sent = [line for line in fake.received if "ml1" in line]
        assert sent == [
            "BATCH +ml1 draft/multiline #c",
            "@batch=ml1 PRIVMSG #c :first",
            "@batch=ml1 PRIVMSG #c :second",
            "BATCH -ml1",
        ]
        for line in (
            "@msgid=z1 :bob!b@h BATCH +in draft/multiline ann",
            "@batch=in :bob!b@h PRIVMSG ann :hello",
            "@batch=in :bob!b@h PRIVMSG ann :there",
            ":bob!b@h BATCH -in",
        ):
            fake.push(line)
        chat = await expect(client, ChatMessage, lambda m: m.source == "bob")
        assert (chat.text, chat.msgid, chat.conversation) == ("hello\nthere", "z1", "bob")
