"""Random command sequences from several clients keep the core's state consistent.

Hypothesis drives a handful of clients with commands drawn from the whole command table,
with valid and hostile parameters. After every step the indexes must agree with each other,
and no handler may have raised (the core logs and answers 400 when one does).
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.invariants import check_invariants, examples
from tests.server.harness import Client, FakeClock, make_server

NICKS = ["alice", "Bob", "c[a]rol", "dave", "ALICE", "b0b", "x" * 40, "9bad", ""]
CHANNELS = ["#a", "#B", "#c[1]", "#a,#B", "0", "bad", "#" + "x" * 70, "#a b", ""]
TEXT = ["hi", "", ":colon", "x" * 600, "a\x00b", "é", "\x01ACTION waves\x01"]
MODES = [
    "+o",
    "-o",
    "+v",
    "+b",
    "-b",
    "+k",
    "-k",
    "+l",
    "-l",
    "+imnst",
    "-imnst",
    "+e",
    "+I",
    "+x",
    "+ov",
    "b",
    "+B",
    "+iw",
    "-w",
    "",
]

word = st.sampled_from(NICKS + CHANNELS + TEXT + MODES)
line = st.one_of(
    st.builds(lambda n: f"NICK {n}", st.sampled_from(NICKS)),
    st.builds(
        lambda c, k: f"JOIN {c} {k}", st.sampled_from(CHANNELS), st.sampled_from(["", "key"])
    ),
    st.builds(lambda c, r: f"PART {c} :{r}", st.sampled_from(CHANNELS), st.sampled_from(TEXT)),
    st.builds(
        lambda t, m: f"PRIVMSG {t} :{m}", st.sampled_from(NICKS + CHANNELS), st.sampled_from(TEXT)
    ),
    st.builds(
        lambda t, m: f"NOTICE {t} :{m}", st.sampled_from(NICKS + CHANNELS), st.sampled_from(TEXT)
    ),
    st.builds(
        lambda c, m, a: f"MODE {c} {m} {a}",
        st.sampled_from(CHANNELS + NICKS),
        st.sampled_from(MODES),
        st.sampled_from(NICKS + ["*!*@*", "5", "k"]),
    ),
    st.builds(lambda c, n: f"KICK {c} {n} :bye", st.sampled_from(CHANNELS), st.sampled_from(NICKS)),
    st.builds(lambda n, c: f"INVITE {n} {c}", st.sampled_from(NICKS), st.sampled_from(CHANNELS)),
    st.builds(lambda c, t: f"TOPIC {c} :{t}", st.sampled_from(CHANNELS), st.sampled_from(TEXT)),
    st.builds(
        lambda a, b: f"{a} {b}",
        st.sampled_from(
            [
                "WHO",
                "WHOIS",
                "WHOWAS",
                "NAMES",
                "LIST",
                "AWAY",
                "MONITOR +",
                "MONITOR -",
                "MONITOR S",
                "MONITOR C",
                "USERHOST",
                "ISON",
                "SETNAME",
                "TAGMSG",
                "CAP REQ",
                "CAP LS",
                "CAP END",
                "HELP",
                "LUSERS",
                "PING",
                "QUIT",
                "USER",
                "OPER",
                "KILL",
                "AUTHENTICATE",
                "REGISTER",
                "NS",
                "CHGHOST",
                "FOO",
            ]
        ),
        word,
    ),
    st.builds(lambda w: f"@label=x;+typing=active TAGMSG {w}", st.sampled_from(CHANNELS + NICKS)),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.tuples(st.integers(0, 3), line), max_size=40))
def test_random_commands_keep_state_consistent(
    steps: list[tuple[int, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    server = make_server(clock=FakeClock())
    clients = [Client(server, ip=f"127.0.0.{i + 1}") for i in range(4)]
    for i, client in enumerate(clients[:3]):
        client.register(["alice", "bob", "carol"][i], caps="echo-message multi-prefix" if i else "")
    with caplog.at_level(logging.ERROR, logger="hubbub"):
        for who, text in steps:
            client = clients[who]
            if client.closed:
                continue
            client.send_raw(text.encode("utf-8", "surrogateescape"))
            client.lines()
            check_invariants(server)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[0].getMessage()
