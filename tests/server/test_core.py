"""The server core (src/hubbub/server/core.py: Server), line by line with a fake clock:
connection limits, registration and ping timeouts, flood control, the output queue and the
SendQ, quitting (peers, WHOWAS), message ids, shutdown and reconfiguration.

Tests drive the server with IRC lines and ``tick``; the few looks at its state go through
the helpers below, so that a change in how the core keeps users is a change to them only.
"""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from hubbub.config import Config, LimitsSection, ServerSection, default_config
from hubbub.protocol.framing import LineBuffer
from hubbub.server.core import MAX_PENDING_LINES, Server, address_bucket, format_time, refill
from hubbub.server.session import PeerInfo
from tests.cloaks import CLOAKS, HOST, cloak_of
from tests.server.accounthelpers import add_account, defer, server_with_accounts
from tests.server.harness import Client, FakeClock, FakeSink, ask, host_of, make_server

SERVER = "hubbub.local"


# -- helpers: the only places that look inside the server -----------------------------------


def connected(server: Server) -> int:
    """Connections the server holds, registered or not."""
    users, _, _, unknown = server.stats()
    return users + unknown


def nick_in_use(server: Server, nick: str) -> bool:
    return server.find_user(nick) is not None


def refused(server: Server, ip: str, transport: str = "tcp") -> bytes | None:
    """Connect from ``ip``; what the server wrote before closing if it refused, else None."""
    sink = FakeSink()
    session = server.connect(sink, PeerInfo(ip=ip, transport=transport))
    if session is not None:
        assert not sink.closed
        return None
    assert sink.closed
    return bytes(sink.data)


def written(client: Client) -> bytes:
    """What the server has handed ``client``'s transport so far (no flush)."""
    return bytes(client.sink.data)


def record_writes(client: Client) -> list[bytes]:
    """From now on, each write the server makes to ``client``'s transport, as it comes."""
    writes: list[bytes] = []
    write = client.sink.write

    def recording(data: bytes) -> None:
        writes.append(data)
        write(data)

    setattr(client.sink, "write", recording)  # noqa: B010 (an instance attribute, not the method)
    return writes


def quits(client: Client) -> list[tuple[str | None, tuple[str, ...]]]:
    """The QUIT messages ``client`` received since last asked: (source, params)."""
    return [(m.source, m.params) for m in client.messages() if m.command == "QUIT"]


def config_with(**server: str) -> Config:
    return dataclasses.replace(
        default_config(),
        server=ServerSection(**server),
        limits=LimitsSection(flood=False),
        cloaks=CLOAKS,
    )


TOO_MANY = b"ERROR :Too many connections from your IP address\r\n"
FULL = b"ERROR :Server is full\r\n"
TOO_QUICKLY = b"ERROR :Too many connections from your IP address too quickly\r\n"


# -- connection limits ------------------------------------------------------------------------


def test_connections_per_address_are_limited() -> None:
    server = make_server(max_clients_per_ip=2)
    first = Client(server, ip="203.0.113.7").register("first")
    Client(server, ip="203.0.113.7")
    assert refused(server, "203.0.113.7") == TOO_MANY
    assert connected(server) == 2  # the refused one was never counted
    assert refused(server, "203.0.113.8") is None  # another address has its own count
    first.send("QUIT")
    assert refused(server, "203.0.113.7") is None  # a place came free


def test_an_ipv6_slash_64_counts_as_one_address() -> None:
    """One host usually holds a whole /64: counted per address, it could open 2**64 times
    the per-address limits (an audit noted it). IPv4-mapped addresses count as IPv4."""
    server = make_server(max_clients_per_ip=2)
    Client(server, ip="2001:db8::1")
    Client(server, ip="2001:db8::ffff:2")
    assert refused(server, "2001:db8::3") == TOO_MANY
    assert refused(server, "2001:db8:0:1::3") is None  # another /64
    Client(server, ip="198.51.100.9")
    Client(server, ip="::ffff:198.51.100.9")
    assert refused(server, "198.51.100.9") == TOO_MANY
    assert address_bucket("2001:db8::1") == "2001:db8::/64"


def test_unregistered_connections_count_against_the_address_too() -> None:
    server = make_server(max_clients_per_ip=1)
    Client(server, ip="203.0.113.7")  # never registers
    assert refused(server, "203.0.113.7") == TOO_MANY


def test_per_address_limit_applies_to_loopback() -> None:
    server = make_server(max_clients_per_ip=3)
    for _ in range(3):
        Client(server)
    assert refused(server, "127.0.0.1") == TOO_MANY


def test_a_full_server_refuses_everyone() -> None:
    server = make_server(max_clients=3, exempt=("198.51.100.0/24",))
    Client(server, ip="203.0.113.1")
    second = Client(server, ip="203.0.113.2").register("second")
    Client(server, ip="203.0.113.3")
    assert refused(server, "203.0.113.4") == FULL
    assert refused(server, "198.51.100.1") == FULL  # even an exempt address
    second.send("QUIT :making room")
    assert refused(server, "203.0.113.4") is None


def test_a_server_out_of_descriptors_is_full_below_max_clients() -> None:
    # (the application sets client_room from its open-files limit)
    server = make_server(max_clients=100)
    server.client_room = 2
    Client(server, ip="203.0.113.1")
    second = Client(server, ip="203.0.113.2")
    assert refused(server, "203.0.113.3") == FULL
    second.send("QUIT")
    assert refused(server, "203.0.113.3") is None


def test_the_address_limit_is_told_before_the_server_limit() -> None:
    server = make_server(max_clients=2, max_clients_per_ip=2)
    Client(server, ip="203.0.113.1")
    Client(server, ip="203.0.113.1")
    assert refused(server, "203.0.113.1") == TOO_MANY
    assert refused(server, "203.0.113.2") == FULL


def test_throttle_refills_at_the_connect_rate() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, connect_burst=2, connect_rate=0.25, max_clients_per_ip=99)
    ip = "2001:db8::7"
    assert refused(server, ip) is None
    assert refused(server, ip) is None
    assert refused(server, ip) == TOO_QUICKLY
    clock.advance(3.9)  # not yet a whole connection's worth
    assert refused(server, ip) == TOO_QUICKLY
    clock.advance(0.1)
    assert refused(server, ip) is None
    assert refused(server, ip) == TOO_QUICKLY
    assert refused(server, "2001:db8::8") == TOO_QUICKLY  # (the same /64: one host's block)
    assert refused(server, "2001:db8:0:1::8") is None


def test_refused_connections_do_not_use_up_the_throttle() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, connect_burst=1, connect_rate=1.0)
    assert refused(server, "203.0.113.7") is None
    for _ in range(20):
        assert refused(server, "203.0.113.7") == TOO_QUICKLY
    clock.advance(1.0)
    assert refused(server, "203.0.113.7") is None


def test_exempt_networks_skip_the_address_limit_and_throttle() -> None:
    server = make_server(
        max_clients_per_ip=1, connect_burst=1, exempt=("203.0.113.0/24", "2001:db8::/32")
    )
    for ip in ("203.0.113.7", "2001:db8::1"):
        for _ in range(5):
            assert refused(server, ip) is None
    assert refused(server, "198.51.100.1") is None
    assert refused(server, "198.51.100.1") == TOO_MANY


def test_an_unparsable_address_is_not_exempt_and_does_not_crash() -> None:
    server = make_server(max_clients_per_ip=1, exempt=("0.0.0.0/0",))
    assert refused(server, "not-an-ip") is None
    assert refused(server, "not-an-ip") == TOO_MANY


def test_refill() -> None:
    assert refill(0.0, 2.0, 0.5, 20) == 1.0
    assert refill(19.5, 10.0, 4.0, 20) == 20.0  # never above the burst
    assert refill(3.0, 0.0, 4.0, 20) == 3.0


# -- registration and ping timeouts -----------------------------------------------------------


def test_the_registration_clock_stops_while_a_password_check_waits() -> None:
    """A SASL login whose check waits its turn (behind a flood of them) is not timed out
    meanwhile; once answered, the client has what was left of its time to end CAP."""
    clock = FakeClock()
    server = server_with_accounts(clock, registration_timeout=30.0)
    add_account(server, "alice")
    checks = defer(server)
    client = Client(server)
    plain = base64.b64encode(b"\0alice\0correct-horse").decode()
    client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER u 0 * :A")
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {plain}")
    idle = Client(server)  # (no check of its own: times out as ever)
    for _ in range(45):
        clock.advance(1.0)
        server.tick()
    assert idle.closed
    assert not client.closed
    assert checks.run()
    assert "903" in client.commands()
    clock.advance(20.0)
    server.tick()
    client.send("CAP END")
    assert "001" in client.commands()


def test_registration_times_out() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, registration_timeout=30.0)
    slow = Client(server)
    slow.send("NICK slow")
    assert ask(Client(server), "NICK slow") == [
        ("433", ("*", "slow", "Nickname is already in use"))
    ]
    clock.advance(30.0)
    server.tick()
    assert not slow.closed  # exactly the timeout is still in time
    clock.advance(1.0)
    server.tick()
    assert slow.closed
    assert slow.lines() == [f"ERROR :Closing Link: {HOST} (Registration timed out)"]
    assert connected(server) == 0  # (the client told 433 timed out with it)
    Client(server).register("slow")  # the nick it held is free


def test_registering_in_time_stops_the_registration_clock() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, registration_timeout=30.0, ping_interval=1000.0)
    client = Client(server)
    clock.advance(29.0)
    client.register("punctual")
    clock.advance(100.0)
    server.tick()
    assert not client.closed
    assert client.lines() == []


def test_timeouts_are_checked_once_a_second() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, registration_timeout=1.0)
    server.tick()
    clock.advance(0.5)
    slow = Client(server)
    clock.advance(0.5)
    server.tick()  # checked: 0.5 s old
    clock.advance(0.6)
    server.tick()  # 1.1 s old, but less than a second after the last check
    assert not slow.closed
    clock.advance(0.4)
    server.tick()
    assert slow.closed


def test_idle_clients_are_pinged_and_time_out() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, ping_interval=90.0, ping_timeout=120.0)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    alice.messages()
    bob.messages()
    clock.advance(90.0)
    server.tick()
    assert alice.lines() == []
    clock.advance(1.0)
    server.tick()
    assert alice.lines() == [f"PING :{SERVER}"]
    assert bob.lines() == [f"PING :{SERVER}"]
    bob.send(f"PONG :{SERVER}")
    clock.advance(120.0)
    server.tick()
    assert not alice.closed  # exactly the timeout is still in time
    clock.advance(1.0)
    server.tick()
    assert alice.closed
    reason = "Ping timeout: 212 seconds"  # since alice last said anything
    assert alice.lines() == [f"ERROR :Closing Link: {HOST} ({reason})"]
    assert quits(bob) == [(f"alice!~u@{HOST}", (reason,))]
    assert not bob.closed
    assert [c for c, _ in ask(bob, "WHOWAS alice")] == ["314", "312", "369"]


def test_any_line_answers_a_ping() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, ping_interval=10.0, ping_timeout=10.0)
    alice = Client(server).register("alice")
    for _ in range(5):
        clock.advance(11.0)
        server.tick()
        assert alice.lines() == [f"PING :{SERVER}"]
        clock.advance(9.0)
        alice.send("PRIVMSG alice :still here")
        alice.messages()
    assert not alice.closed


def test_unregistered_clients_are_not_pinged() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, ping_interval=5.0, registration_timeout=60.0)
    client = Client(server)
    clock.advance(30.0)
    server.tick()
    assert client.lines() == []


# -- flood control ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def flood_server(clock: FakeClock) -> Server:
    """Flood control on: a burst of 5 lines, then 2 lines a second."""
    return make_server(clock=clock, flood=True, flood_burst=5, flood_rate=2.0)


def pongs(client: Client) -> list[str]:
    return [m.params[1] for m in client.messages() if m.command == "PONG"]


def test_flood_burst_then_held_lines_drain_over_time(
    flood_server: Server, clock: FakeClock
) -> None:
    client = Client(flood_server)
    client.send(*[f"PING {i}" for i in range(12)])
    assert pongs(client) == ["0", "1", "2", "3", "4"]
    flood_server.tick()
    assert pongs(client) == []  # no time passed: nothing more
    clock.advance(1.0)
    flood_server.tick()
    assert pongs(client) == ["5", "6"]
    clock.advance(0.5)
    flood_server.tick()
    assert pongs(client) == ["7"]
    client.send("PING late")  # new lines wait behind the held ones
    assert pongs(client) == []
    clock.advance(10.0)
    flood_server.tick()
    assert pongs(client) == ["8", "9", "10", "11", "late"]
    assert not client.closed


def test_flood_tokens_come_back_up_to_the_burst(flood_server: Server, clock: FakeClock) -> None:
    client = Client(flood_server)
    client.send(*[f"PING {i}" for i in range(5)])
    client.messages()
    clock.advance(3600.0)
    client.send(*[f"PING {i}" for i in range(7)])
    assert pongs(client) == ["0", "1", "2", "3", "4"]  # a burst, not an hour's worth


def test_a_join_of_many_channels_counts_a_quarter_line_for_each_after_the_first(
    clock: FakeClock,
) -> None:
    server = make_server(clock=clock, flood=True, flood_burst=20, flood_rate=4.0)
    client = Client(server).register("many")  # (NICK and USER: 18 lines of the burst left)
    client.send("JOIN " + ",".join(f"#c{i}" for i in range(41)))  # 1 + 40 x 0.25 = 11
    client.send(*[f"PING {i}" for i in range(10)])
    assert pongs(client) == [str(i) for i in range(7)]
    client.send("JOIN 0", "PING late")  # (JOIN 0 parts all 41: 11 lines again)
    clock.advance(3.0)  # 12 tokens back: PING 7 to 9, then JOIN 0 takes the rest and 2 more
    server.tick()
    assert pongs(client) == ["7", "8", "9"]
    clock.advance(0.5)
    server.tick()
    assert pongs(client) == []  # (back to 0 tokens)
    clock.advance(0.25)
    server.tick()
    assert pongs(client) == ["late"]


def test_a_long_reply_counts_a_line_for_each_hundred_lines_past_the_first_hundred(
    clock: FakeClock,
) -> None:
    """LIST on a server of many channels had cost one line for thousands of lines built: a
    few clients repeating it held everyone's PONG for seconds (an attack audit)."""
    server = make_server(clock=clock, flood=True, flood_burst=20, flood_rate=4.0)
    for seeder in range(11):  # 330 channels
        seed = Client(server).register(f"seed{seeder}")
        seed.send("JOIN " + ",".join(f"#s{seeder}x{i}" for i in range(30)))
        clock.advance(6.0)  # (the burst back, and far from any ping timeout)
        server.tick()
    lister = Client(server).register("lister")  # (18 lines of the burst left)
    lister.send("LIST", *[f"PING {i}" for i in range(20)])
    got = lister.messages()
    assert [m.command for m in got].count("322") == 330
    # LIST: 1 line, and (332 - 100) / 100 = 2.32 for its reply; 14.68 left
    assert [m.params[1] for m in got if m.command == "PONG"] == [str(i) for i in range(14)]


@pytest.mark.parametrize("query", ["WHO *nobody*", "LIST *nochannel*"])
def test_a_mask_that_matches_nobody_counts_what_it_looked_through(
    clock: FakeClock, query: str
) -> None:
    """A WHO mask is matched against every user, a LIST filter against every channel: 40
    connections asking for a WHO matching no one on a server of 1,000 users held another
    client's PONG 10 s in an attack audit, each WHO costing one line."""
    server = make_server(
        clock=clock, flood=True, flood_burst=20, flood_rate=4.0, max_clients_per_ip=1000
    )
    server.limits = dataclasses.replace(server.limits, connect_burst=0)
    for i in range(330):
        user = Client(server).register(f"user{i}")
        user.send(f"JOIN #c{i}")
        clock.advance(0.01)
    asker = Client(server).register("asker")  # (18 lines of the burst left)
    asker.send(query, *[f"PING {i}" for i in range(20)])
    # 1 line, and (331 - 100) / 100 or (330 - 100) / 100 for what it looked through
    assert [m.params[1] for m in asker.messages() if m.command == "PONG"] == [
        str(i) for i in range(14)
    ]


@pytest.mark.parametrize("change", ["AWAY :gone", "SETNAME :A New Name"])
def test_a_change_told_to_hundreds_counts_a_line_for_each_hundred(
    clock: FakeClock, change: str
) -> None:
    server = make_server(
        clock=clock, flood=True, flood_burst=20, flood_rate=4.0, max_clients_per_ip=1000
    )
    for i in range(329):
        Client(server).register(f"user{i}").send("JOIN #big")
        clock.advance(0.01)
    changer = Client(server).register("changer", caps="setname")  # (15 lines left)
    changer.send("JOIN #big")  # (14 left)
    changer.messages()
    changer.send(change, *[f"PING {i}" for i in range(20)])
    # the change: 1 line, and (330 - 100) / 100 for the 330 members it is told to
    assert [m.params[1] for m in changer.messages() if m.command == "PONG"] == [
        str(i) for i in range(10)
    ]


def test_a_big_tag_section_counts_a_line_more_for_each_512_bytes(clock: FakeClock) -> None:
    """Client-only tags are copied to every member of a channel: 20 connections sending 4 KB
    of them at a full burst had filled the SendQ of all 200 members of a channel."""
    server = make_server(clock=clock, flood=True, flood_burst=20, flood_rate=4.0)
    tagger = Client(server).register("tagger", caps="message-tags")  # (15 lines left)
    tagger.send(*[f"@+x={'a' * 1500} PING {i}" for i in range(4)])  # 1 + 2 lines each
    tagger.send(*[f"@+y=small PING s{i}" for i in range(5)])
    assert [m.params[1] for m in tagger.messages() if m.command == "PONG"] == [
        "0",
        "1",
        "2",
        "3",
        "s0",
        "s1",
        "s2",
    ]


def test_nick_changes_are_limited_to_five_in_twenty_seconds(clock: FakeClock) -> None:
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    watcher = Client(server).register("watcher")
    watcher.send("MONITOR + alice9")
    watcher.messages()
    for i in range(5):
        assert ask(alice, f"NICK alice{i}")[0][0] == "NICK"
    assert ask(alice, "NICK alice9") == [
        ("438", ("alice4", "alice9", "Nick change too fast. Please wait 20 seconds."))
    ]
    assert [m.command for m in watcher.messages()] == []  # (no MONITOR notice: no change)
    clock.advance(15.0)
    assert ask(alice, "NICK alice9")[0][1][2] == "Nick change too fast. Please wait 5 seconds."
    clock.advance(5.0)
    assert ask(alice, "NICK alice9")[0][0] == "NICK"
    oper = Client(server).register("oper")
    oper.session.user.modes += "o"
    for i in range(10):  # (operators are not limited)
        assert ask(oper, f"NICK oper{i}")[0][0] == "NICK"
    server.tick()
    assert alice.session in server.nick_changes
    clock.advance(20.0)
    server.tick()
    assert server.nick_changes == {}


def test_flooding_beyond_the_held_line_limit_is_excess_flood(flood_server: Server) -> None:
    alice = Client(flood_server).register("alice")
    bob = Client(flood_server).register("bob")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    alice.messages()
    bob.messages()
    tokens_left = 2  # of the burst of 5, after NICK, USER and JOIN
    # (at least MAX_PENDING_LINES: more when a whole multiline batch needs more)
    assert flood_server.max_pending >= MAX_PENDING_LINES
    alice.send(*["PING x"] * (tokens_left + flood_server.max_pending))
    assert not alice.closed
    alice.send("PING x")
    assert alice.closed
    assert alice.lines()[-1] == f"ERROR :Closing Link: {HOST} (Excess Flood)"
    assert quits(bob) == [(f"alice!~u@{HOST}", ("Excess Flood",))]


def test_empty_lines_count_against_flood_control(flood_server: Server) -> None:
    """A stream of bare LFs costs the server a loop turn each: they are counted as lines
    (and otherwise ignored), so a flood of them ends in Excess Flood like any other."""
    alice = Client(flood_server).register("alice")
    framing = LineBuffer(blank_lines=True)
    flood_server.receive(alice.session, framing.feed(b"\r\n\n"))
    assert not alice.closed
    assert alice.lines() == []  # (ignored)
    flood_server.receive(alice.session, framing.feed(b"\n" * (flood_server.max_pending + 4)))
    assert alice.closed
    assert alice.lines()[-1] == f"ERROR :Closing Link: {HOST} (Excess Flood)"


def test_holding_more_bytes_than_the_recvq_is_excess_flood(clock: FakeClock) -> None:
    server = make_server(clock=clock, flood=True, flood_burst=1, recvq=1024)
    client = Client(server)
    client.send("PING first")
    client.send("PING :" + "x" * 500, "PING :" + "y" * 500)
    assert not client.closed
    client.send("PING :" + "z" * 30)
    assert client.closed
    assert client.lines()[-1] == f"ERROR :Closing Link: {HOST} (Excess Flood)"


def test_lines_held_when_flood_control_is_turned_off_are_answered(
    flood_server: Server, clock: FakeClock
) -> None:
    client = Client(flood_server)
    client.send(*[f"PING {i}" for i in range(8)])
    assert pongs(client) == ["0", "1", "2", "3", "4"]
    off = dataclasses.replace(flood_server.limits, flood=False)
    flood_server.apply_config(dataclasses.replace(flood_server.config, limits=off))
    clock.advance(10.0)
    flood_server.tick()
    assert pongs(client) == ["5", "6", "7"]


def test_without_flood_control_nothing_is_held() -> None:
    server = make_server(flood=False)
    client = Client(server)
    client.send(*[f"PING {i}" for i in range(500)])
    assert pongs(client) == [str(i) for i in range(500)]
    assert not client.closed


# -- the output queue and the SendQ -----------------------------------------------------------


def test_output_is_handed_over_at_flush_in_one_write() -> None:
    server = make_server()
    host = host_of(server)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    before = written(alice)
    host.wakes = 0
    bob.send("PRIVMSG alice :one", "PRIVMSG alice :two")
    bob.send("NOTICE alice :three")
    assert written(alice) == before  # queued, not written
    assert host.wakes == 1  # one flush asked for, however much was queued
    writes = record_writes(alice)
    server.flush()
    prefix = f":bob!~u@{HOST}"
    assert writes == [
        f"{prefix} PRIVMSG alice :one\r\n{prefix} PRIVMSG alice :two\r\n"
        f"{prefix} NOTICE alice :three\r\n".encode()
    ]
    server.flush()
    assert len(writes) == 1  # nothing more


def test_a_client_that_does_not_read_is_dropped_at_its_sendq() -> None:
    server = make_server(sendq=4096)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    carol = Client(server).register("carol")
    for client in (alice, bob, carol):
        client.send("JOIN #c")
        client.messages()
    alice.messages()
    bob.messages()
    alice.sink.stop_reading()
    text = "x" * 400
    for i in range(9):
        bob.send(f"PRIVMSG #c :{i} {text}")
        server.flush()
    assert not alice.closed  # 9 lines of about 450 bytes fit in 4096
    before = len(alice.sink.data)
    bob.send(f"PRIVMSG #c :9 {text}", f"PRIVMSG #c :10 {text}")
    assert alice.closed
    tail = bytes(alice.sink.data[before:]).decode()
    assert tail == f"ERROR :Closing Link: {HOST} (SendQ exceeded)\r\n"  # the queue was dropped
    assert quits(bob) == [(f"alice!~u@{HOST}", ("SendQ exceeded",))]
    assert quits(carol) == [(f"alice!~u@{HOST}", ("SendQ exceeded",))]
    assert not nick_in_use(server, "alice")


# -- quitting ---------------------------------------------------------------------------------


def test_quit_tells_each_peer_once_and_no_one_else() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    carol = Client(server).register("carol")
    dave = Client(server).register("dave")
    alice.send("JOIN #a,#b,#solo")
    bob.send("JOIN #a,#b")
    carol.send("JOIN #b")
    for client in (alice, bob, carol, dave):
        client.messages()
    alice.send("QUIT :see you")
    expected = [(f"alice!~u@{HOST}", ("Quit: see you",))]
    assert quits(bob) == expected
    assert quits(carol) == expected
    assert dave.messages() == []
    assert alice.lines() == [f"ERROR :Closing Link: {HOST} (Quit: see you)"]
    assert alice.closed
    assert ask(dave, "LIST") == [
        ("321", ("dave", "Channel", "Users  Name")),
        ("322", ("dave", "#a", "1", "")),
        ("322", ("dave", "#b", "2", "")),
        ("323", ("dave", "End of /LIST")),
    ]  # #solo went with its last member
    assert ask(bob, "NAMES #a") == [
        ("353", ("bob", "=", "#a", "bob")),
        ("366", ("bob", "#a", "End of /NAMES list")),
    ]
    assert ask(dave, "LUSERS")[0] == (
        "251",
        ("dave", "There are 3 users and 0 invisible on 1 servers"),
    )
    Client(server).register("alice")  # the nick is free again


def test_quit_without_a_reason_and_before_registering() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    bob.messages()
    alice.send("QUIT")
    assert quits(bob) == [(f"alice!~u@{HOST}", ("Client quit",))]
    assert alice.lines()[-1] == f"ERROR :Closing Link: {HOST} (Client quit)"
    early = Client(server)
    early.send("NICK early", "QUIT :changed my mind")
    assert early.lines() == [f"ERROR :Closing Link: {HOST} (Client quit)"]
    assert ask(bob, "WHOWAS early") == [
        ("406", ("bob", "early", "There was no such nickname")),
        ("369", ("bob", "early", "End of WHOWAS")),
    ]


def test_lines_after_quit_are_ignored() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("QUIT :bye", "PRIVMSG bob :ghost")
    alice.send("PRIVMSG bob :ghost")
    assert bob.messages() == []


def test_quit_is_recorded_for_whowas() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    clock.advance(3600.0)
    alice.send("QUIT")
    assert ask(bob, "WHOWAS ALICE") == [
        ("314", ("bob", "alice", "~u", HOST, "*", "Real Name")),
        ("312", ("bob", "alice", SERVER, "Tue Nov 14 23:13:20 2023")),
        ("369", ("bob", "ALICE", "End of WHOWAS")),
    ]


def whowas(viewer: Client, nicks: str) -> list[tuple[str, str]]:
    """WHOWAS ``nicks``: (nick, when) per entry, and (nick, "") for a 406."""
    found = []
    for command, params in ask(viewer, f"WHOWAS {nicks}"):
        if command == "312":
            found.append((params[1], params[3]))
        elif command == "406":
            found.append((params[1], ""))
    return found


def test_whowas_keeps_the_newest_entries_up_to_its_limit() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, whowas=3)
    viewer = Client(server).register("viewer")
    Client(server).register("one").send("QUIT")
    clock.advance(60.0)
    renamer = Client(server).register("two")
    renamer.send("NICK three")  # a nick change is recorded too
    clock.advance(60.0)
    renamer.send("QUIT")
    assert whowas(viewer, "one,two,three") == [
        ("one", "Tue Nov 14 22:13:20 2023"),
        ("two", "Tue Nov 14 22:14:20 2023"),
        ("three", "Tue Nov 14 22:15:20 2023"),
    ]
    clock.advance(60.0)
    Client(server).register("one").send("QUIT")  # the oldest entry goes
    assert whowas(viewer, "one,two,three") == [
        ("one", "Tue Nov 14 22:16:20 2023"),
        ("two", "Tue Nov 14 22:14:20 2023"),
        ("three", "Tue Nov 14 22:15:20 2023"),
    ]
    clock.advance(60.0)
    Client(server).register("one").send("QUIT")
    assert whowas(viewer, "one") == [  # newest first
        ("one", "Tue Nov 14 22:17:20 2023"),
        ("one", "Tue Nov 14 22:16:20 2023"),
    ]
    assert whowas(viewer, "one 1") == [("one", "Tue Nov 14 22:17:20 2023")]
    assert whowas(viewer, "two,three") == [("two", ""), ("three", "Tue Nov 14 22:15:20 2023")]


def test_whowas_off_remembers_nothing() -> None:
    server = make_server(whowas=0)
    viewer = Client(server).register("viewer")
    Client(server).register("gone").send("QUIT")
    assert [c for c, _ in ask(viewer, "WHOWAS gone")] == ["406", "369"]


# -- message ids and times --------------------------------------------------------------------


def test_msgids_are_unique() -> None:
    server = make_server()
    ids = {server.msgid() for _ in range(10_000)}
    assert len(ids) == 10_000
    other = make_server(clock=FakeClock(1_700_000_001.0))
    assert not ids & {other.msgid() for _ in range(10_000)}  # a restarted server too


def test_one_message_has_one_msgid_for_all_its_recipients() -> None:
    server = make_server()
    alice = Client(server).register("alice", caps="message-tags")
    bob = Client(server).register("bob", caps="message-tags server-time")
    carol = Client(server).register("carol")
    for client in (carol, alice, bob):
        client.send("JOIN #c")
    alice.messages()
    bob.messages()
    carol.send("PRIVMSG #c :first", "PRIVMSG #c :second", "TOPIC #c :third")
    first = [m.tags["msgid"] for m in alice.messages()]
    second = [m.tags["msgid"] for m in bob.messages()]
    assert first == second
    assert len(set(first)) == 3
    assert all(re.fullmatch(r"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+", msgid) for msgid in first)


def test_format_time() -> None:
    assert format_time(1_700_000_000.0) == "2023-11-14T22:13:20.000Z"
    assert format_time(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert format_time(1_700_000_061.999) == "2023-11-14T22:14:21.999Z"
    assert format_time(1_700_000_000.5) == "2023-11-14T22:13:20.500Z"  # an earlier second again


# -- shutdown ---------------------------------------------------------------------------------


def test_shutdown_tells_everyone_and_closes_them_all() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    early = Client(server, ip="203.0.113.9")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    alice.messages()
    bob.messages()
    server.shutdown("maintenance")
    error = "Server shutting down: maintenance"
    for client in (alice, bob, early):
        assert client.closed
    assert alice.lines() == [f"ERROR :Closing Link: {HOST} ({error})"]
    # bob heard alice go before being closed himself
    assert bob.lines() == [
        f":alice!~u@{HOST} QUIT :{error}",
        f"ERROR :Closing Link: {HOST} ({error})",
    ]
    assert early.lines() == [f"ERROR :Closing Link: {cloak_of('203.0.113.9')} ({error})"]
    assert connected(server) == 0
    assert server.find_channel("#c") is None
    assert refused(server, "127.0.0.1") is None  # no address counts are left behind


# -- reconfiguration --------------------------------------------------------------------------


def test_apply_config_refuses_a_casemapping_change() -> None:
    server = Server(config_with(casemapping="rfc1459"), clock=FakeClock())
    alice = Client(server).register("alice[1]")
    before = server.config
    with pytest.raises(ValueError, match="casemapping"):
        server.apply_config(config_with(casemapping="ascii", name="other.example"))
    assert server.config is before
    assert server.name == SERVER
    assert nick_in_use(server, "ALICE{1}")  # still folded the old way
    assert ask(alice, "PING x") == [("PONG", (SERVER, "x"))]


def test_apply_config_takes_new_limits_and_names() -> None:
    server = Server(config_with(), clock=FakeClock())
    alice = Client(server).register("alice")
    new = dataclasses.replace(
        config_with(name="irc.example"), limits=LimitsSection(flood=False, max_clients=1)
    )
    server.apply_config(new, motd=["hello again"])
    assert ask(alice, "PING x") == [("PONG", ("irc.example", "x"))]  # still connected
    assert refused(server, "203.0.113.1") == FULL
    assert [p[1] for c, p in ask(alice, "MOTD") if c == "372"] == ["- hello again"]


def test_apply_config_keeps_the_casemapping_when_it_is_the_same() -> None:
    server = Server(config_with(casemapping="ascii"), clock=FakeClock())
    server.apply_config(config_with(casemapping="ascii", name="same.example"))
    assert server.name == "same.example"
    assert server.casemapping.value == "ascii"
    Client(server).register("a[b]")
    assert nick_in_use(server, "A[B]")
    assert not nick_in_use(server, "a{b}")  # ascii: brackets are not letters
