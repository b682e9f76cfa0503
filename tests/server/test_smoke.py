"""The first end-to-end walk through the core without sockets, and the per-address limits."""

from __future__ import annotations

import pytest

from hubbub.config import ConfigError, LimitsSection
from hubbub.server.session import PeerInfo
from tests.cloaks import HOST
from tests.server.harness import Client, FakeClock, FakeSink, make_server


def test_register_join_and_talk() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #chat")
    assert [m.command for m in alice.messages()] == ["JOIN", "353", "366"]
    bob.send("JOIN #chat")
    bob.messages()
    joined = alice.messages()
    assert joined[0].command == "JOIN"
    assert joined[0].source == f"bob!~u@{HOST}"
    bob.send("PRIVMSG #chat :hello there")
    got = alice.messages()
    assert [(m.command, m.params) for m in got] == [("PRIVMSG", ("#chat", "hello there"))]
    assert bob.messages() == []


def test_new_connections_from_one_address_are_throttled() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, connect_burst=3, connect_rate=0.5, max_clients_per_ip=100)
    for _ in range(3):
        Client(server, ip="203.0.113.7")
    sink = FakeSink()
    assert server.connect(sink, PeerInfo(ip="203.0.113.7")) is None
    assert bytes(sink.data) == b"ERROR :Too many connections from your IP address too quickly\r\n"
    assert sink.closed
    Client(server, ip="198.51.100.1")  # another address has its own allowance
    for _ in range(10):
        Client(server, ip="127.0.0.1")  # loopback is never throttled
    clock.advance(2.0)  # one more after 1 / connect_rate seconds
    Client(server, ip="203.0.113.7")
    assert server.connect(FakeSink(), PeerInfo(ip="203.0.113.7")) is None


def test_the_throttle_forgets_quiet_addresses_and_can_be_off() -> None:
    clock = FakeClock()
    server = make_server(clock=clock, connect_burst=2, connect_rate=1.0)
    Client(server, ip="203.0.113.7")
    assert "203.0.113.7" in server.connect_buckets
    clock.advance(5.0)
    server.tick()
    assert server.connect_buckets == {}
    off = make_server(connect_burst=0, max_clients_per_ip=100)
    for _ in range(50):
        Client(off, ip="203.0.113.7")
    assert off.connect_buckets == {}


def test_loopback_is_throttled_when_its_exemption_is_off() -> None:
    server = make_server(connect_burst=2, max_clients_per_ip=100, exempt_loopback=False)
    for ip in ("127.0.0.1", "::1"):
        Client(server, ip=ip)
        Client(server, ip=ip)
        assert server.connect(FakeSink(), PeerInfo(ip=ip)) is None
    unix = PeerInfo(ip="127.0.0.1", transport="unix", hostname="localhost")
    assert server.connect(FakeSink(), unix) is not None  # a Unix socket is never throttled


def test_exempt_addresses_have_no_per_address_limits() -> None:
    server = make_server(max_clients_per_ip=2, connect_burst=2, exempt=("203.0.113.0/24",))
    for _ in range(10):
        Client(server, ip="203.0.113.7")
    Client(server, ip="198.51.100.1")
    Client(server, ip="198.51.100.1")
    assert server.connect(FakeSink(), PeerInfo(ip="198.51.100.1")) is None


def test_exempt_entries_must_be_addresses_or_networks() -> None:
    with pytest.raises(ConfigError) as caught:
        LimitsSection(exempt=("10.0.0.0/8", "gateway.example"))
    assert [issue.key for issue in caught.value.issues] == ["exempt[1]"]
