"""History, search, read markers and redaction through the asyncio client, against the
scripted server: with labeled answers, with a label on a wrapping batch, and without labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hubbub.client import (
    ChatMessage,
    Client,
    Event,
    Expect,
    History,
    NotConnected,
    ReadMarker,
    Redact,
    RequestFailed,
    RequestTimeout,
    Unsupported,
)
from hubbub.protocol import Message
from tests.client.fakeserver import (
    HISTORY_CAPS,
    FakeServer,
    HistoryOptions,
    line,
    running,
)
from tests.client.helpers import expect, make_client
from tests.timeouts import TIMEOUT

SHORT = 0.2
"""Seconds a request waits in the tests where no answer is to come."""


def at(second: int) -> str:
    return f"2024-05-01T10:00:{second:02d}.000Z"


def stored() -> dict[str, list[Message]]:
    """Six messages in #c (one an action, one a notice, one ours), two in a private
    conversation with bob, none in #empty."""
    channel = [
        line(at(1), "m1", "bob!b@h", "PRIVMSG", "#c", "one"),
        line(at(2), "m2", "carl!c@h", "PRIVMSG", "#c", "\x01ACTION waves\x01"),
        line(at(3), "m3", "ann!a@h", "PRIVMSG", "#c", "three"),
        line(at(4), "m4", "bob!b@h", "NOTICE", "#c", "four"),
        line(at(5), "m5", "bob!b@h", "PRIVMSG", "#c", "five: fast"),
        line(at(6), "m6", "carl!c@h", "PRIVMSG", "#c", "six; fast too"),
    ]
    channel[0] = channel[0].with_tags({**channel[0].tags, "account": "bobby"})
    private = [
        line(at(7), "p1", "bob!b@h", "PRIVMSG", "ann", "psst"),
        line(at(9), "p2", "ann!a@h", "PRIVMSG", "bob", "yes?"),
    ]
    return {"#c": channel, "bob": private, "#empty": []}


@dataclass
class Setup:
    fake: FakeServer
    client: Client
    address: str
    mode: str


@pytest.fixture(params=["labeled", "wrapped", "unlabeled"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    """ann, connected to a scripted server with history: answers labeled (the label on the
    batch), wrapped (the label on a labeled-response batch around it) or unlabeled."""
    mode: str = request.param
    caps = HISTORY_CAPS + ("" if mode == "unlabeled" else " labeled-response")
    options = HistoryOptions(stored(), caps=caps, wrap=mode == "wrapped", max_limit=20)
    fake = FakeServer({}, options)
    async with running(fake) as address:
        client = make_client(address, "ann")
        await client.connect()
        try:
            yield Setup(fake, client, address, mode)
        finally:
            await client.quit()


def sent(setup: Setup, command: str) -> list[str]:
    """The lines the server got for ``command``, without their label (which they have
    exactly when the server offers labeled-response)."""
    out = []
    for text in setup.fake.received:
        tags, _, body = text.partition(" ") if text.startswith("@") else ("", "", text)
        if body.startswith(command + " "):
            assert tags.startswith("@label=") == (setup.mode != "unlabeled")
            out.append(body)
    return out


async def events_until(client: Client, last: type[Event]) -> list[Event]:
    """The events up to and including the first of type ``last``."""
    out: list[Event] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in client:
            out.append(event)
            if isinstance(event, last):
                return out
    raise AssertionError("the client closed")


async def test_latest_history_is_typed(setup: Setup) -> None:
    messages = await setup.client.history("#c", limit=50)
    assert sent(setup, "CHATHISTORY") == ["CHATHISTORY LATEST #c * 20"]  # the server's limit
    assert [m.msgid for m in messages] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    first, action, ours, notice = messages[:4]
    assert first.time == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    assert first.time.utcoffset() == timedelta(0)
    assert (first.nick, first.source, first.command, first.target) == (
        "bob",
        "bob!b@h",
        "PRIVMSG",
        "#c",
    )
    assert (first.text, first.account, first.conversation) == ("one", "bobby", "#c")
    assert first.tags["msgid"] == "m1"
    assert first.message.params == ("#c", "one")
    assert first.is_message
    assert (action.action, action.text) == (True, "waves")
    assert ours.nick == "ann"
    assert notice.command == "NOTICE"
    assert all(m.account is None for m in messages[1:])


async def test_private_history_belongs_to_the_other_person(setup: Setup) -> None:
    messages = await setup.client.history("bob")
    assert [(m.nick, m.target, m.conversation) for m in messages] == [
        ("bob", "ann", "bob"),
        ("ann", "bob", "bob"),
    ]


async def test_paging_with_references(setup: Setup) -> None:
    client = setup.client
    latest = await client.history("#c", limit=2)
    assert [m.msgid for m in latest] == ["m5", "m6"]
    # a message as the reference: its msgid, exact even though the server prefers timestamps
    older = await client.history("#c", before=latest[0], limit=2)
    assert [m.msgid for m in older] == ["m3", "m4"]
    when = datetime(2024, 5, 1, 12, 0, 2, tzinfo=timezone(timedelta(hours=2)))  # 10:00:02Z
    newer = await client.history("#c", after=when, limit=2)
    assert [m.msgid for m in newer] == ["m3", "m4"]
    between = await client.history("#c", after="m1", before="m5")
    assert [m.msgid for m in between] == ["m2", "m3", "m4"]
    around = await client.history("#c", around="m4", limit=3)
    assert [m.msgid for m in around] == ["m3", "m4", "m5"]
    caught_up = await client.history_latest("#c", after="m2", limit=2)
    assert [m.msgid for m in caught_up] == ["m5", "m6"]
    assert sent(setup, "CHATHISTORY")[1:] == [
        "CHATHISTORY BEFORE #c msgid=m5 2",
        "CHATHISTORY AFTER #c timestamp=2024-05-01T10:00:02.000Z 2",
        "CHATHISTORY BETWEEN #c msgid=m1 msgid=m5 20",
        "CHATHISTORY AROUND #c msgid=m4 3",
        "CHATHISTORY LATEST #c msgid=m2 2",
    ]


async def test_bad_selectors_are_refused_before_sending(setup: Setup) -> None:
    client = setup.client
    with pytest.raises(ValueError, match="around goes alone"):
        await client.history("#c", around="m1", before="m2")
    with pytest.raises(ValueError, match="time zone"):
        await client.history("#c", before=datetime(2024, 5, 1))  # noqa: DTZ001 - on purpose
    with pytest.raises(ValueError, match="at least 1"):
        await client.history("#c", limit=0)
    with pytest.raises(ValueError, match="invalid target"):
        await client.history("#a #b")
    assert sent(setup, "CHATHISTORY") == []


async def test_an_empty_batch_is_an_empty_list(setup: Setup) -> None:
    assert await setup.client.history("#empty") == []
    assert await setup.client.history("#c", before="m1") == []


async def test_fail_raises_with_code_and_context(setup: Setup) -> None:
    with pytest.raises(RequestFailed) as caught:
        await setup.client.history("#nowhere")
    failed = caught.value
    assert (failed.command, failed.code) == ("CHATHISTORY", "INVALID_TARGET")
    assert failed.context == ("LATEST", "#nowhere")
    assert failed.description == "Messages could not be retrieved"
    assert "INVALID_TARGET" in str(failed)
    # the connection goes on: the next request gets its own answer
    assert len(await setup.client.history("bob")) == 2


async def test_history_lines_are_not_live_messages(setup: Setup) -> None:
    await setup.client.history("#c")
    await setup.client.search(text="fast")
    setup.fake.push(":bob!b@h PRIVMSG #c :live")
    events = await events_until(setup.client, ChatMessage)
    assert not any(isinstance(e, History) for e in events)
    assert isinstance(events[-1], ChatMessage)
    assert events[-1].text == "live"


async def test_fetch_history_still_gives_a_history_event(setup: Setup) -> None:
    assert await setup.client.fetch_history("#c", limit=3)
    history = await expect(setup.client, History)
    assert history.target == "#c"
    assert [m.text for m in history.messages] == ["four", "five: fast", "six; fast too"]
    assert [m.msgid for m in await setup.client.history("#c", limit=1)] == ["m6"]


async def test_a_silent_server_times_out_and_the_next_request_works(setup: Setup) -> None:
    assert setup.fake.history is not None
    setup.fake.history.silent.add("CHATHISTORY")
    with pytest.raises(RequestTimeout, match="did not answer CHATHISTORY"):
        await setup.client.history("#c", timeout=SHORT)
    with pytest.raises(TimeoutError):  # (a RequestTimeout is a TimeoutError too)
        await setup.client.history("#c", timeout=SHORT)
    assert setup.client.session.waiting == 0
    setup.fake.history.silent.clear()
    assert len(await setup.client.history("#c")) == 6


async def test_a_lost_connection_ends_the_wait(setup: Setup) -> None:
    assert setup.fake.history is not None
    setup.fake.history.hang_up.add("SEARCH")
    with pytest.raises(NotConnected, match="before the server answered"):
        await setup.client.search(text="x")


async def test_history_targets(setup: Setup) -> None:
    start = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    targets = await setup.client.history_targets(start, start + timedelta(hours=1))
    assert targets == [
        ("#c", datetime(2024, 5, 1, 10, 0, 6, tzinfo=UTC)),
        ("bob", datetime(2024, 5, 1, 10, 0, 9, tzinfo=UTC)),
    ]
    assert targets[0].name == "#c"
    assert sent(setup, "CHATHISTORY") == [
        "CHATHISTORY TARGETS timestamp=2024-05-01T10:00:00.000Z "
        "timestamp=2024-05-01T11:00:00.000Z 20"
    ]


async def test_search_escapes_its_attributes(setup: Setup) -> None:
    found = await setup.client.search(text="six; fast", in_="#c", limit=5)
    assert [m.msgid for m in found] == ["m6"]
    assert setup.fake.searches[-1] == {"in": "#c", "text": "six; fast", "limit": "5"}
    assert sent(setup, "SEARCH")[-1] == r"SEARCH in=#c;text=six\:\sfast;limit=5"
    tricky = "back\\slash\r\nnew line"
    assert await setup.client.search(text=tricky, from_="carl") == []
    assert setup.fake.searches[-1] == {"from": "carl", "text": tricky}


async def test_search_by_sender_and_time(setup: Setup) -> None:
    after = datetime(2024, 5, 1, 10, 0, 4, tzinfo=UTC)
    found = await setup.client.search(from_="bob", after=after)
    assert [(m.msgid, m.conversation) for m in found] == [("m4", "#c"), ("m5", "#c"), ("p1", "bob")]
    assert setup.fake.searches[-1] == {"from": "bob", "after": "2024-05-01T10:00:04.000Z"}
    with pytest.raises(ValueError, match="at least one"):
        await setup.client.search(text="")


async def test_a_generic_request_and_its_failure(setup: Setup) -> None:
    expect_ = Expect("SEARCH", ("soju.im/search",))
    with pytest.raises(RequestFailed) as caught:
        await setup.client.request(Message("SEARCH", ("colour=red",)), expect_)
    assert (caught.value.command, caught.value.code, caught.value.context) == (
        "SEARCH",
        "INVALID_PARAMS",
        ("colour",),
    )
    answer = await setup.client.request(Message("SEARCH", ("text=six",)), expect_)
    batch = answer.batch("soju.im/search")
    assert batch is not None
    assert [m.tags["msgid"] for m in batch.lines] == ["m6"]
    wrapper = ["labeled-response"] if setup.mode == "wrapped" else []
    assert [b.type for b in answer.batches] == [*wrapper, "soju.im/search"]
    assert [m.tags["msgid"] for m in answer.lines] == ["m6"]


async def test_read_markers(setup: Setup) -> None:
    client = setup.client
    await client.join("#c")
    await expect(client, ReadMarker, lambda e: e.target == "#c")  # sent on join
    assert client.state.read_marker("#C") is None
    when = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    assert await client.mark_read("#c", when) == when
    assert sent(setup, "MARKREAD") == ["MARKREAD #c timestamp=2024-05-01T10:00:05.000Z"]
    event = await expect(client, ReadMarker)
    assert (event.target, event.time) == ("#c", when)
    assert client.state.read_marker("#c") == when
    # an older time does not move it back: the server answers with what it keeps
    assert await client.mark_read("#c", when - timedelta(seconds=3)) == when
    assert await client.read_marker("bob") is None
    assert client.state.read_markers[client.state.fold("bob")] is None


async def test_a_read_marker_moved_elsewhere_is_pushed(setup: Setup) -> None:
    other = make_client(setup.address, "ann2")
    await other.connect()
    try:
        when = datetime(2024, 5, 1, 10, 0, 6, tzinfo=UTC)
        await other.mark_read("bob", when)
        pushed = await expect(setup.client, ReadMarker)
        assert (pushed.target, pushed.time) == ("bob", when)
        assert setup.client.state.read_marker("BOB") == when
    finally:
        await other.quit()


async def test_redaction(setup: Setup) -> None:
    other = make_client(setup.address, "bob")
    await other.connect()
    try:
        await setup.client.redact("#c", "m3", "typo")
        assert sent(setup, "REDACT") == ["REDACT #c m3 typo"]
        seen = await expect(other, Redact)
        assert (seen.target, seen.msgid, seen.nick, seen.reason) == ("#c", "m3", "ann", "typo")
        assert (seen.conversation, seen.from_self) == ("#c", False)
        mine = await expect(setup.client, Redact)  # echo-message
        assert mine.from_self
        with pytest.raises(RequestFailed) as caught:
            await setup.client.redact("#c", "nope")
        assert caught.value.code == "UNKNOWN_MSGID"
        assert caught.value.context == ("#c", "nope")
    finally:
        await other.quit()


async def test_redact_without_any_answer_does_not_wait() -> None:
    caps = HISTORY_CAPS.replace("echo-message ", "")  # and no labeled-response
    fake = FakeServer({}, HistoryOptions(stored(), caps=caps))
    async with running(fake) as address, make_client(address, "ann") as client:
        assert client.state.caps.isdisjoint({"echo-message", "labeled-response"})
        await client.redact("#c", "m3")  # nothing would say it worked: sent, not awaited
        assert client.session.waiting == 0
    assert "REDACT #c m3" in fake.received


async def test_without_the_capabilities_calls_say_so() -> None:
    fake = FakeServer({})
    async with running(fake) as address, make_client(address, "ann") as client:
        with pytest.raises(Unsupported, match="history"):
            await client.history("#c")
        with pytest.raises(Unsupported, match="search"):
            await client.search(text="x")
        with pytest.raises(Unsupported, match="read-marker"):
            await client.read_marker("#c")
        with pytest.raises(Unsupported, match="message-redaction"):
            await client.redact("#c", "m1")
        with pytest.raises(Unsupported, match="labeled-response"):
            await client.request(Message("WHOIS", ("bob",)))
        assert not await client.fetch_history("#c")
