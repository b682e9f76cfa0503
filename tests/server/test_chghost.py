"""CHGHOST: an operator gives a user a virtual host; peers learn it by their capabilities."""

from __future__ import annotations

import dataclasses

from hubbub.config import OperSection, default_config
from hubbub.server.core import Server
from tests.cloaks import CLOAKS, HOST
from tests.server.harness import Client, FakeClock


def make() -> Server:
    config = dataclasses.replace(
        default_config(), opers=(OperSection(name="admin", password="secret"),), cloaks=CLOAKS
    )
    return Server(config, clock=FakeClock())


def test_chghost_reaches_peers_by_capability() -> None:
    server = make()
    oper = Client(server).register("oper")
    target = Client(server).register("target", caps="chghost")
    modern = Client(server).register("modern", caps="chghost extended-join")
    legacy = Client(server).register("legacy")
    target.send("JOIN #room")
    for c in (modern, legacy):
        c.send("JOIN #room")
    target.send("MODE #room +v legacy")  # target is op (first in) and keeps @ across
    for c in (target, modern, legacy):
        c.messages()
    oper.send("OPER admin secret", "CHGHOST target project.example")
    assert any("Changed the host" in m.params[-1] for m in oper.messages())

    [change] = modern.messages()
    assert change.command == "CHGHOST"
    assert change.source == f"target!~u@{HOST}"
    assert change.params == ("~u", "project.example")

    fallback = [(m.command, m.source, m.params) for m in legacy.messages()]
    assert fallback == [
        ("QUIT", f"target!~u@{HOST}", ("Changing host",)),
        ("JOIN", "target!~u@project.example", ("#room",)),
        ("MODE", "hubbub.local", ("#room", "+o", "target")),
    ]
    [own] = target.messages()
    assert own.command == "CHGHOST"
    assert target.session.user.prefix == "target!~u@project.example"


def test_chghost_needs_an_operator_and_a_valid_host() -> None:
    server = make()
    oper = Client(server).register("oper")
    Client(server).register("target")
    oper.send("CHGHOST target x.example")
    assert [m.command for m in oper.messages()] == ["481"]
    oper.send("OPER admin secret")
    oper.messages()
    oper.send("CHGHOST target bad!host", "CHGHOST nobody x.example")
    replies = oper.messages()
    assert [m.command for m in replies] == ["FAIL", "401"]
    assert replies[0].params[:2] == ("CHGHOST", "INVALID_HOST")
