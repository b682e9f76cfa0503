"""Output amplification and the SendQ, line by line: each list once per line, and a client's
queue checked as output is queued (never more than the SendQ plus the reply being queued)."""

from __future__ import annotations

from collections import Counter

import pytest

from hubbub.server.channel import Channel
from hubbub.server.commands import Context, modes
from hubbub.server.core import Server
from hubbub.server.session import Session
from tests.cloaks import HOST
from tests.server.harness import Client, ask, make_server


def queued(client: Client) -> int:
    """Bytes the server holds for ``client``: its queue in the core and in the transport."""
    return sum(map(len, client.session.outbuf)) + client.sink.held


def banned_channel(server: Server, bans: int) -> Client:
    """alice, op of #c, with ``bans`` bans of 60-odd characters each."""
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    for i in range(0, bans, 6):
        masks = " ".join(f"ban{j:04d}{'x' * 40}!*@*" for j in range(i, min(i + 6, bans)))
        alice.send(f"MODE #c +bbbbbb {masks}")
    alice.messages()
    return alice


def test_mode_list_queries_answer_each_list_once() -> None:
    server = make_server(max_list_entries=200)
    alice = banned_channel(server, 120)
    got = ask(alice, "MODE #c " + "b" * 490)
    counts = Counter(command for command, _ in got)
    assert counts == {"367": 120, "368": 1}
    got = ask(alice, "MODE #c bebIbeI+b-b")
    assert Counter(command for command, _ in got) == {
        "367": 120,
        "368": 1,
        "349": 1,  # the exception list (empty), once
        "347": 1,  # the invite-exception list (empty), once
    }


def test_a_non_member_gets_the_ban_list_once_per_line() -> None:
    server = make_server(max_list_entries=200)
    banned_channel(server, 120)
    bob = Client(server).register("bob")
    got = ask(bob, "MODE #c " + "b" * 490)
    assert [c for c, _ in got].count("368") == 1


def test_names_answers_one_channel() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    alice.send("JOIN #a")
    got = ask(alice, "NAMES " + ",".join(["#a"] * 100))
    assert [c for c, _ in got] == ["353", "366"]


def test_ison_answers_each_user_once_in_one_line() -> None:
    server = make_server()
    nick = "n" * 30
    Client(server).register(nick)
    bob = Client(server).register("bob")
    assert ask(bob, "ISON :" + " ".join([nick] * 15)) == [("303", ("bob", nick))]


def test_monitor_answers_each_target_once() -> None:
    server = make_server()
    Client(server).register("alice")
    bob = Client(server).register("bob")
    got = ask(bob, "MONITOR + " + ",".join(["alice"] * 50))
    assert got == [("730", ("bob", f"alice!~u@{HOST}"))]


def test_a_message_reaches_each_distinct_target_once() -> None:
    """Targets the same under the casemapping, or naming the same audience (``@#c``,
    ``@@#c``), are one target: a line of duplicates is one copy, not one per name."""
    server = make_server(max_targets=4)
    alice = Client(server).register("alice", caps="echo-message")
    bob = Client(server).register("Bob[x]")
    for c in (alice, bob):
        c.send("JOIN #c")
    for c in (alice, bob):
        c.messages()
    assert ask(alice, "PRIVMSG #c,#C,#c,#c :x") == [("PRIVMSG", ("#c", "x"))]  # the echo
    assert [(m.command, m.params) for m in bob.messages()] == [("PRIVMSG", ("#c", "x"))]
    assert ask(alice, "NOTICE bob{x},BOB[X],Bob[x] :n") == [("NOTICE", ("Bob[x]", "n"))]
    assert [(m.command, m.params) for m in bob.messages()] == [("NOTICE", ("Bob[x]", "n"))]
    alice.send("PRIVMSG @#c,@@#c,+@#c,#c :ops")  # ops: @#c once, and #c
    assert [m.params for m in alice.messages()] == [("@#c", "ops"), ("#c", "ops")]
    assert [m.params for m in bob.messages()] == [("#c", "ops")]  # (bob is no op)
    assert ask(alice, "PRIVMSG nobody,NOBODY :x") == [
        ("401", ("alice", "nobody", "No such nick/channel"))
    ]
    assert ask(alice, "PRIVMSG #c,#c,#c,#c,#c :x")[0][0] == "407"  # (TARGMAX counts names)


def test_a_big_tag_to_one_channel_named_four_times_is_sent_once() -> None:
    """The audit's case: ``TAGMSG #amp,#amp,#amp,#amp`` with a 4 KB client tag was 16 KB to
    each member, and five such senders had a member with message-tags cut at its SendQ."""
    sendq = 65536
    server = make_server(sendq=sendq)
    member = Client(server).register("member", caps="message-tags")
    member.send("JOIN #amp")
    member.sink.stop_reading()
    tag = "+x=" + "a" * 4000
    for i in range(5):
        sender = Client(server).register(f"s{i}", caps="message-tags")
        sender.send("JOIN #amp", f"@{tag} TAGMSG #amp,#AMP,#amp,#amp")
        server.flush()
    assert not member.closed
    assert queued(member) < sendq // 2
    assert sum(1 for m in member.messages() if m.command == "TAGMSG") == 5


def test_a_client_that_does_not_read_is_cut_at_its_sendq(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 such lines ask for 20 ban lists of about 10 KB in one loop iteration; the queue is
    checked as each reply is queued, and never grows past the SendQ and one reply. The lines
    after the one that filled it are not handled."""
    sendq = 32768
    server = make_server(max_list_entries=200, sendq=sendq)
    alice = banned_channel(server, 150)
    alice.send("MODE #c b")
    reply = sum(len(line) + 2 for line in alice.lines())  # (the lines are ASCII)
    assert reply > 8000
    slow = Client(server).register("slow")
    slow.send("JOIN #c")
    alice.messages()
    slow.sink.stop_reading()
    lists: list[str] = []
    real_send_list = modes.send_list

    def send_list(ctx: Context, channel: Channel, mode: str, override: bool = False) -> None:
        lists.append(mode)
        real_send_list(ctx, channel, mode, override)

    monkeypatch.setattr(modes, "send_list", send_list)
    peak = 0
    for _ in range(20):  # one loop iteration: no flush between the lines
        slow.send("MODE #c b")
        peak = max(peak, queued(slow))
    assert peak <= sendq + reply
    assert len(lists) <= sendq // reply + 1
    assert slow.closed
    assert queued(slow) <= sendq + reply
    assert slow.sink.data.endswith(f"ERROR :Closing Link: {HOST} (SendQ exceeded)\r\n".encode())
    quits = [m for m in alice.messages() if m.command == "QUIT"]
    assert [(m.source, m.params) for m in quits] == [(f"slow!~u@{HOST}", ("SendQ exceeded",))]
    assert server.find_user("slow") is None


def test_fan_out_to_a_client_that_does_not_read_is_cut_at_its_sendq() -> None:
    """The relay (fast path and full handler) counts what it queues for each member."""
    sendq = 16384
    server = make_server(sendq=sendq)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob", caps="message-tags server-time")
    slow = Client(server).register("slow")
    tagged = Client(server).register("tagged", caps="message-tags")
    for c in (alice, bob, slow, tagged):
        c.send("JOIN #room")
    for c in (alice, bob, slow, tagged):
        c.messages()
    slow.sink.stop_reading()
    tagged.sink.stop_reading()
    text = "w" * 400
    peak = 0
    for i in range(100):  # 50 KB to each member, a line at a time
        alice.send(f"PRIVMSG #room :{i} {text}", "@+typing=active TAGMSG #room")
        peak = max(peak, queued(slow), queued(tagged))
        server.flush()
    assert peak <= sendq
    assert slow.closed
    assert tagged.closed
    assert not bob.closed
    assert sum(1 for m in bob.messages() if m.command == "PRIVMSG") == 100
    assert [m.params for m in alice.messages() if m.command == "QUIT"] == [("SendQ exceeded",)] * 2


def test_a_client_that_reads_again_is_not_cut() -> None:
    """What the transport held when the room was counted is counted again before a cut."""
    sendq = 16384
    server = make_server(sendq=sendq)
    alice = Client(server).register("alice")
    reader = Client(server).register("reader")
    reader.sink.stop_reading()
    for i in range(100):  # three times the SendQ in all
        alice.send(f"PRIVMSG reader :{i} {'r' * 400}")
        server.flush()
        if reader.sink.held > sendq // 2:  # the peer reads what the transport held
            reader.sink.held = 0
    assert not reader.closed
    assert sum(1 for m in reader.messages() if m.command == "PRIVMSG") == 100
    session: Session = reader.session
    assert session.room >= 0
