"""A hypothesis state machine: several clients join, part, change nicks and modes, kick, quit
and come back, talk, set topics; after every step the core's invariants hold and no handler
has failed.

``HUBBUB_FUZZ_EXAMPLES`` sets how many runs to try (see :func:`tests.fuzz.invariants.examples`).
"""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hubbub.config import LimitsSection, OperSection, default_config
from hubbub.server.core import Server
from tests.fuzz.invariants import ErrorLog, check_invariants, check_replies, examples
from tests.server.harness import Client, FakeClock

SLOTS = 4
ADDRESSES = ["127.0.0.1", "127.0.0.1", "10.0.0.3", "2001:db8::4"]

slots = st.integers(0, SLOTS - 1)
nicks = st.sampled_from(["alice", "ALICE", "bob", "c[a]rol", "C{A}ROL", "dave", "9bad", "x" * 31])
channels = st.sampled_from(["#a", "#A", "#b", "#c[1]", "#C{1}", "#a,#b", "0", "nochan"])
texts = st.sampled_from(["hi", "", ":colon", "x" * 500, "\x01ACTION waves\x01", "é"])
masks = st.sampled_from(["*!*@*", "*", "bob", "*!*@10.*", "*a*a*b", "c[a]rol!*@*", "?ob!*@*"])
flag_modes = st.sampled_from(["+i", "-i", "+m", "-m", "+n", "-n", "+t", "-t", "+s", "-s"])


class ServerMachine(RuleBasedStateMachine):
    """Four client slots on one server core; a slot whose client has gone connects again."""

    def __init__(self) -> None:
        super().__init__()
        self.errors = ErrorLog().__enter__()
        config = dataclasses.replace(
            default_config(),
            opers=(OperSection(name="admin", password="secret"),),
            limits=LimitsSection(flood=False),
        )
        self.clock = FakeClock()
        self.server = Server(config, clock=self.clock)
        self.fresh = (f"user{i}" for i in itertools.count())
        caps = ["", "multi-prefix", "echo-message extended-join", "message-tags away-notify"]
        self.clients = [
            Client(self.server, ip=ADDRESSES[i]).register(next(self.fresh), caps=caps[i])
            for i in range(SLOTS)
        ]

    def teardown(self) -> None:
        self.errors.__exit__()

    def send(self, slot: int, line: str) -> None:
        client = self.clients[slot]
        if client.closed:
            client = Client(self.server, ip=ADDRESSES[slot]).register(next(self.fresh))
            self.clients[slot] = client
        client.send(line)

    @rule(who=slots, channel=channels, key=st.sampled_from(["", "key", "other"]))
    def join(self, who: int, channel: str, key: str) -> None:
        self.send(who, f"JOIN {channel} {key}".rstrip())

    @rule(who=slots, channel=channels, reason=texts)
    def part(self, who: int, channel: str, reason: str) -> None:
        self.send(who, f"PART {channel} :{reason}")

    @rule(who=slots, nick=nicks)
    def nick(self, who: int, nick: str) -> None:
        self.send(who, f"NICK {nick}")

    @rule(
        who=slots,
        channel=channels,
        change=st.sampled_from(["+o", "-o", "+v", "-v"]),
        nick=nicks,
    )
    def prefix_mode(self, who: int, channel: str, change: str, nick: str) -> None:
        self.send(who, f"MODE {channel} {change} {nick}")

    @rule(who=slots, channel=channels, change=st.sampled_from(["+b", "-b", "+e", "+I"]), mask=masks)
    def list_mode(self, who: int, channel: str, change: str, mask: str) -> None:
        self.send(who, f"MODE {channel} {change} {mask}")

    @rule(
        who=slots,
        channel=channels,
        change=st.sampled_from(["+k key", "-k key", "+k other", "+l 1", "+l 3", "-l", "+lk 2 k"]),
    )
    def key_and_limit(self, who: int, channel: str, change: str) -> None:
        self.send(who, f"MODE {channel} {change}")

    @rule(who=slots, channel=channels, change=flag_modes)
    def flag_mode(self, who: int, channel: str, change: str) -> None:
        self.send(who, f"MODE {channel} {change}")

    @rule(who=slots, change=st.sampled_from(["+i", "-i", "+w", "-o", "+B", "-s"]))
    def user_mode(self, who: int, change: str) -> None:
        self.send(who, f"MODE {self.clients[who].session.user.nick} {change}")

    @rule(who=slots, password=st.sampled_from(["secret", "wrong"]))
    def oper(self, who: int, password: str) -> None:
        self.send(who, f"OPER admin {password}")

    @rule(who=slots, channel=channels, nick=nicks, reason=texts)
    def kick(self, who: int, channel: str, nick: str, reason: str) -> None:
        self.send(who, f"KICK {channel} {nick} :{reason}")

    @rule(who=slots, nick=nicks, channel=channels)
    def invite(self, who: int, nick: str, channel: str) -> None:
        self.send(who, f"INVITE {nick} {channel}")

    @rule(who=slots, victim=nicks)
    def kill(self, who: int, victim: str) -> None:
        self.send(who, f"KILL {victim} :enough")

    @rule(who=slots, reason=texts)
    def quit(self, who: int, reason: str) -> None:
        self.send(who, f"QUIT :{reason}")

    @rule(
        who=slots,
        command=st.sampled_from(["PRIVMSG", "NOTICE"]),
        to=channels | nicks | st.sampled_from(["@#a", "+#b", "@+#a"]),
        text=texts,
    )
    def message(self, who: int, command: str, to: str, text: str) -> None:
        self.send(who, f"{command} {to} :{text}")

    @rule(who=slots, to=channels | nicks)
    def tagmsg(self, who: int, to: str) -> None:
        self.send(who, f"@+typing=active TAGMSG {to}")

    @rule(who=slots, channel=channels, text=texts)
    def topic(self, who: int, channel: str, text: str) -> None:
        self.send(who, f"TOPIC {channel} :{text}")

    @rule(who=slots, change=st.sampled_from(["+", "-"]), nick=nicks)
    def monitor(self, who: int, change: str, nick: str) -> None:
        self.send(who, f"MONITOR {change} {nick}")

    @rule(who=slots, text=texts)
    def away(self, who: int, text: str) -> None:
        self.send(who, f"AWAY :{text}" if text else "AWAY")

    @rule(who=slots, mask=masks | channels | nicks)
    def who(self, who: int, mask: str) -> None:
        self.send(who, f"WHO {mask}")

    @rule(seconds=st.sampled_from([1, 30, 100, 200]))
    def time_passes(self, seconds: int) -> None:
        """Ping timeouts may drop clients; their slots connect again."""
        self.clock.advance(seconds)
        self.server.tick()

    @invariant()
    def state_is_consistent(self) -> None:
        self.errors.check()
        for client in self.clients:
            check_replies(client.lines())
        check_invariants(self.server)


ServerMachine.TestCase.settings = settings(
    max_examples=examples(50),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_server_state_machine = ServerMachine.TestCase
