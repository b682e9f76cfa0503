"""Prometheus metrics without sockets: the event subscriber, the core's counters, the gauges
read at scrape time, and the exposition they make."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY

from hubbub import __version__
from hubbub.config import (
    ConfigError,
    MetricsSection,
    OperSection,
    parse_config,
)
from hubbub.protocol.casemap import Folded
from hubbub.server.channel import Channel
from hubbub.server.core import MAX_PENDING_LINES, Server
from hubbub.server.events import (
    NO_TAGS,
    Event,
    Joined,
    Kicked,
    NickChanged,
    Parted,
    Quit,
    Registered,
    Relayed,
    Stamp,
)
from hubbub.server.metrics import (
    TRANSPORTS,
    Histogram,
    Metrics,
    attach,
    detach,
    event_name,
    recipients,
)
from hubbub.server.session import PeerInfo
from hubbub.server.user import User
from tests.scrape import samples
from tests.server.accounthelpers import add_account, server_with_accounts
from tests.server.harness import Client, FakeClock, FakeSink, make_server

STAMP = Stamp(1_700_000_000.0, "m1")


def scrape(metrics: Metrics) -> dict[str, float]:
    """Every sample the metrics show, by ``name{label="value",...}``."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return samples(body)


def user(nick: str) -> User:
    u = User("host", 0.0)
    u.nick = nick
    return u


def channel(*members: tuple[User, str]) -> Channel:
    """A channel whose members are network users (the network layer's kind of member)."""
    chan = Channel("#c", Folded("#c"), 0.0)
    for member, modes in members:
        cast(dict[Any, str], chan.members)[member] = modes
    return chan


def relayed(
    source: User, target: Channel | User, lines: int = 1, command: str = "PRIVMSG", status: str = ""
) -> Relayed:
    shown = status + (target.name if isinstance(target, Channel) else target.nick)
    wire = b"".join(f":{source.nick}!u@h {command} {shown} :{i}\r\n".encode() for i in range(lines))
    return Relayed(source, command, target, shown, status, "m", 1, lines, STAMP.time, NO_TAGS, wire)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(make_server(), process=False)


# -- the event subscriber ----------------------------------------------------------------------


def test_a_message_to_a_channel_is_delivered_to_every_member_but_the_sender(
    metrics: Metrics,
) -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    chan = channel((alice, "o"), (bob, ""), (carol, "v"))
    metrics(relayed(alice, chan))
    got = scrape(metrics)
    assert got['hubbub_messages_relayed_total{command="PRIVMSG"}'] == 1
    assert got['hubbub_message_deliveries_total{command="PRIVMSG"}'] == 2


def test_a_sender_outside_the_channel_is_not_subtracted(metrics: Metrics) -> None:
    """(A channel without +n takes messages from outside.)"""
    outsider, bob, carol = user("outsider"), user("bob"), user("carol")
    metrics(relayed(outsider, channel((bob, ""), (carol, ""))))
    assert metrics.deliveries["PRIVMSG"] == 2


def test_a_block_counts_each_of_its_lines(metrics: Metrics) -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    chan = channel((alice, ""), (bob, ""), (carol, ""))
    metrics(relayed(alice, chan, lines=7))
    metrics(relayed(alice, chan, lines=1))
    metrics(relayed(alice, bob, lines=3, command="NOTICE"))
    got = scrape(metrics)
    assert got['hubbub_messages_relayed_total{command="PRIVMSG"}'] == 8
    assert got['hubbub_message_deliveries_total{command="PRIVMSG"}'] == 16
    assert got['hubbub_messages_relayed_total{command="NOTICE"}'] == 3
    assert got['hubbub_message_deliveries_total{command="NOTICE"}'] == 3
    assert got['hubbub_messages_relayed_total{command="TAGMSG"}'] == 0


def test_a_message_to_channel_operators_reaches_only_them() -> None:
    alice, op, voiced, plain, both = (user(n) for n in ("alice", "op", "voiced", "plain", "both"))
    chan = channel((alice, "o"), (op, "o"), (voiced, "v"), (plain, ""), (both, "ov"))
    assert recipients(relayed(alice, chan, status="@")) == 2  # op, both (not alice herself)
    assert recipients(relayed(alice, chan, status="+")) == 3  # op, voiced, both
    assert recipients(relayed(plain, chan, status="@")) == 3  # alice, op, both
    assert recipients(relayed(alice, chan)) == 4
    assert recipients(relayed(alice, plain)) == 1
    metrics = Metrics(make_server(), process=False)
    metrics(relayed(alice, chan, lines=2, command="TAGMSG", status="@"))
    assert metrics.deliveries["TAGMSG"] == 4


def test_other_events_are_counted_by_type(metrics: Metrics) -> None:
    alice, bob = user("alice"), user("bob")
    chan = channel((alice, "o"), (bob, ""))
    events: list[Event] = [
        Registered(alice),
        Registered(bob),
        Joined(alice, chan, True, STAMP),
        Joined(bob, chan, False, STAMP),
        NickChanged(bob, "bobby", "bobby!u@h", STAMP),
        Kicked(alice, chan, bob, "out", STAMP),
        Parted(alice, chan, "bye", STAMP),
        Quit(bob, "gone", (), frozenset(), STAMP),
    ]
    for event in events:
        metrics(event)
    got = scrape(metrics)
    counts = {
        name: got[f'hubbub_events_total{{event="{name}"}}']
        for name in ("registered", "joined", "nick_changed", "kicked", "parted", "quit")
    }
    assert counts == {
        "registered": 2,
        "joined": 2,
        "nick_changed": 1,
        "kicked": 1,
        "parted": 1,
        "quit": 1,
    }
    assert got['hubbub_events_total{event="topic_changed"}'] == 0  # every type is shown
    assert 'hubbub_events_total{event="relayed"}' not in got  # (counted by line, above)
    assert metrics.relayed["PRIVMSG"] == 0


def test_event_names() -> None:
    assert event_name(NickChanged) == "nick_changed"
    assert event_name(Quit) == "quit"


# -- attaching -------------------------------------------------------------------------------


def test_attach_subscribes_to_the_network_and_detach_stops_it() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    Client(server).register("bob")
    metrics = Metrics(server, process=False)
    attach(server, metrics)
    assert server.metrics is metrics
    alice.send("PRIVMSG bob :counted")
    assert metrics.relayed["PRIVMSG"] == 1
    detach(server)
    assert server.metrics is None
    alice.send("PRIVMSG bob :not counted")
    assert metrics.relayed["PRIVMSG"] == 1
    detach(server)  # (twice is harmless)


def test_each_server_has_its_own_registry() -> None:
    """Several servers run in one process (the tests do): nothing goes to the global
    registry, and two servers' metrics do not mix."""
    before = set(REGISTRY._names_to_collectors)
    first, second = Metrics(make_server()), Metrics(make_server())
    first.logins_refused = 3
    assert set(REGISTRY._names_to_collectors) == before
    assert scrape(first)["hubbub_logins_refused_total"] == 3
    assert scrape(second)["hubbub_logins_refused_total"] == 0
    assert "process_cpu_seconds_total" in scrape(first)  # the process collectors are there


# -- gauges read at scrape time ----------------------------------------------------------------


def test_gauges_are_read_from_the_server() -> None:
    server = make_server()
    metrics = Metrics(server, process=False)
    metrics.render_every = 0.0  # (each scrape renders anew: the test scrapes twice at once)
    alice = Client(server).register("alice")
    Client(server).register("bob")
    Client(server)  # not registered
    for transport in ("ws", "ws", "tls"):
        server.connect(FakeSink(), PeerInfo(ip="192.0.2.1", transport=transport))
    alice.send("JOIN #a", "JOIN #b")
    got = scrape(metrics)
    connections = {t: got[f'hubbub_connections{{transport="{t}"}}'] for t in TRANSPORTS}
    assert connections == {"tcp": 3, "tls": 1, "unix": 0, "ws": 2, "wss": 0}
    assert got["hubbub_users"] == 2
    assert got["hubbub_channels"] == 2
    assert got["hubbub_operators"] == 0
    alice.send("QUIT")
    got = scrape(metrics)
    assert got['hubbub_connections{transport="tcp"}'] == 2
    assert got["hubbub_users"] == 1
    assert got["hubbub_channels"] == 0


def test_the_version_is_shown() -> None:
    got = scrape(Metrics(make_server(), process=False))
    assert got[f'hubbub_build_info{{version="{__version__}"}}'] == 1


# -- what the core counts ----------------------------------------------------------------------


def metered(server: Server) -> Metrics:
    metrics = Metrics(server, process=False)
    attach(server, metrics)
    return metrics


def test_flood_disconnects_are_counted() -> None:
    server = make_server(flood=True)
    metrics = metered(server)
    calm = Client(server).register("calm")
    flooder = Client(server).register("flooder")
    calm.send(*["PING :x"] * 10)
    assert metrics.flood_disconnects == 0
    flooder.send(*[f"PING :{i}" for i in range(MAX_PENDING_LINES * 2)])
    assert flooder.closed
    assert not calm.closed
    assert scrape(metrics)["hubbub_flood_disconnects_total"] == 1


def test_sendq_disconnects_are_counted() -> None:
    server = make_server(sendq=4096)
    metrics = metered(server)
    alice = Client(server).register("alice")
    slow = Client(server).register("slow")
    for c in (alice, slow):
        c.send("JOIN #room")
    slow.sink.stop_reading()
    for i in range(40):
        alice.send(f"PRIVMSG #room :{i} {'w' * 300}")
        server.flush()
    assert slow.closed
    assert scrape(metrics)["hubbub_sendq_disconnects_total"] == 1


def test_refused_logins_are_counted() -> None:
    base = make_server()
    config = dataclasses.replace(base.config, opers=(OperSection(name="admin", password="pw"),))
    server = Server(config, clock=FakeClock())
    metrics = metered(server)
    alice = Client(server).register("alice")
    alice.send("OPER admin wrong", "OPER nobody pw", "OPER admin pw")
    assert metrics.logins_refused == 2


def test_refused_sasl_logins_are_counted() -> None:
    server = server_with_accounts()
    add_account(server, "alice", "correct-horse")
    metrics = metered(server)
    client = Client(server)
    client.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    payload = base64.b64encode(b"\0alice\0wrong-horse").decode()
    client.send(f"AUTHENTICATE {payload}")
    assert "904" in client.commands()
    assert metrics.logins_refused == 1
    client.send("AUTHENTICATE PLAIN")
    payload = base64.b64encode(b"\0alice\0correct-horse").decode()
    client.send(f"AUTHENTICATE {payload}")
    assert "903" in client.commands()
    assert metrics.logins_refused == 1


class StepClock:
    """A clock that moves on by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_command_durations_are_measured_per_known_command() -> None:
    server = make_server()
    metrics = metered(server)
    metrics.clock = StepClock(0.003)  # every command takes 3 ms by this clock
    alice = Client(server).register("alice")
    alice.send("JOIN #room", "JOIN #other", "WHO #room", "FROBNICATE x", "PRIVMSG #room :hi")
    got = scrape(metrics)
    assert got['hubbub_command_duration_seconds_count{command="JOIN"}'] == 2
    assert got['hubbub_command_duration_seconds_sum{command="JOIN"}'] == pytest.approx(0.006)
    assert got['hubbub_command_duration_seconds_bucket{command="JOIN",le="0.0025"}'] == 0
    assert got['hubbub_command_duration_seconds_bucket{command="JOIN",le="0.005"}'] == 2
    assert got['hubbub_command_duration_seconds_bucket{command="JOIN",le="+Inf"}'] == 2
    assert got['hubbub_command_duration_seconds_count{command="WHO"}'] == 1
    assert got['hubbub_command_duration_seconds_count{command="NICK"}'] == 1
    timed = {key.split('"')[1] for key in got if key.startswith("hubbub_command_duration")}
    # Unknown commands would be a label per made-up name: not measured. A plain PRIVMSG
    # takes the fast path, which is not timed.
    assert timed == {"NICK", "USER", "JOIN", "WHO"}


def test_without_metrics_nothing_is_counted() -> None:
    server = make_server(flood=True)
    assert server.metrics is None
    flooder = Client(server).register("flooder")
    flooder.send(*[f"PING :{i}" for i in range(MAX_PENDING_LINES * 2)], "OPER a b")
    assert flooder.closed


# -- the histogram and the exposition ----------------------------------------------------------


def test_histogram_buckets_hold_values_up_to_their_bound() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(value)
    assert histogram.buckets() == [("0.1", 2.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert histogram.count == 5
    assert histogram.sum == pytest.approx(8.65)


def test_loop_lag_is_never_negative(metrics: Metrics) -> None:
    metrics.observe_loop_lag(-0.001)  # (a timer may run a hair early)
    metrics.observe_loop_lag(0.3)
    got = scrape(metrics)
    assert got["hubbub_event_loop_lag_seconds_count"] == 2
    assert got["hubbub_event_loop_lag_seconds_sum"] == pytest.approx(0.3)
    assert got['hubbub_event_loop_lag_seconds_bucket{le="0.001"}'] == 1
    assert got['hubbub_event_loop_lag_seconds_bucket{le="0.25"}'] == 1
    assert got['hubbub_event_loop_lag_seconds_bucket{le="0.5"}'] == 2


def test_openmetrics_when_asked(metrics: Metrics) -> None:
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    body, content_type = metrics.render("text/html")
    assert content_type.startswith("text/plain")


# -- configuration -----------------------------------------------------------------------------

WEB = '[[listen]]\naddress = "127.0.0.1:0"\nwebsocket = true\n'


def test_metrics_are_off_by_default() -> None:
    section = parse_config(WEB).metrics
    assert section == MetricsSection()
    assert section.enabled is False
    assert section.path == "/metrics"
    assert section.allow == ("127.0.0.0/8", "::1")


def test_metrics_config() -> None:
    text = WEB + '[metrics]\nenabled = true\npath = "/stats"\nallow = ["10.0.0.0/8"]\n'
    section = parse_config(text).metrics
    assert section == MetricsSection(enabled=True, path="/stats", allow=("10.0.0.0/8",))


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ('path = "metrics"', "metrics.path", 'must start with "/"'),
        ('path = "/irc"', "metrics.path", "IRC WebSocket endpoint"),
        ('path = "/"', "metrics.path", "IRC WebSocket endpoint"),
        ('path = "/a b"', "metrics.path", "must not contain spaces"),
        ('path = "/m?x=1"', "metrics.path", "must not contain"),
        ('allow = ["nope"]', "metrics.allow[0]", "not an IP address or network"),
        ("enabled = 1", "metrics.enabled", "expected boolean"),
    ],
)
def test_bad_metrics_config(toml: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(WEB + "[metrics]\n" + toml + "\n")
    assert [issue.key for issue in caught.value.issues] == [key]
    assert message in caught.value.issues[0].message


def test_metrics_need_an_http_listener() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[listen]]\naddress = "127.0.0.1:0"\n[metrics]\nenabled = true\n')
    assert [issue.key for issue in caught.value.issues] == ["metrics.enabled"]


def test_scrapers_asking_within_a_second_share_one_rendering() -> None:
    server = make_server()
    metrics = Metrics(server, process=False)
    before = scrape(metrics)
    Client(server).register("alice")
    assert scrape(metrics) == before  # (rendered once for both)
    metrics.render_every = 0.0
    assert scrape(metrics)["hubbub_users"] == before["hubbub_users"] + 1
