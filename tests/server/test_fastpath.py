"""The PRIVMSG/NOTICE fast path says exactly what the full handler says."""

from __future__ import annotations

import re

import pytest

from hubbub.server import core as core_module
from hubbub.server import fastpath
from hubbub.server.core import Server
from hubbub.server.session import Session
from tests.server.harness import Client, FakeClock, make_server

TAGS = re.compile(r"(time|msgid)=[^; ]*")


def conversation(
    use_fast_path: bool, monkeypatch: pytest.MonkeyPatch, taken: list[bytes]
) -> list[list[str]]:
    real = fastpath.relay

    def spy(server: Server, session: Session, line: bytes) -> bool:
        if use_fast_path and real(server, session, line):
            taken.append(line)
            return True
        return False

    monkeypatch.setattr(core_module, "relay", spy)
    server = make_server(clock=FakeClock())
    alice = Client(server).register("alice", caps="echo-message")
    bob = Client(server).register("bob", caps="message-tags server-time")
    carol = Client(server).register("carol")
    for c in (alice, bob, carol):
        c.send("JOIN #room")
    alice.send("PRIVMSG bob :hi bob", "MODE #room +m")
    carol.send("AWAY :gone")
    for c in (alice, bob, carol):
        c.lines()
    alice.send(
        "PRIVMSG #room :hello everyone",
        "PRIVMSG #room ::starts with a colon",
        "PRIVMSG #room :x",
        "NOTICE #room :a notice",
        "PRIVMSG bob :direct",
        "PRIVMSG carol :you are away",  # 301: the full handler
        "PRIVMSG #room :" + "y" * 450,  # cut to fit: the full handler
        "PRIVMSG #nowhere :lost",
    )
    carol.send("PRIVMSG #room :moderated out")
    monkeypatch.undo()
    return [[TAGS.sub(r"\1=*", line) for line in c.lines()] for c in (alice, bob, carol)]


def test_fast_path_output_matches_the_full_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bytes] = []
    fast = conversation(True, monkeypatch, taken)
    assert b"PRIVMSG #room :hello everyone" in taken  # the fast path did run
    assert b"PRIVMSG bob :direct" in taken
    slow = conversation(False, monkeypatch, [])
    assert fast == slow
    assert any("hello everyone" in line for line in fast[2])  # and something was said
