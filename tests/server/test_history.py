"""History on the sans-I/O core: what is kept, CHATHISTORY, access, durability holds, join
replay, MARKREAD, REDACT and SEARCH (the database is SQLite in memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hubbub.protocol.message import Message
from hubbub.server.delivery import format_time
from tests.server.harness import Client, FakeClock, host_of
from tests.server.historyhelpers import joined, server_with_history

HIST = "draft/chathistory batch message-tags server-time labeled-response"


def batch_lines(messages: list[Message]) -> list[Message]:
    """The messages inside the first batch of ``messages``."""
    starts = [m for m in messages if m.command == "BATCH" and m.params[0].startswith("+")]
    assert starts, messages
    ref = starts[0].params[0][1:]
    return [m for m in messages if m.tags.get("batch") == ref and m.command != "BATCH"]


def texts(messages: list[Message]) -> list[str]:
    return [m.params[-1] for m in messages]


def said(client: Client, target: str, *lines: str) -> None:
    for line in lines:
        client.send(f"PRIVMSG {target} :{line}")


def test_latest_returns_what_was_said_in_order_with_ids_and_times() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#room")
    bob = joined(server, "bob", "#room", caps=HIST)
    said(alice, "#room", "one", "two")
    clock.advance(1)
    said(alice, "#room", "three")
    live = [m for m in bob.messages() if m.command == "PRIVMSG"]
    bob.send("@label=q1 CHATHISTORY LATEST #room * 10")
    reply = bob.messages()
    start = reply[0]
    assert start.command == "BATCH"
    assert start.params[1:] == ("chathistory", "#room")
    assert start.tags["label"] == "q1"
    got = batch_lines(reply)
    assert texts(got) == ["one", "two", "three"]
    assert [m.tags["msgid"] for m in got] == [m.tags["msgid"] for m in live]
    assert [m.tags["time"] for m in got] == [m.tags["time"] for m in live]
    assert (got[0].source or "").startswith("alice!")


def test_latest_limit_before_after_between_and_around() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#room", caps=HIST)
    for i in range(10):
        said(alice, "#room", f"m{i}")
        clock.advance(1)
    alice.messages()
    alice.send("CHATHISTORY LATEST #room * 3")
    latest = batch_lines(alice.messages())
    assert texts(latest) == ["m7", "m8", "m9"]
    ids = {m.params[-1]: m.tags["msgid"] for m in latest}
    alice.send(f"CHATHISTORY BEFORE #room msgid={ids['m7']} 2")
    assert texts(batch_lines(alice.messages())) == ["m5", "m6"]
    alice.send("CHATHISTORY LATEST #room * 10")
    every = batch_lines(alice.messages())
    ids = {m.params[-1]: m.tags["msgid"] for m in every}
    stamp = {m.params[-1]: m.tags["time"] for m in every}
    alice.send(f"CHATHISTORY AFTER #room msgid={ids['m2']} 3")
    assert texts(batch_lines(alice.messages())) == ["m3", "m4", "m5"]
    alice.send(f"CHATHISTORY AFTER #room timestamp={stamp['m2']} 2")
    assert texts(batch_lines(alice.messages())) == ["m3", "m4"]
    alice.send(f"CHATHISTORY LATEST #room msgid={ids['m6']} 100")
    assert texts(batch_lines(alice.messages())) == ["m7", "m8", "m9"]
    alice.send(f"CHATHISTORY BETWEEN #room msgid={ids['m1']} msgid={ids['m8']} 3")
    assert texts(batch_lines(alice.messages())) == ["m2", "m3", "m4"]
    alice.send(f"CHATHISTORY BETWEEN #room msgid={ids['m8']} msgid={ids['m1']} 3")
    assert texts(batch_lines(alice.messages())) == ["m5", "m6", "m7"]
    alice.send(f"CHATHISTORY BETWEEN #room timestamp={stamp['m8']} timestamp={stamp['m1']} 2")
    assert texts(batch_lines(alice.messages())) == ["m6", "m7"]
    alice.send(f"CHATHISTORY AROUND #room msgid={ids['m5']} 3")
    assert texts(batch_lines(alice.messages())) == ["m4", "m5", "m6"]
    alice.send(f"CHATHISTORY AROUND #room msgid={ids['m5']} 1")
    assert texts(batch_lines(alice.messages())) == ["m5"]
    alice.send(f"CHATHISTORY AROUND #room timestamp={stamp['m5']} 3")
    assert texts(batch_lines(alice.messages())) == ["m4", "m5", "m6"]


def test_unknown_msgid_and_bad_parameters_get_fail() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST)
    for line, code in (
        ("CHATHISTORY BEFORE #room msgid=nope 10", "INVALID_PARAMS"),
        ("CHATHISTORY SIDEWAYS #room * 10", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room * 0", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room * -5", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room timestamp=yesterday 5", "INVALID_PARAMS"),
        ("CHATHISTORY BEFORE #room * 5", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room *", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room * 5 6", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #nowhere * 5", "INVALID_TARGET"),
        ("CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z * 5", "INVALID_PARAMS"),
    ):
        alice.send(line)
        fails = [m for m in alice.messages() if m.command == "FAIL"]
        assert len(fails) == 1, line
        assert fails[0].params[:2] == ("CHATHISTORY", code), line


def test_an_unknown_msgid_is_the_parameter_its_fail_names() -> None:
    """``FAIL CHATHISTORY INVALID_PARAMS <subcommand> <the invalid parameter>``: the
    reference that named no message, not the target."""
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST)
    said(alice, "#room", "a")
    alice.messages()
    alice.send("CHATHISTORY LATEST #room * 1")
    known = batch_lines(alice.messages())[0].tags["msgid"]
    for line, named in (
        ("CHATHISTORY BEFORE #room msgid=nope 10", "msgid=nope"),
        ("CHATHISTORY AROUND #room msgid=nope 10", "msgid=nope"),
        (f"CHATHISTORY BETWEEN #room msgid={known} msgid=gone 10", "msgid=gone"),
        (
            "CHATHISTORY BETWEEN #room msgid=gone timestamp=2020-01-01T00:00:00.000Z 10",
            "msgid=gone",
        ),
    ):
        alice.send(line)
        fails = [m.params[:4] for m in alice.messages() if m.command == "FAIL"]
        sub = line.split()[1]
        assert fails == [("CHATHISTORY", "INVALID_PARAMS", sub, named)], line


def test_a_conversation_batch_names_the_other_party_as_the_client_asked() -> None:
    """As ergo does, and irctest checks (``testChathistoryDMs``): ``CHATHISTORY LATEST BOB``
    is a ``chathistory BOB`` batch, whoever holds the nick and however they write it."""
    server, _ = server_with_history()
    alice = joined(server, "alice", caps=HIST)
    bob = joined(server, "BoB", caps=HIST)
    alice.send("PRIVMSG bob :hi")
    bob.messages()
    alice.messages()
    alice.send("CHATHISTORY LATEST BOB * 10")
    starts = [m.params for m in alice.messages() if m.command == "BATCH" and m.params[0][0] == "+"]
    assert [p[1:] for p in starts] == [("chathistory", "BOB")]


def test_limit_is_capped_by_request_limit() -> None:
    server, _ = server_with_history(request_limit=2)
    alice = joined(server, "alice", "#room", caps=HIST)
    said(alice, "#room", "a", "b", "c")
    alice.messages()
    alice.send("CHATHISTORY LATEST #room * 1000")
    assert texts(batch_lines(alice.messages())) == ["b", "c"]
    newcomer = Client(server)
    newcomer.send("NICK x", "USER u 0 * :R")
    isupport = " ".join(" ".join(m.params) for m in newcomer.messages() if m.command == "005")
    assert "CHATHISTORY=2" in isupport
    assert "MSGREFTYPES=timestamp,msgid" in isupport


def test_private_messages_are_readable_by_both_parties_only() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", caps=HIST)
    bob = joined(server, "bob", caps=HIST)
    carol = joined(server, "carol", caps=HIST)
    alice.send("PRIVMSG bob :hello bob")
    bob.send("PRIVMSG alice :hi alice")
    for client, other in ((alice, "bob"), (bob, "alice")):
        client.messages()
        client.send(f"CHATHISTORY LATEST {other} * 10")
        assert texts(batch_lines(client.messages())) == ["hello bob", "hi alice"]
    carol.send("CHATHISTORY LATEST bob * 10")
    assert batch_lines_or_empty(carol.messages()) == []
    carol.send("CHATHISTORY LATEST alice * 10")
    assert batch_lines_or_empty(carol.messages()) == []


def batch_lines_or_empty(messages: list[Message]) -> list[Message]:
    assert any(m.command == "BATCH" for m in messages), messages
    return batch_lines(messages)


def test_a_secret_channel_is_never_read_by_an_outsider() -> None:
    server, _ = server_with_history(public=True)
    alice = joined(server, "alice", "#open", "#hidden", caps=HIST)
    alice.send("MODE #hidden +s")
    said(alice, "#hidden", "secret plans")
    said(alice, "#open", "hello world")
    outsider = joined(server, "eve", caps=HIST + " soju.im/search")
    outsider.send("CHATHISTORY LATEST #hidden * 10")
    reply = outsider.messages()
    assert [m.params[:2] for m in reply if m.command == "FAIL"] == [
        ("CHATHISTORY", "INVALID_TARGET")
    ]
    assert "secret plans" not in " ".join(" ".join(m.params) for m in reply)
    outsider.send("CHATHISTORY LATEST #open * 10")
    assert texts(batch_lines(outsider.messages())) == ["hello world"]
    outsider.send("SEARCH text=secret")
    assert batch_lines_or_empty(outsider.messages()) == []
    outsider.send("SEARCH in=#hidden;text=secret")
    assert [m.params[:2] for m in outsider.messages() if m.command == "FAIL"] == [
        ("SEARCH", "INVALID_PARAMS")
    ]


def test_members_only_by_default() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST)
    said(alice, "#room", "members only")
    outsider = joined(server, "eve", caps=HIST)
    outsider.send("CHATHISTORY LATEST #room * 10")
    assert [m.params[1] for m in outsider.messages() if m.command == "FAIL"] == ["INVALID_TARGET"]


def test_invite_only_channel_members_read_only_since_they_joined() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#club", caps=HIST)
    alice.send("MODE #club +i")
    said(alice, "#club", "before bob")
    clock.advance(2)
    bob = joined(server, "bob", caps=HIST)
    alice.send("INVITE bob #club")
    bob.send("JOIN #club")
    clock.advance(2)
    said(alice, "#club", "after bob")
    bob.messages()
    bob.send("CHATHISTORY LATEST #club * 10")
    assert texts(batch_lines(bob.messages())) == ["after bob"]
    alice.messages()
    alice.send("CHATHISTORY LATEST #club * 10")
    assert texts(batch_lines(alice.messages())) == ["before bob", "after bob"]


def test_event_playback_only_for_clients_that_ask() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST)
    bob = joined(server, "bob", "#room")
    said(bob, "#room", "hi")
    bob.send("PART #room :bye", "TOPIC #room :x")
    alice.send("TOPIC #room :new topic")
    alice.messages()
    alice.send("CHATHISTORY LATEST #room * 10")
    assert [m.command for m in batch_lines(alice.messages())] == ["PRIVMSG"]
    playback = joined(server, "carol", "#room", caps=HIST + " draft/event-playback")
    playback.send("CHATHISTORY LATEST #room * 10")
    assert [m.command for m in batch_lines(playback.messages())] == [
        "JOIN",
        "JOIN",
        "PRIVMSG",
        "PART",
        "TOPIC",
        "JOIN",
    ]


def test_typing_notifications_are_not_kept_but_reactions_are() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST + " draft/event-playback")
    alice.send("@+typing=active TAGMSG #room", "@+draft/react=x;+typing=done TAGMSG #room")
    alice.messages()
    alice.send("CHATHISTORY LATEST #room * 10")
    kept = [m for m in batch_lines(alice.messages()) if m.command == "TAGMSG"]
    assert len(kept) == 1
    assert kept[0].tags.get("+draft/react") == "x"
    assert "+typing" not in kept[0].tags


def test_the_echo_waits_until_the_message_is_committed() -> None:
    server, recorder = server_with_history(auto_commit=False)
    alice = joined(server, "alice", "#room", caps="echo-message")
    bob = joined(server, "bob", "#room")
    recorder.commit()
    alice.lines()
    alice.send("PRIVMSG #room :kept before you see it")
    assert "kept before you see it" in " ".join(bob.lines())
    assert alice.lines() == []  # (not committed yet: no acknowledgement)
    recorder.commit()
    assert any("kept before you see it" in line for line in alice.lines())


def test_a_client_without_echo_is_not_held() -> None:
    server, _ = server_with_history(auto_commit=False)
    alice = joined(server, "alice", "#room")
    alice.send("PRIVMSG #room :hi", "PING :x")
    assert any("PONG" in line for line in alice.lines())


def test_join_replay_for_clients_without_chathistory() -> None:
    server, _ = server_with_history(join_replay=2)
    alice = joined(server, "alice", "#room")
    said(alice, "#room", "one", "two", "three")
    plain = Client(server).register("plain")
    plain.send("JOIN #room")
    lines = plain.lines()
    assert [line.rsplit(":", 1)[-1] for line in lines if " PRIVMSG " in line] == ["two", "three"]
    batched = Client(server).register("batched", "batch server-time")
    batched.send("JOIN #room")
    got = batched.messages()
    assert texts(batch_lines(got)) == ["two", "three"]
    asks = Client(server).register("asks", HIST)
    asks.send("JOIN #room")
    assert not any(m.command == "PRIVMSG" for m in asks.messages())


def test_history_off_for_a_channel_keeps_nothing() -> None:
    server, recorder = server_with_history()
    alice = joined(server, "alice", "#quiet", caps=HIST)
    channel = server.find_channel("#quiet")
    assert channel is not None
    channel.history = "off"
    before = recorder.seq
    said(alice, "#quiet", "not kept")
    assert recorder.seq == before
    alice.messages()
    alice.send("CHATHISTORY LATEST #quiet * 10")
    assert batch_lines_or_empty(alice.messages()) == []


def test_targets_lists_channels_and_conversations() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#room", caps=HIST)
    bob = joined(server, "bob", caps=HIST)
    said(alice, "#room", "in the room")
    clock.advance(5)
    bob.send("PRIVMSG alice :psst")
    alice.messages()
    start = format_time(clock() - 60)
    end = format_time(clock() + 60)
    alice.send(f"CHATHISTORY TARGETS timestamp={start} timestamp={end} 10")
    reply = alice.messages()
    assert reply[0].params[1] == "draft/chathistory-targets"
    rows = [m.params[1] for m in batch_lines(reply)]
    assert rows == ["#room", "bob"]  # by the time of their latest line, oldest first
    alice.send(f"CHATHISTORY TARGETS timestamp={end} timestamp={start} 1")
    assert [m.params[1] for m in batch_lines(alice.messages())] == ["bob"]


def test_markread_writes_wait_for_the_one_under_way_and_go_together() -> None:
    """A flood of MARKREADs (an attack audit: 120 connections moving markers forward a
    millisecond at a time held another user's CHATHISTORY 2.2 s behind a queue of single
    writes) costs the database one write at a time, of every marker moved meanwhile, each
    at its latest."""
    clock = FakeClock()
    server, _ = server_with_history(clock)
    store = server.history.store if server.history is not None else None
    assert store is not None
    held: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
    writes: list[list[tuple[str, str, float]]] = []
    set_markers = store.set_markers

    def counted(marks: Sequence[tuple[str, str, float]]) -> list[float]:
        writes.append(list(marks))
        return list(set_markers(marks))

    store.set_markers = counted  # type: ignore[method-assign]
    caps = "draft/read-marker"
    clients = [joined(server, f"c{i}", "#room", "#other", caps=caps) for i in range(3)]
    for client in clients:
        server.network.set_account(client.session.user, "dana")
    host_of(server).run = lambda work, done: held.append((work, done))
    start = clock() - 100
    for i in range(10):
        for client in clients:
            client.send(f"MARKREAD #room timestamp={format_time(start + i)}")
    clients[0].send(f"MARKREAD #other timestamp={format_time(start)}")
    assert len(held) == 1  # (the first; the rest wait for it)
    work, done = held.pop()
    done(work())
    assert len(held) == 1  # (everything that came meanwhile, in one write)
    work, done = held.pop()
    done(work())
    assert held == []
    assert writes == [
        [("dana", "#room", start)],
        [("dana", "#room", start + 9), ("dana", "#other", start)],
    ]
    assert store.get_marker("dana", "#room") == start + 9


def test_markread_is_answered_once_its_marker_is_written() -> None:
    """A durability audit: MARKREAD was answered before its write, and a ``kill -9`` then
    lost markers the client had seen confirmed. The answer (and whatever follows it) waits
    for the write; a failed write is answered all the same (the marker is kept in memory)."""
    clock = FakeClock()
    server, _ = server_with_history(clock)
    store = server.history.store if server.history is not None else None
    assert store is not None
    held: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
    one = joined(server, "one", "#room", caps="draft/read-marker")
    server.network.set_account(one.session.user, "dana")
    one.messages()
    host_of(server).run = lambda work, done: held.append((work, done))
    stamp = clock() - 10
    one.send(f"MARKREAD #room timestamp={format_time(stamp)}", "PING :after")
    assert one.messages() == []
    assert store.get_marker("dana", "#room") is None
    work, done = held.pop()
    done(work())
    assert [m.command for m in one.messages()] == ["MARKREAD", "PONG"]
    assert store.get_marker("dana", "#room") == stamp


def test_a_login_reads_its_markers_before_its_next_lines() -> None:
    """A durability audit: a JOIN or MARKREAD sent right after logging in found no marker
    (``*``), because the account's markers were still being read: the client showed
    everything as unread. The lines after a login wait for that read."""
    clock = FakeClock()
    server, _ = server_with_history(clock)
    store = server.history.store if server.history is not None else None
    assert store is not None
    stamp = clock() - 50
    store.set_markers([("dana", "#room", stamp)])
    held: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
    one = joined(server, "one", "#room", caps="draft/read-marker")
    one.messages()
    host_of(server).run = lambda work, done: held.append((work, done))
    server.network.set_account(one.session.user, "dana")
    one.send("MARKREAD #room", "PING :after")
    assert [m.command for m in one.messages()] == []
    assert len(held) == 1
    work, done = held.pop()
    done(work())
    got = one.messages()
    assert [(m.command, m.params) for m in got] == [
        ("MARKREAD", ("#room", f"timestamp={format_time(stamp)}")),
        ("PONG", (server.name, "after")),
    ]


def test_markread_sets_only_forward_and_syncs_the_accounts_other_connections() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    caps = "draft/read-marker"
    one = joined(server, "one", "#room", caps=caps)
    two = joined(server, "two", caps=caps)
    other = joined(server, "other", "#room", caps=caps)
    for client in (one, two):
        server.network.set_account(client.session.user, "dana")
    for client in (one, two, other):
        client.lines()
    stamp = format_time(clock() - 10)
    one.send(f"MARKREAD #room timestamp={stamp}")
    assert [m.params for m in one.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    assert [m.params for m in two.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    assert [m for m in other.messages() if m.command == "MARKREAD"] == []
    older = format_time(clock() - 100)
    two.send(f"MARKREAD #room timestamp={older}")
    assert [m.params for m in two.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    two.send("MARKREAD #room")
    assert [m.params for m in two.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    two.send("JOIN #room")
    got = two.messages()
    marks = [i for i, m in enumerate(got) if m.command == "MARKREAD"]
    names_end = [i for i, m in enumerate(got) if m.command == "366"]
    assert marks
    assert names_end
    assert marks[0] < names_end[0]
    two.send("MARKREAD #room timestamp=garbage")
    assert [m.params[:2] for m in two.messages() if m.command == "FAIL"] == [
        ("MARKREAD", "INVALID_PARAMS")
    ]


def test_markread_survives_in_the_database_for_the_account() -> None:
    server, recorder = server_with_history()
    one = joined(server, "one", "#room", caps="draft/read-marker")
    server.network.set_account(one.session.user, "dana")
    one.send("MARKREAD #room timestamp=2026-01-01T00:00:00.000Z")
    assert recorder.store.get_marker("dana", "#room") is not None


def test_redact_own_message_removes_it_and_tells_clients_with_the_cap() -> None:
    server, _ = server_with_history()
    caps = HIST + " draft/message-redaction echo-message"
    alice = joined(server, "alice", "#room", caps=caps)
    bob = joined(server, "bob", "#room", caps=caps)
    plain = joined(server, "plain", "#room")
    said(alice, "#room", "oops")
    msgid = [m for m in alice.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    bob.messages()
    plain.lines()
    alice.send(f"REDACT #room {msgid} :typo")
    assert [m.params for m in bob.messages() if m.command == "REDACT"] == [("#room", msgid, "typo")]
    assert [m.params for m in alice.messages() if m.command == "REDACT"] == [
        ("#room", msgid, "typo")
    ]
    assert not any("REDACT" in line for line in plain.lines())
    bob.send("CHATHISTORY LATEST #room * 10")
    assert batch_lines_or_empty(bob.messages()) == []


def test_redact_someone_elses_message_is_forbidden_unless_operator() -> None:
    server, _ = server_with_history()
    caps = HIST + " draft/message-redaction echo-message"
    op = joined(server, "op", "#room", caps=caps)
    alice = joined(server, "alice", "#room", caps=caps)
    bob = joined(server, "bob", "#room", caps=caps)
    said(alice, "#room", "spam")
    msgid = [m for m in alice.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    bob.messages()
    bob.send(f"REDACT #room {msgid}")
    assert [m.params[:2] for m in bob.messages() if m.command == "FAIL"] == [
        ("REDACT", "REDACT_FORBIDDEN")
    ]
    op.messages()
    op.send(f"REDACT #room {msgid} :spam")
    assert any(m.command == "REDACT" for m in bob.messages())
    bob.send("REDACT #room nosuchid")
    assert [m.params[:2] for m in bob.messages() if m.command == "FAIL"] == [
        ("REDACT", "UNKNOWN_MSGID")
    ]


def test_without_an_account_only_what_was_said_since_taking_the_nick_is_ones_own() -> None:
    """Without an account, a message is the sender's by its ``nick!user@host``: someone who
    takes the same nick later, from the same address and user name, is another person and
    may not redact it."""
    clock = FakeClock()
    server, _ = server_with_history(clock)
    caps = HIST + " draft/message-redaction echo-message"
    bob = joined(server, "bob", "#room", caps=caps)
    first = joined(server, "rx", "#room", caps=caps)
    said(first, "#room", "mine")
    mine = [m for m in first.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    clock.advance(1)
    first.send("QUIT")
    clock.advance(1)
    later = joined(server, "rx", "#room", caps=caps)
    assert later.session.user.prefix == first.session.user.prefix
    later.send(f"REDACT #room {mine}")
    assert [m.params[:2] for m in later.messages() if m.command == "FAIL"] == [
        ("REDACT", "REDACT_FORBIDDEN")
    ]
    said(later, "#room", "also mine")
    own = [m for m in later.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    later.send(f"REDACT #room {own}")
    assert [m.params[:2] for m in later.messages() if m.command == "REDACT"] == [("#room", own)]
    assert [m.params[:2] for m in bob.messages() if m.command == "REDACT"] == [("#room", own)]


def test_search_by_text_sender_and_target() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    caps = HIST + " soju.im/search"
    alice = joined(server, "alice", "#a", "#b", caps=caps)
    bob = joined(server, "bob", "#a", caps=caps)
    said(alice, "#a", "the quick brown fox")
    clock.advance(1)
    said(bob, "#a", "a lazy dog")
    clock.advance(1)
    said(alice, "#b", "another fox story")
    bob.send("PRIVMSG alice :fox in private")
    alice.messages()
    alice.send("SEARCH text=fox")
    reply = alice.messages()
    assert reply[0].params[1] == "soju.im/search"
    assert texts(batch_lines(reply)) == [
        "the quick brown fox",
        "another fox story",
        "fox in private",
    ]
    alice.send("SEARCH text=fox;in=#a")
    assert texts(batch_lines(alice.messages())) == ["the quick brown fox"]
    alice.send("SEARCH from=bob")
    assert texts(batch_lines(alice.messages())) == ["a lazy dog", "fox in private"]
    alice.send("SEARCH text=fox;limit=1")
    assert texts(batch_lines(alice.messages())) == ["fox in private"]
    bob.messages()
    bob.send("SEARCH text=fox")  # bob is not in #b
    assert texts(batch_lines(bob.messages())) == ["the quick brown fox", "fox in private"]
    for bad in ("SEARCH limit=abc", "SEARCH after=yesterday", "SEARCH colour=red"):
        alice.send(bad)
        assert [m.params[:2] for m in alice.messages() if m.command == "FAIL"] == [
            ("SEARCH", "INVALID_PARAMS")
        ], bad
    alice.send('SEARCH text=" OR NEAR( * AND')
    assert any(m.command == "BATCH" for m in alice.messages())


def test_commands_and_caps_only_with_history() -> None:
    from tests.server.harness import make_server

    server = make_server()
    client = Client(server).register("x")
    client.send("CHATHISTORY LATEST #a * 1")
    assert [m.command for m in client.messages()] == ["421"]
    server2, _ = server_with_history()
    c = Client(server2)
    c.send("CAP LS 302")
    offered = " ".join(m.params[-1] for m in c.messages())
    for cap in (
        "draft/chathistory",
        "draft/event-playback",
        "draft/read-marker",
        "draft/message-redaction",
        "soju.im/search",
    ):
        assert cap in offered


def test_input_pauses_while_the_disk_is_behind_and_resumes_when_it_catches_up() -> None:
    from tests.server.harness import host_of

    server, recorder = server_with_history(auto_commit=False, queue_limit=100)
    alice = joined(server, "alice", "#room")
    recorder.commit()
    host = host_of(server)
    said(alice, "#room", *[f"line {i}" for i in range(99)])
    assert not host.paused
    said(alice, "#room", "one more", "and another")
    assert host.paused
    recorder.commit()
    assert not host.paused


def test_a_client_that_quits_while_held_gets_its_echo_once_committed() -> None:
    server, recorder = server_with_history(auto_commit=False)
    alice = joined(server, "alice", "#room", caps="echo-message")
    recorder.commit()
    alice.lines()
    alice.send("PRIVMSG #room :last words", "QUIT :bye")
    assert alice.lines() == []
    assert not alice.sink.closed
    recorder.commit()
    lines = alice.lines()
    assert any("last words" in line for line in lines)
    assert lines[-1].startswith("ERROR")
    assert alice.sink.closed


def test_search_time_bounds_are_inclusive() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#a", caps=HIST + " soju.im/search")
    said(alice, "#a", "early bird")
    clock.advance(1)
    said(alice, "#a", "middle bird")
    middle = format_time(clock())
    clock.advance(1)
    said(alice, "#a", "late bird")
    alice.messages()
    alice.send(f"SEARCH text=bird;after={middle}")
    assert texts(batch_lines(alice.messages())) == ["middle bird", "late bird"]
    alice.send(f"SEARCH text=bird;before={middle}")
    assert texts(batch_lines(alice.messages())) == ["early bird", "middle bird"]


def test_retention_runs_from_the_tick_by_count_and_by_age() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock, max_lines=3, purge_interval=60.0, events=False)
    alice = joined(server, "alice", "#a", caps=HIST)
    said(alice, "#a", *[f"m{i}" for i in range(6)])
    clock.advance(61)
    server.tick()
    alice.messages()
    alice.send("CHATHISTORY LATEST #a * 10")
    assert texts(batch_lines(alice.messages())) == ["m3", "m4", "m5"]
    aged, _ = server_with_history(clock, max_age_days=1.0, purge_interval=60.0, events=False)
    bob = joined(aged, "bob", "#b", caps=HIST)
    said(bob, "#b", "old news")
    clock.advance(2 * 86400)
    said(bob, "#b", "fresh")
    bob.messages()
    bob.send("CHATHISTORY LATEST #b * 10")  # (read-time floor: before any purge ran)
    assert texts(batch_lines(bob.messages())) == ["fresh"]
    aged.tick()
    bob.send("CHATHISTORY LATEST #b * 10")
    assert texts(batch_lines(bob.messages())) == ["fresh"]


def test_markread_errors_are_the_extensions_own_and_a_gone_channel_reads_as_unset() -> None:
    server, _ = server_with_history()
    one = joined(server, "one", caps="draft/read-marker")
    one.lines()
    one.send("MARKREAD")
    assert [m.params[:2] for m in one.messages()] == [("MARKREAD", "NEED_MORE_PARAMS")]
    one.send("MARKREAD #gone")  # no such channel (any more): nothing set there
    assert [m.params for m in one.messages()] == [("#gone", "*")]
    one.send("MARKREAD #gone timestamp=2026-01-01T00:00:00.000Z")
    assert [m.params[:3] for m in one.messages()] == [("MARKREAD", "INVALID_PARAMS", "#gone")]


def test_ctcp_requests_and_replies_are_not_kept_but_actions_are() -> None:
    """A CTCP VERSION or PING kept in history would be answered again by every client that
    reads it (join replay, CHATHISTORY): found with irssi, The Lounge and weechat."""
    server, _ = server_with_history()
    caps = HIST + " echo-message"
    alice = joined(server, "alice", "#room", caps=caps)
    bob = joined(server, "bob", "#room", caps=caps)
    said(alice, "#room", "before", "\x01VERSION\x01", "\x01ACTION waves\x01", "\x01ACTION\x01")
    alice.send("NOTICE #room :\x01PING 123\x01", "PRIVMSG bob :\x01TIME\x01")
    bob.send("NOTICE alice :\x01VERSION hubbub\x01", "PRIVMSG alice :private")
    # A block of lines read at once (the fast path's one event): only its CTCP lines go.
    block = b"PRIVMSG #room :one\r\nPRIVMSG #room :\x01PING 1\x01\r\nPRIVMSG #room :two\r\n"
    assert server.receive_block(alice.session, block)
    echoed = [m for m in alice.messages() if m.command == "PRIVMSG" and m.params[0] == "#room"]
    msgids = {m.params[1]: m.tags["msgid"] for m in echoed}
    bob.messages()
    bob.send("CHATHISTORY LATEST #room * 20")
    kept = batch_lines(bob.messages())
    assert texts(kept) == ["before", "\x01ACTION waves\x01", "\x01ACTION\x01", "one", "two"]
    assert [m.tags["msgid"] for m in kept][-2:] == [msgids["one"], msgids["two"]]
    bob.send("CHATHISTORY LATEST alice * 20")
    assert texts(batch_lines(bob.messages())) == ["private"]
