"""IRCv3 ``draft/multiline`` on the sans-I/O core: the capability and its limits, client
batches, what recipients with and without the capability see, echo and labels, every
``FAIL BATCH``, permissions, flood control, batches left open, and history.

Written from https://ircv3.net/specs/extensions/multiline (and client-batch, batch,
labeled-response, echo-message, message-ids)."""

from __future__ import annotations

import pytest

from hubbub.protocol.caps import Cap
from hubbub.protocol.message import Message, parse
from hubbub.server.core import Server
from hubbub.server.events import Event, MultilineRelayed, Relayed
from hubbub.server.multiline import ROW_TAG, MultilineMessage, lines_of_row, row_marker
from tests.server.harness import Client, FakeClock, make_server, replies
from tests.server.historyhelpers import joined, server_with_history

ML = "draft/multiline batch message-tags server-time"
"""A client that takes multiline batches (and sees every tag)."""
PLAIN_TAGS = "message-tags server-time"
"""A client without the capability that still sees every tag."""


@pytest.fixture
def server() -> Server:
    return make_server()


def member(server: Server, nick: str, caps: str = "", *channels: str) -> Client:
    client = Client(server).register(nick, caps)
    for channel in channels or ("#room",):
        client.send(f"JOIN {channel}")
    client.lines()
    return client


def settle(*clients: Client) -> None:
    """Read what each client has been sent so far (the joins of those who came later)."""
    for client in clients:
        client.lines()


def send_batch(
    client: Client,
    target: str,
    *lines: str,
    ref: str = "ml1",
    command: str = "PRIVMSG",
    opening_tags: str = "",
) -> None:
    """Send a multiline batch; a line starting with ``+`` is sent with
    ``draft/multiline-concat`` (without the ``+``)."""
    out = [f"{opening_tags}BATCH +{ref} draft/multiline {target}"]
    for line in lines:
        if line.startswith("+"):
            out.append(f"@batch={ref};draft/multiline-concat {command} {target} :{line[1:]}")
        else:
            out.append(f"@batch={ref} {command} {target} :{line}")
    out.append(f"BATCH -{ref}")
    client.send(*out)


def fails(messages: list[Message]) -> list[tuple[str, ...]]:
    return [m.params for m in messages if m.command == "FAIL"]


def multiline_batch(messages: list[Message]) -> tuple[Message, list[Message], Message]:
    """The opening BATCH of the (first) multiline batch, its lines and its closing BATCH."""
    starts = [
        m
        for m in messages
        if m.command == "BATCH" and m.params[0][0] == "+" and m.params[1] == "draft/multiline"
    ]
    assert starts, messages
    ref = starts[0].params[0][1:]
    lines = [m for m in messages if m.tags.get("batch") == ref and m.command != "BATCH"]
    ends = [m for m in messages if m.command == "BATCH" and m.params[0] == "-" + ref]
    assert len(ends) == 1, messages
    return starts[0], lines, ends[0]


def privmsgs(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.command in ("PRIVMSG", "NOTICE")]


# -- the capability --------------------------------------------------------------------------


def test_cap_ls_302_offers_it_with_the_limits() -> None:
    client = Client(make_server(multiline_max_bytes=2000, multiline_max_lines=7))
    client.send("CAP LS 302")
    offered = " ".join(m.params[-1] for m in client.messages() if m.command == "CAP")
    assert "draft/multiline=max-bytes=2000,max-lines=7" in offered.split()
    client.send("CAP LS")  # (301: no values)
    offered = " ".join(m.params[-1] for m in client.messages() if m.command == "CAP")
    assert "draft/multiline" in offered.split()


def test_a_rehash_changes_the_advertised_limits(server: Server) -> None:
    import dataclasses

    limits = dataclasses.replace(server.limits, multiline_max_lines=3)
    server.apply_config(dataclasses.replace(server.config, limits=limits))
    client = Client(server)
    client.send("CAP LS 302")
    offered = " ".join(m.params[-1] for m in client.messages() if m.command == "CAP")
    assert "draft/multiline=max-bytes=4096,max-lines=3" in offered.split()


# -- delivery --------------------------------------------------------------------------------


def test_a_batch_reaches_each_client_as_it_can_take_it(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    carol = member(server, "carol", PLAIN_TAGS)
    dave = member(server, "dave")  # no tags at all
    settle(alice, bob, carol, dave)
    send_batch(
        alice,
        "#room",
        "hello",
        "",
        "how is ",
        "+everyone?",
        opening_tags="@+draft/reply=abc ",
    )
    assert alice.lines() == []  # (no echo-message)

    start, lines, end = multiline_batch(bob.messages())
    assert start.source == end.source == alice.session.user.prefix
    assert start.params[1:] == ("draft/multiline", "#room")
    msgid = start.tags["msgid"]
    assert msgid
    assert "time" in start.tags
    assert start.tags["+draft/reply"] == "abc"
    assert [(m.command, m.params) for m in lines] == [
        ("PRIVMSG", ("#room", "hello")),
        ("PRIVMSG", ("#room", "")),
        ("PRIVMSG", ("#room", "how is ")),
        ("PRIVMSG", ("#room", "everyone?")),
    ]
    assert [("draft/multiline-concat" in m.tags) for m in lines] == [False, False, False, True]
    assert all("msgid" not in m.tags for m in lines)

    fallback = carol.messages()
    assert [m.params for m in fallback] == [
        ("#room", "hello"),
        ("#room", "how is "),
        ("#room", "everyone?"),
    ]  # the blank line is not sent; no BATCH
    assert [m.tags.get("msgid") for m in fallback] == [msgid, None, None]
    assert [m.tags.get("+draft/reply") for m in fallback] == ["abc", "abc", "abc"]
    assert all(m.tags["time"] == start.tags["time"] for m in fallback)

    assert dave.lines() == [
        f":{alice.session.user.prefix} PRIVMSG #room :hello",
        f":{alice.session.user.prefix} PRIVMSG #room :how is ",
        f":{alice.session.user.prefix} PRIVMSG #room :everyone?",
    ]


def test_without_batch_the_capability_alone_gets_the_fallback(server: Server) -> None:
    alice = member(server, "alice", ML)
    half = member(server, "half", "draft/multiline message-tags")
    settle(alice, half)
    send_batch(alice, "#room", "one", "two")
    got = half.messages()
    assert [m.command for m in got] == ["PRIVMSG", "PRIVMSG"]
    assert [m.params[1] for m in got] == ["one", "two"]


def test_notice_batches_and_private_batches(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    send_batch(alice, "bob", "one", "two", command="NOTICE")
    start, lines, _ = multiline_batch(bob.messages())
    assert start.params[2] == "bob"
    assert [(m.command, m.params) for m in lines] == [
        ("NOTICE", ("bob", "one")),
        ("NOTICE", ("bob", "two")),
    ]
    bob.send("AWAY :lunch")
    bob.lines()
    alice.send("@label=a1 BATCH +x draft/multiline BOB", "@batch=x PRIVMSG bob :hi", "BATCH -x")
    away = [m for m in alice.messages() if m.command == "301"]
    assert [m.params[1:] for m in away] == [("bob", "lunch")]
    assert away[0].tags.get("label") is None  # (alice has no labeled-response)


def test_a_status_batch_reaches_only_the_operators(server: Server) -> None:
    op = member(server, "op", ML)
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(op, alice, bob)
    op.send("MODE #room +o alice")
    for c in (op, alice, bob):
        c.lines()
    send_batch(alice, "@#room", "ops only", "second")
    start, lines, _ = multiline_batch(op.messages())
    assert start.params[2] == "@#room"
    assert [m.params for m in lines] == [("@#room", "ops only"), ("@#room", "second")]
    assert bob.lines() == []


def test_one_event_for_the_whole_message(server: Server) -> None:
    heard: list[Event] = []
    server.network.subscribe(heard.append)
    alice = member(server, "alice", ML)
    member(server, "bob")
    heard.clear()
    send_batch(alice, "#room", "a", "+b", "", "c")
    assert [type(e) for e in heard] == [MultilineRelayed]
    event = heard[0]
    assert isinstance(event, MultilineRelayed)
    assert event.lines == ("a", "b", "", "c")
    assert event.concat == (False, True, False, False)
    assert event.text == "ab\n\nc"
    assert not any(isinstance(e, Relayed) for e in heard)


def test_a_line_too_long_once_relayed_is_split_and_concatenated(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    plain = member(server, "plain")
    settle(alice, bob, plain)
    room = 510 - len("@batch=ml1 PRIVMSG #room :")
    long = ("word " * 200)[:room]  # (fits as sent; too long with alice's prefix)
    send_batch(alice, "#room", long, "end")
    _, lines, _ = multiline_batch(bob.messages())
    assert len(lines) == 3
    assert "".join(m.params[1] for m in lines[:2]) == long
    assert [("draft/multiline-concat" in m.tags) for m in lines] == [False, True, False]
    assert lines[0].params[1].endswith(" ")  # (cut after a word)
    fallback = plain.lines()
    assert len(fallback) == 3
    assert all(len(raw.encode()) + 2 <= 512 for raw in fallback)
    assert "".join(parse(raw).params[1] for raw in fallback[:2]) == long


def test_to_a_service_the_lines_go_one_by_one(server: Server) -> None:
    alice = member(server, "alice", ML + " echo-message")
    send_batch(alice, "NickServ", "HELP", "", "HELP")
    got = alice.messages()
    assert "BATCH" not in [m.command for m in got]
    notices = [m for m in got if m.command == "NOTICE" and (m.source or "").startswith("NickServ")]
    assert len(notices) == 2  # one answer per line that is not blank
    assert [m.params for m in got if m.command == "PRIVMSG"] == [("NickServ", "HELP")] * 2


# -- echo-message and labels ---------------------------------------------------------------------


def test_echo_with_a_label_on_the_opening_batch_only(server: Server) -> None:
    caps = ML + " echo-message labeled-response"
    alice = member(server, "alice", caps)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    send_batch(alice, "#room", "one", "two", opening_tags="@label=L7 ")
    mine = alice.messages()
    start, lines, end = multiline_batch(mine)
    assert mine[0] is start
    assert start.tags["label"] == "L7"
    assert all("label" not in m.tags for m in [*lines, end])
    theirs, _, _ = multiline_batch(bob.messages())
    assert theirs.tags["msgid"] == start.tags["msgid"]  # one msgid for everyone


def test_a_label_on_the_closing_batch_is_taken_too(server: Server) -> None:
    alice = member(server, "alice", ML + " echo-message labeled-response")
    alice.send("BATCH +r draft/multiline #room", "@batch=r PRIVMSG #room :x", "@label=C BATCH -r")
    start, _, _ = multiline_batch(alice.messages())
    assert start.tags["label"] == "C"


def test_labelled_batch_without_echo_gets_an_ack(server: Server) -> None:
    alice = member(server, "alice", ML + " labeled-response")
    send_batch(alice, "#room", "one", opening_tags="@label=q ")
    got = alice.messages()
    assert [(m.command, m.tags.get("label")) for m in got] == [("ACK", "q")]


def test_a_labelled_fallback_of_several_lines_is_one_labelled_batch() -> None:
    """(No client reaches this through BATCH, which needs the capability: the item on its
    own, as any future caller would use it.)"""
    item = MultilineMessage(
        "a!u@h", "PRIVMSG", "#room", ["one", "", "two"], [False] * 3, {"msgid": "m1"}
    )
    caps = Cap.BATCH | Cap.LABELED_RESPONSE | Cap.MESSAGE_TAGS
    got = [
        parse(line) for line in item.render(caps, "srv", {"label": "F"}).decode().split("\r\n")[:-1]
    ]
    assert got[0].params[1] == "labeled-response"
    assert got[0].tags["label"] == "F"
    inner = privmsgs(got)
    assert [m.params[1] for m in inner] == ["one", "two"]
    assert all(m.tags["batch"] == got[0].params[0][1:] for m in inner)
    assert "msgid" in inner[0].tags
    assert "msgid" not in inner[1].tags
    unbatched = item.render(Cap.MESSAGE_TAGS, "srv", {"label": "F"}).decode()
    assert "label" not in unbatched
    assert unbatched.count("PRIVMSG") == 2
    single = MultilineMessage("a!u@h", "PRIVMSG", "#room", ["", "x"], [False] * 2, {})
    assert single.render(caps, "srv", {"label": "S"}).startswith(b"@label=S :a!u@h PRIVMSG")


def test_echo_and_away_reply_share_one_labelled_response(server: Server) -> None:
    alice = member(server, "alice", ML + " echo-message labeled-response")
    bob = member(server, "bob")
    settle(alice, bob)
    bob.send("AWAY :gone")
    send_batch(alice, "bob", "hi", opening_tags="@label=W ")
    got = alice.messages()
    assert got[0].params[1] == "labeled-response"
    assert got[0].tags["label"] == "W"
    outer = got[0].params[0][1:]
    start, _, end = multiline_batch(got)
    assert start.tags["batch"] == outer
    assert end.tags["batch"] == outer
    assert [m.params[1:] for m in got if m.command == "301"] == [("bob", "gone")]


def test_a_message_to_oneself_is_delivered_then_echoed(server: Server) -> None:
    alice = member(server, "alice", ML + " echo-message")
    send_batch(alice, "alice", "me", "myself")
    got = alice.messages()
    assert [m.command for m in got].count("BATCH") == 4  # two batches: delivered, echoed


# -- FAIL BATCH ------------------------------------------------------------------------------


def test_a_line_to_another_target_fails_the_batch(server: Server) -> None:
    alice = member(server, "alice", ML + " labeled-response")
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send(
        "@label=t BATCH +x draft/multiline #room",
        "@batch=x PRIVMSG #room :fine",
        "@batch=x PRIVMSG #other :wrong",
        "BATCH -x",
    )
    got = alice.messages()
    assert fails(got) == [
        ("BATCH", "MULTILINE_INVALID_TARGET", "#room", "#other", "Invalid multiline target")
    ]
    assert got[0].tags["label"] == "t"
    assert bob.lines() == []


def test_a_labelled_line_of_a_batch_not_open_is_acknowledged(server: Server) -> None:
    """The line is ignored (the rest of a batch already dropped), but labeled-response
    wants an answer to every labelled command: ACK."""
    alice = member(server, "alice", ML + " labeled-response")
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("@label=o1;batch=nope PRIVMSG #room :x", "@batch=nope PRIVMSG #room :y")
    got = alice.messages()
    assert [(m.command, m.tags.get("label")) for m in got] == [("ACK", "o1")]
    assert bob.lines() == []


def test_target_case_does_not_matter(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("BATCH +x draft/multiline #Room", "@batch=x PRIVMSG #ROOM :hi", "BATCH -x")
    assert fails(alice.messages()) == []
    multiline_batch(bob.messages())


@pytest.mark.parametrize(
    ("lines", "text"),
    [
        (["", ""], "Invalid multiline batch with blank lines only"),
        (["hello ", "+", "there"], "Invalid multiline batch with concatenated blank line"),
        ([], "Invalid multiline batch without lines"),
    ],
)
def test_invalid_batches(server: Server, lines: list[str], text: str) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    send_batch(alice, "#room", *lines)
    assert fails(alice.messages()) == [("BATCH", "MULTILINE_INVALID", text)]
    assert bob.lines() == []


def test_privmsg_and_notice_mixed_is_invalid(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send(
        "BATCH +m draft/multiline #room",
        "@batch=m PRIVMSG #room :this starts with a PRIVMSG",
        "@batch=m NOTICE #room :but ends with a NOTICE",
        "BATCH -m",
    )
    assert [f[:2] for f in fails(alice.messages())] == [("BATCH", "MULTILINE_INVALID")]
    assert bob.lines() == []


def test_other_commands_in_the_batch_make_it_invalid(server: Server) -> None:
    alice = member(server, "alice", ML)
    alice.send(
        "BATCH +m draft/multiline #room",
        "@batch=m PRIVMSG #room :x",
        "@batch=m;+typing=active TAGMSG #room",
        "BATCH -m",
    )
    assert [f[:2] for f in fails(alice.messages())] == [("BATCH", "MULTILINE_INVALID")]


def test_max_lines_is_exact() -> None:
    server = make_server(multiline_max_lines=3)
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    send_batch(alice, "#room", "1", "2", "3")
    assert fails(alice.messages()) == []
    assert len(multiline_batch(bob.messages())[1]) == 3
    send_batch(alice, "#room", "1", "2", "+3", "4")  # (concatenated lines count too)
    assert fails(alice.messages()) == [
        ("BATCH", "MULTILINE_MAX_LINES", "3", "Multiline batch max-lines exceeded")
    ]
    assert bob.lines() == []


def test_max_bytes_counts_texts_and_line_breaks_exactly() -> None:
    server = make_server(multiline_max_bytes=10)
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    send_batch(alice, "#room", "abcd", "é", "+fg")  # 4 + 1 + 2 + 2 (é is two bytes) + 0 = 9
    assert fails(alice.messages()) == []
    send_batch(alice, "#room", "abcd", "efghi")  # 4 + 1 + 5 = 10
    assert fails(alice.messages()) == []
    assert len(multiline_batch(bob.messages())[1]) == 3
    bob.lines()
    send_batch(alice, "#room", "abcd", "efghij")  # 11
    assert fails(alice.messages()) == [
        ("BATCH", "MULTILINE_MAX_BYTES", "10", "Multiline batch max-bytes exceeded")
    ]
    assert bob.lines() == []


def test_past_a_limit_nothing_more_is_kept() -> None:
    server = make_server(multiline_max_lines=2)
    alice = member(server, "alice", ML)
    alice.send("BATCH +big draft/multiline #room")
    alice.send(*[f"@batch=big PRIVMSG #room :line {i}" for i in range(50)])
    batch = alice.session.multiline
    assert batch is not None
    assert batch.lines == []
    assert batch.error is not None
    alice.send("BATCH -big")
    assert [f[1] for f in fails(alice.messages())] == ["MULTILINE_MAX_LINES"]
    assert alice.session.multiline is None


def test_bad_openings(server: Server) -> None:
    alice = member(server, "alice", ML)
    plain = member(server, "plain")
    settle(alice, plain)
    assert replies_to(alice, "BATCH +bad_ref! draft/multiline #room") == [
        ("FAIL", ("BATCH", "INVALID_REFTAG", "+bad_ref!", "Invalid batch reference tag"))
    ]
    assert replies_to(alice, "BATCH +ok example.com/other #room") == [
        ("FAIL", ("BATCH", "UNKNOWN_TYPE", "ok", "example.com/other", "Unknown batch type"))
    ]
    assert [r[1][:2] for r in replies_to(alice, "BATCH +ok draft/multiline #a,#b")] == [
        ("BATCH", "MULTILINE_INVALID")
    ]
    assert [r[0] for r in replies_to(alice, "BATCH +ok draft/multiline")] == ["461"]
    assert [r[1][:2] for r in replies_to(alice, "BATCH -nothing")] == [
        ("BATCH", "MULTILINE_INVALID")
    ]
    assert [r[1][:2] for r in replies_to(plain, "BATCH +ok draft/multiline #room")] == [
        ("BATCH", "MULTILINE_INVALID")
    ]  # (the capability was not negotiated)
    assert alice.session.multiline is None
    assert plain.session.multiline is None


def replies_to(client: Client, line: str) -> list[tuple[str, tuple[str, ...]]]:
    client.messages()
    client.send(line)
    return [(c, p[1:] if c.isdigit() else p) for c, p in replies(client)]


def test_lines_of_a_batch_that_is_not_open_are_ignored(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("BATCH +bad! draft/multiline #room", "@batch=bad! PRIVMSG #room :lost")
    assert [f[1] for f in fails(alice.messages())] == ["INVALID_REFTAG"]
    alice.send("@batch=never PRIVMSG #room :lost too")
    assert alice.lines() == []
    assert bob.lines() == []


# -- permissions: exactly as PRIVMSG -------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "numeric"),
    [
        ("MODE #room +m", "404"),
        ("MODE #room +b alice!*@*", "404"),
    ],
)
def test_a_batch_is_refused_where_privmsg_is(server: Server, setup: str, numeric: str) -> None:
    op = member(server, "op", ML)
    alice = member(server, "alice", ML + " labeled-response")
    settle(op, alice)
    op.send(setup)
    op.lines()
    alice.lines()
    alice.send("PRIVMSG #room :single")
    single = [m.command for m in alice.messages()]
    send_batch(alice, "#room", "one", "two", opening_tags="@label=p ")
    got = alice.messages()
    assert single == [numeric]
    assert [(m.command, m.params[1], m.tags.get("label")) for m in got] == [(numeric, "#room", "p")]
    assert op.lines() == []
    op.send("MODE #room +v alice")  # (voice lets her speak even so)
    op.lines()
    send_batch(alice, "#room", "now", "yes")
    multiline_batch(op.messages())


def test_outsiders_missing_channels_and_nicks(server: Server) -> None:
    member(server, "op", ML)  # (#room is +n)
    alice = member(server, "alice", ML, "#elsewhere")
    send_batch(alice, "#room", "x")
    assert [m.command for m in alice.messages()] == ["404"]
    send_batch(alice, "#nowhere", "x")
    assert [m.command for m in alice.messages()] == ["403"]
    send_batch(alice, "nobody", "x")
    assert [m.command for m in alice.messages()] == ["401"]
    send_batch(alice, "nobody", "x", command="NOTICE")
    assert alice.lines() == []  # (no error replies to NOTICE)


def test_a_secret_channel_answers_as_missing(server: Server) -> None:
    owner = member(server, "owner", ML, "#secret")
    owner.send("MODE #secret +s")
    outsider = member(server, "outsider", ML, "#other")
    send_batch(outsider, "#secret", "x")
    secret = [(m.command, m.params[2:]) for m in outsider.messages()]
    send_batch(outsider, "#missing", "x")
    missing = [(m.command, m.params[2:]) for m in outsider.messages()]
    assert secret == missing == [("403", ("No such channel",))]
    owner.lines()
    assert owner.lines() == []


# -- batches left open -------------------------------------------------------------------------


def test_an_unrelated_command_drops_the_open_batch_then_runs(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("BATCH +o draft/multiline #room", "@batch=o PRIVMSG #room :half")
    alice.send("PING still-open")  # (PING and PONG do not drop it)
    assert [m.command for m in alice.messages()] == ["PONG"]
    assert alice.session.multiline is not None
    alice.send("PRIVMSG #room :plain")  # (no tags: the fast path would take it)
    got = alice.messages()
    assert [f[:2] for f in fails(got)] == [("BATCH", "MULTILINE_INVALID")]
    assert alice.session.multiline is None
    assert [m.params for m in privmsgs(bob.messages())] == [("#room", "plain")]
    alice.send("@batch=o PRIVMSG #room :late", "BATCH -o")  # (ignored; nothing open)
    assert [f[:2] for f in fails(alice.messages())] == [("BATCH", "MULTILINE_INVALID")]
    assert bob.lines() == []


def test_a_new_batch_drops_the_open_one(server: Server) -> None:
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("BATCH +a draft/multiline #room", "@batch=a PRIVMSG #room :first")
    send_batch(alice, "#room", "second", ref="b")
    assert [f[:2] for f in fails(alice.messages())] == [("BATCH", "MULTILINE_INVALID")]
    _, lines, _ = multiline_batch(bob.messages())
    assert [m.params[1] for m in lines] == ["second"]


def test_a_batch_never_closed_times_out() -> None:
    clock = FakeClock()
    server = make_server(clock, multiline_timeout=5.0)
    alice = member(server, "alice", ML + " labeled-response")
    bob = member(server, "bob", ML)
    settle(alice, bob)
    alice.send("@label=T BATCH +slow draft/multiline #room", "@batch=slow PRIVMSG #room :x")
    clock.advance(4.0)
    server.tick()
    assert alice.session.multiline is not None
    alice.send("@batch=slow PRIVMSG #room :y")  # (a line of it: the wait starts again)
    clock.advance(4.0)
    server.tick()
    assert alice.session.multiline is not None
    clock.advance(1.5)
    server.tick()
    got = alice.messages()
    assert [(m.params, m.tags.get("label")) for m in got] == [
        (("BATCH", "TIMEOUT", "slow", "Multiline batch timed out"), "T")
    ]
    assert alice.session.multiline is None
    alice.send("BATCH -slow")
    assert bob.lines() == []


# -- flood control -----------------------------------------------------------------------------


def test_flood_control_counts_every_line_and_a_whole_batch_fits() -> None:
    clock = FakeClock()
    server = make_server(clock, flood=True, flood_burst=10, flood_rate=1.0, ping_interval=1e6)
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    clock.advance(60.0)  # (a full bucket again)
    send_batch(alice, "#room", *[f"line {i}" for i in range(100)])
    assert not alice.closed  # a whole batch is held, not Excess Flood
    for _ in range(91):  # 102 lines: 10 at once, then one a second
        assert bob.lines() == []
        clock.advance(1.0)
        server.tick()
    assert alice.session.multiline is not None
    clock.advance(1.0)
    server.tick()
    _, lines, _ = multiline_batch(bob.messages())
    assert len(lines) == 100


def test_held_lines_keep_a_batch_from_timing_out() -> None:
    clock = FakeClock()
    server = make_server(
        clock, flood=True, flood_burst=6, flood_rate=0.1, multiline_timeout=2.0, ping_interval=1e6
    )
    alice = member(server, "alice", ML)
    bob = member(server, "bob", ML)
    settle(alice, bob)
    clock.advance(100.0)
    texts = [str(i) for i in range(10)]
    send_batch(alice, "#room", *texts)
    assert alice.session.pending  # (6 lines handled, 6 held)
    clock.advance(5.0)  # no line of it handled for 5 s, but the rest is waiting
    server.tick()
    assert fails(alice.messages()) == []
    for _ in range(70):
        clock.advance(1.0)
        server.tick()
    _, lines, _ = multiline_batch(bob.messages())
    assert [m.params[1] for m in lines] == texts


def test_more_than_a_batch_held_is_still_excess_flood() -> None:
    server = make_server(flood=True, flood_burst=2, multiline_max_lines=80)
    alice = Client(server).register("alice")
    assert server.max_pending == 82
    alice.send(*["PING x"] * (server.max_pending + 5))
    assert alice.closed


# -- history -----------------------------------------------------------------------------------

HIST = "draft/chathistory batch message-tags server-time soju.im/search"


def test_history_keeps_one_row_and_replays_a_nested_batch() -> None:
    server, recorder = server_with_history()
    alice = joined(server, "alice", "#room", caps=ML + " echo-message")
    reader = joined(server, "reader", "#room", caps=HIST + " draft/multiline")
    plain = joined(server, "plain", "#room", caps=HIST)
    send_batch(alice, "#room", "hello", "", "how is ", "+everyone?")
    alice.send("PRIVMSG #room :after")
    live, _, _ = multiline_batch(alice.messages())
    msgid = live.tags["msgid"]
    rows = [r for r in recorder.store.query("#room", "", limit=10, newest=True) if r.msgid == msgid]
    assert len(rows) == 1
    assert rows[0].text == "hello\n\nhow is everyone?"
    assert ROW_TAG in rows[0].tags

    reader.messages()
    reader.send("CHATHISTORY LATEST #room * 10")
    got = reader.messages()
    outer = got[0]
    assert outer.params[1:] == ("chathistory", "#room")
    start, lines, end = multiline_batch(got)
    assert start.tags["batch"] == end.tags["batch"] == outer.params[0][1:]
    assert start.tags["msgid"] == msgid
    assert ROW_TAG not in start.tags
    assert [m.params[1] for m in lines] == ["hello", "", "how is ", "everyone?"]
    assert [("draft/multiline-concat" in m.tags) for m in lines] == [False, False, False, True]
    assert got[-2].params[1] == "after"  # (in order, one message each)

    plain.messages()
    plain.send("CHATHISTORY LATEST #room * 2")
    got = plain.messages()
    inner = privmsgs(got)
    assert [m.params[1] for m in inner] == ["hello", "how is ", "everyone?", "after"]
    assert [m.tags.get("msgid") for m in inner[:3]] == [msgid, None, None]
    assert all(m.tags["batch"] == got[0].params[0][1:] for m in inner)
    assert "BATCH" not in [m.command for m in got[1:-1]]


def test_search_finds_it_by_any_of_its_words_and_redact_removes_it_whole() -> None:
    server, _ = server_with_history()
    caps = HIST + " draft/multiline draft/message-redaction echo-message"
    alice = joined(server, "alice", "#room", caps=caps)
    send_batch(alice, "#room", "first line", "second with pineapple", "split wo", "+rd")
    start, _, _ = multiline_batch(alice.messages())
    for words in ("pineapple", "first", "word"):
        alice.send(f"SEARCH in=#room;text={words}")
        got = alice.messages()
        found, lines, _ = multiline_batch(got)
        assert found.tags["msgid"] == start.tags["msgid"], words
        assert len(lines) == 4
    alice.send(f"REDACT #room {start.tags['msgid']}")
    assert [m.command for m in alice.messages()] == ["REDACT"]
    alice.send("SEARCH in=#room;text=pineapple")
    assert not privmsgs(alice.messages())
    alice.send("CHATHISTORY LATEST #room * 10")
    assert not privmsgs(alice.messages())


def test_private_multiline_history_is_kept_for_both_parties() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", caps=HIST + " draft/multiline")
    bob = joined(server, "bob", caps=HIST + " draft/multiline")
    send_batch(alice, "bob", "psst", "two")
    bob.messages()
    for client, peer in ((alice, "bob"), (bob, "alice")):
        client.send(f"CHATHISTORY LATEST {peer} * 10")
        _, lines, _ = multiline_batch(client.messages())
        assert [m.params for m in lines] == [("bob", "psst"), ("bob", "two")]


def test_the_sender_is_held_until_the_row_is_committed() -> None:
    server, recorder = server_with_history(auto_commit=False)
    alice = joined(server, "alice", "#room", caps=ML + " echo-message")
    recorder.commit()
    alice.lines()
    send_batch(alice, "#room", "a", "b")
    assert alice.lines() == []  # (held: the echo acknowledges it)
    recorder.commit()
    multiline_batch(alice.messages())


def test_a_status_batch_is_not_history() -> None:
    server, recorder = server_with_history()
    alice = joined(server, "alice", "#room", caps=ML)
    before = len(recorder.store.query("#room", "", limit=100, newest=True) or [])
    send_batch(alice, "@#room", "ops", "only")
    assert len(recorder.store.query("#room", "", limit=100, newest=True) or []) == before


# -- the row format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "concat"),
    [
        (["a"], [False]),
        (["hello", "", "how is ", "everyone?"], [False, False, False, True]),
        (["a", "", "x"], [False, False, True]),
        (["x", "y", "z", ""], [False, True, True, False]),
        (["", "b"], [False, False]),
    ],
)
def test_rows_give_back_the_lines_as_sent(lines: list[str], concat: list[bool]) -> None:
    from hubbub.server.events import join_lines

    text = join_lines(lines, concat)
    assert lines_of_row(text, row_marker(text, lines, concat)) == (lines, concat)


def test_a_damaged_mark_never_loses_the_text() -> None:
    text = "ab\ncd"
    for marker in ("", "x", "99", "-1,0", "2", "1,1,4,junk"):
        lines, concat = lines_of_row(text, marker)
        from hubbub.server.events import join_lines

        assert join_lines(lines, concat) == text, marker


def test_a_history_reply_of_multiline_messages_is_bounded_in_lines() -> None:
    """The limit counts messages and a multiline message is many lines: a reply holds at
    most ``request_limit`` lines' worth (the newest messages that fit, at least one)."""
    server, _ = server_with_history(request_limit=10)
    alice = joined(server, "alice", "#room", caps=ML)
    reader = joined(server, "reader", "#room", caps=HIST + " draft/multiline")
    for i in range(5):
        send_batch(alice, "#room", f"m{i} one", f"m{i} two", f"m{i} three", ref=f"b{i}")
    reader.messages()

    def replayed(request: str) -> list[str]:
        reader.send(request)
        texts = [m.params[1] for m in reader.messages() if m.command == "PRIVMSG"]
        return [text for text in texts if text.endswith(" one")]

    assert replayed("CHATHISTORY LATEST #room * 10") == ["m3 one", "m4 one"]
    assert replayed("CHATHISTORY LATEST #room * 1") == ["m4 one"]
    assert replayed("CHATHISTORY AFTER #room timestamp=2000-01-01T00:00:00.000Z 10") == [
        "m0 one",
        "m1 one",
    ]
