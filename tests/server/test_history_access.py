"""Who may read history, at its edges: a channel made again under an old name, a msgid from
before one could read, an account name deleted and registered again, a secret channel's
marker, and an offline party's conversation (the sans-I/O core, SQLite in memory)."""

from __future__ import annotations

import pytest

from hubbub.protocol.message import Message
from hubbub.server.accounts import AccountService, attach
from hubbub.server.core import Server
from hubbub.server.delivery import format_time
from hubbub.server.history import attach as attach_history
from hubbub.storage import SqliteStorage
from tests.server.accounthelpers import add_account, service
from tests.server.harness import Client, FakeClock, make_server
from tests.server.historyhelpers import AutoRecorder, joined, server_with_history
from tests.server.test_history import HIST, batch_lines, batch_lines_or_empty, said, texts

SEARCH = HIST + " soju.im/search"


def fails(messages: list[Message]) -> list[tuple[str, ...]]:
    return [m.params[:2] for m in messages if m.command == "FAIL"]


def every_text(messages: list[Message]) -> str:
    return " ".join(" ".join(m.params) for m in messages)


def test_a_channel_made_again_after_it_emptied_shows_nothing_of_before() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock, join_replay=5)
    alice = joined(server, "alice", "#hush", caps=HIST)
    bob = joined(server, "bob", "#hush", caps=HIST)
    alice.send("MODE #hush +sk hunter2")
    said(alice, "#hush", "the launch code is 0000")
    msgid = [m for m in bob.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    alice.send("PART #hush")
    bob.send("PART #hush")
    assert server.find_channel("#hush") is None
    clock.advance(1)
    mallory = joined(server, "mallory", "#hush", caps=SEARCH + " draft/event-playback")
    for request in (
        "CHATHISTORY LATEST #hush * 50",
        "CHATHISTORY BEFORE #hush timestamp=2100-01-01T00:00:00.000Z 50",
        "SEARCH text=launch",
        "SEARCH in=#hush;text=launch",
    ):
        mallory.send(request)
        got = mallory.messages()
        assert "launch" not in every_text(got), request
        assert "hunter2" not in every_text(got), request
    for sub in ("AROUND", "BEFORE", "AFTER", "LATEST"):
        mallory.send(f"CHATHISTORY {sub} #hush msgid={msgid} 5")
        assert fails(mallory.messages()) == [("CHATHISTORY", "INVALID_PARAMS")], sub
    plain = Client(server).register("plain")  # (join replay, for a client that cannot ask)
    plain.send("JOIN #hush")
    assert not any("launch" in line for line in plain.lines())
    said(mallory, "#hush", "a new channel")
    mallory.messages()
    mallory.send("CHATHISTORY LATEST #hush * 50")
    assert [m.params[-1] for m in batch_lines(mallory.messages()) if m.command == "PRIVMSG"] == [
        "a new channel"
    ]


def test_around_a_msgid_from_before_one_joined_an_invite_only_channel_is_no_message() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock)
    alice = joined(server, "alice", "#club", caps=HIST)
    witness = joined(server, "witness", "#club", caps=HIST)
    alice.send("MODE #club +i")
    said(alice, "#club", "before bob")
    msgid = [m for m in witness.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    clock.advance(2)
    bob = joined(server, "bob", caps=HIST)
    alice.send("INVITE bob #club")
    bob.send("JOIN #club")
    bob.messages()
    for request in (
        f"CHATHISTORY AROUND #club msgid={msgid} 5",
        f"CHATHISTORY BETWEEN #club msgid={msgid} timestamp=2100-01-01T00:00:00.000Z 5",
    ):
        bob.send(request)
        got = bob.messages()
        assert fails(got) == [("CHATHISTORY", "INVALID_PARAMS")], request
        assert "before bob" not in every_text(got)


def test_age_retention_holds_for_around_before_any_purge() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock, max_age_days=1.0, purge_interval=1e9)
    alice = joined(server, "alice", "#b", caps=HIST)
    witness = joined(server, "witness", "#b", caps=HIST)
    said(alice, "#b", "old news")
    msgid = [m for m in witness.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    clock.advance(2 * 86400)
    alice.messages()
    alice.send(f"CHATHISTORY AROUND #b msgid={msgid} 3")
    assert fails(alice.messages()) == [("CHATHISTORY", "INVALID_PARAMS")]


def test_an_outsider_reads_no_more_of_an_invite_only_channel_than_a_member() -> None:
    server, _ = server_with_history(public=True)
    alice = joined(server, "alice", "#pub", caps=HIST)
    said(alice, "#pub", "said in the open")
    outsider = joined(server, "eve", caps=HIST)
    outsider.send("CHATHISTORY LATEST #pub * 10")
    assert texts(batch_lines(outsider.messages())) == ["said in the open"]
    alice.send("MODE #pub +i")
    outsider.send("CHATHISTORY LATEST #pub * 10")
    assert fails(outsider.messages()) == [("CHATHISTORY", "INVALID_TARGET")]


def test_a_deleted_accounts_private_history_is_not_the_next_owners() -> None:
    clock = FakeClock()
    server = make_server(clock)
    storage = SqliteStorage(":memory:")  # (accounts and history in one database, as served)
    storage.open()
    attach(server, AccountService(storage))
    recorder = AutoRecorder(storage.history())
    recorder.history = attach_history(server, recorder.store, recorder)
    first = add_account(server, "victim")
    caps = SEARCH + " draft/read-marker draft/message-redaction"
    victim = joined(server, "victim", caps=caps)
    server.network.set_account(victim.session.user, "victim")
    bob = joined(server, "bob", caps=caps)
    bob.send("PRIVMSG victim :my bank pin is 1234")
    victim.send("PRIVMSG bob :noted")
    victim.send(f"MARKREAD bob timestamp={format_time(clock())}")
    victim.send("QUIT")
    accounts = service(server)
    assert storage.delete_account(first.folded)
    del accounts.records[first.folded]
    clock.advance(10)
    add_account(server, "victim")
    heir = joined(server, "victim", caps=caps)
    server.network.set_account(heir.session.user, "victim")
    heir.messages()
    start, end = format_time(clock() - 3600), format_time(clock() + 3600)
    early = format_time(clock() - 1800)  # (a window wholly before the heir's account)
    for request in (
        "CHATHISTORY LATEST bob * 10",
        f"CHATHISTORY TARGETS timestamp={start} timestamp={end} 10",
        f"CHATHISTORY TARGETS timestamp={end} timestamp={start} 10",
        f"CHATHISTORY TARGETS timestamp={start} timestamp={early} 10",
        f"CHATHISTORY TARGETS timestamp={early} timestamp={start} 10",
        "SEARCH text=pin",
        "SEARCH in=bob;text=noted",
    ):
        heir.send(request)
        got = heir.messages()
        assert batch_lines_or_empty(got) == [], request
    heir.send("MARKREAD bob")
    assert [m.params for m in heir.messages() if m.command == "MARKREAD"] == [("bob", "*")]
    bob.send("PRIVMSG victim :hello again")
    heir.messages()
    heir.send("CHATHISTORY LATEST bob * 10")
    assert texts(batch_lines(heir.messages())) == ["hello again"]
    bob.messages()
    bob.send("CHATHISTORY LATEST victim * 10")  # (bob's own copy is bob's)
    assert texts(batch_lines(bob.messages())) == ["my bank pin is 1234", "noted", "hello again"]


def test_a_secret_channel_reads_as_missing_to_markread_from_outside() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#secret", caps=HIST)
    alice.send("MODE #secret +s")
    eve = joined(server, "eve", caps="draft/read-marker")
    eve.lines()
    answers = []
    for name in ("#secret", "#nonexistent"):
        eve.send(f"MARKREAD {name} timestamp=2026-01-01T00:00:00.000Z")
        answers.append([m.params[:2] for m in eve.messages()])
    assert answers == [[("MARKREAD", "INVALID_PARAMS")]] * 2


def test_a_sender_redacts_its_private_message_after_the_other_left() -> None:
    server, _ = server_with_history()
    caps = HIST + " draft/message-redaction echo-message"
    alice = joined(server, "alice", caps=caps)
    bob = joined(server, "bob", caps=caps)
    alice.send("PRIVMSG bob :oops, wrong window")
    msgid = [m for m in alice.messages() if m.command == "PRIVMSG"][0].tags["msgid"]
    bob.send("QUIT")
    alice.send(f"REDACT bob {msgid} :wrong window")
    got = alice.messages()
    assert [m.params for m in got if m.command == "REDACT"] == [("bob", msgid, "wrong window")]
    alice.send("CHATHISTORY LATEST bob * 10")
    assert batch_lines_or_empty(alice.messages()) == []


def test_timestamps_and_limits_take_only_their_own_forms() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps=HIST)
    for reference in (
        "timestamp=2026-12-04T14:42:53.400+05:00Z",
        "timestamp=2026W491T000000.000Z",
        "timestamp=20261204T144253.400Z",
        "timestamp=2026-12-04T14:42:53.400ZZ",
        "timestamp=2026-02-30T00:00:00.000Z",
    ):
        alice.send(f"CHATHISTORY LATEST #room {reference} 5")
        assert fails(alice.messages()) == [("CHATHISTORY", "INVALID_PARAMS")], reference
    for good in ("timestamp=2026-12-04T14:42:53.400Z", "timestamp=2026-12-04T14:42:53Z"):
        alice.send(f"CHATHISTORY LATEST #room {good} 5")
        assert fails(alice.messages()) == [], good
    alice.send("CHATHISTORY LATEST #room * \u0663")  # (an Arabic-Indic three)
    assert fails(alice.messages()) == [("CHATHISTORY", "INVALID_PARAMS")]
    for huge in ("999999999", "1000000000", "99999999999999999999"):
        alice.send(f"CHATHISTORY LATEST #room * {huge}")
        assert fails(alice.messages()) == [], huge


def test_since_made_off_lets_a_trusting_network_read_an_old_channels_past() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock, since_made=False)
    alice = joined(server, "alice", "#team", caps=HIST)
    said(alice, "#team", "before the restart")
    alice.send("PART #team")
    clock.advance(1)
    alice.send("JOIN #team")
    alice.messages()
    alice.send("CHATHISTORY LATEST #team * 10")
    assert texts(batch_lines(alice.messages())) == ["before the restart"]


def test_a_parameter_no_reply_can_echo_still_gets_its_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An empty parameter, one with a space or a leading colon (a trailing one, then)
    cannot be echoed as context: it is shown made safe, never dropped with a traceback."""
    server, _ = server_with_history()
    caps = SEARCH + " draft/read-marker draft/multiline draft/message-redaction"
    alice = joined(server, "alice", "#c", caps=caps)
    for line in (
        "CHATHISTORY :a b",
        "CHATHISTORY :",
        "CHATHISTORY LATEST #c * ::x",
        "CHATHISTORY LATEST #c * :1 2",
        "MARKREAD :a b",
        "MARKREAD nick :a b",
        "MARKREAD :",
        "MARKREAD :#a b",
        "SEARCH :a b",
        "BATCH :a b",
        "BATCH :",
    ):
        alice.send(f"@label=L1 {line}")
        got = alice.messages()
        assert [m.command for m in got] == ["FAIL"], line
        assert got[0].tags.get("label") == "L1", line
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def served_with_accounts(clock: FakeClock) -> tuple[Server, AccountService]:
    """A harness server whose accounts and history share one database, as served."""
    server = make_server(clock)
    storage = SqliteStorage(":memory:")
    storage.open()
    accounts = AccountService(storage)
    attach(server, accounts)
    recorder = AutoRecorder(storage.history())
    recorder.history = attach_history(server, recorder.store, recorder)
    return server, accounts


def logged_in_before_welcome(server: Server, nick: str, account: str) -> Client:
    """A client logged in before registration ended (as SASL or REGISTER before CAP END)."""
    client = Client(server)
    client.send("CAP LS 302", "CAP REQ :draft/read-marker", f"NICK {nick}", "USER u 0 * :R")
    server.network.set_account(client.session.user, account)
    client.send("CAP END")
    client.messages()
    return client


def test_read_markers_load_for_a_login_before_the_welcome_and_go_with_the_account() -> None:
    clock = FakeClock()
    server, accounts = served_with_accounts(clock)
    first = add_account(server, "dana")
    one = logged_in_before_welcome(server, "dana", "dana")
    stamp = format_time(clock() - 10)
    one.send("JOIN #room", f"MARKREAD #room timestamp={stamp}")
    one.messages()
    two = logged_in_before_welcome(server, "dana2", "dana")  # (another device, by SASL)
    two.send("MARKREAD #room")
    assert [m.params for m in two.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    history = server.history
    assert history is not None
    history.markers.clear()  # (as after a restart: only the database knows)
    three = logged_in_before_welcome(server, "dana3", "dana")
    three.send("MARKREAD #room")
    assert [m.params for m in three.messages() if m.command == "MARKREAD"] == [
        ("#room", f"timestamp={stamp}")
    ]
    done: list[object] = []
    accounts.delete(server, first, done.append)
    assert done
    clock.advance(10)
    add_account(server, "dana")
    heir = logged_in_before_welcome(server, "heir", "dana")
    heir.send("MARKREAD #room")
    assert [m.params for m in heir.messages() if m.command == "MARKREAD"] == [("#room", "*")]


def test_hidden_matches_do_not_push_readable_ones_out_of_a_search() -> None:
    """Whether a planted line came back had told whether a word was in a past the client
    may not read: the search reads past what it must drop."""
    clock = FakeClock()
    server, _ = server_with_history(clock)
    bob = joined(server, "bob", caps=SEARCH)
    alice = joined(server, "alice", "#priv", caps=HIST)
    bob.send("PRIVMSG bob :hunter2 apple banana")  # (planted first: the oldest match)
    clock.advance(1)
    alice.send("MODE #priv +s")
    said(alice, "#priv", *[f"the password is hunter2 ({i})" for i in range(5)])
    alice.send("PART #priv")
    clock.advance(1)
    bob.send("JOIN #priv")
    bob.messages()
    bob.send("SEARCH text=hunter2;limit=1")
    assert texts(batch_lines(bob.messages())) == ["hunter2 apple banana"]
    bob.send("SEARCH text=hunter2;limit=3")
    assert texts(batch_lines(bob.messages())) == ["hunter2 apple banana"]


def test_what_was_said_while_a_channel_was_closed_stays_closed_after_the_mode_goes() -> None:
    clock = FakeClock()
    server, _ = server_with_history(clock, public=True)
    alice = joined(server, "alice", "#k", "#s", caps=HIST)
    alice.send("MODE #k +k sekrit", "MODE #s +s")
    said(alice, "#k", "keyed-era secret")
    said(alice, "#s", "secret-era secret")
    clock.advance(1)
    alice.send("MODE #k -k sekrit", "MODE #s -s")
    said(alice, "#k", "open again")
    said(alice, "#s", "open again")
    clock.advance(1)
    mallory = joined(server, "mallory", "#k", caps=HIST)
    mallory.send("CHATHISTORY LATEST #k * 50", "CHATHISTORY LATEST #s * 50")
    got = mallory.messages()
    assert "secret" not in every_text(got)
    assert fails(got) == [("CHATHISTORY", "INVALID_TARGET")]  # (#s: not public any more)
    alice.messages()
    alice.send("CHATHISTORY LATEST #k * 50")  # (who was there reads it all)
    assert texts(batch_lines(alice.messages())) == ["keyed-era secret", "open again"]
