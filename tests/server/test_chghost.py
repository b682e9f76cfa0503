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
    other = Client(server).register("other")
    other.send("OPER admin secret", "MODE other +s")
    oper.send("OPER admin secret", "MODE oper +s")
    other.messages()
    oper.messages()
    oper.send("CHGHOST target project.example")
    # The oper who did it is answered once; the other opers get the server notice.
    assert [m.params[-1] for m in oper.messages() if m.command == "NOTICE"] == [
        "Changed the host of target to project.example"
    ]
    assert [m.params[-1] for m in other.messages() if m.command == "NOTICE"] == [
        "*** oper changed the host of target to project.example"
    ]

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


def test_each_line_of_the_fallback_has_a_msgid_of_its_own() -> None:
    """IRCv3 message-ids: no two messages share a msgid. The chghost fallback's QUIT, JOIN,
    MODE and AWAY (and the AWAY after an away user's JOIN) all had the change's; the
    server's MODE also carried the user's account and bot tags."""
    server = make()
    caps = "message-tags server-time away-notify"
    oper = Client(server).register("oper")
    target = Client(server).register("target", caps="chghost")
    watcher = Client(server).register("watcher", caps=caps)
    watcher.send("JOIN #room")
    target.send("AWAY :gone", "MODE target +B", "JOIN #room,#other")
    watcher.send("JOIN #other")
    joined = [m for m in watcher.messages() if m.source and m.source.startswith("target!")]
    assert [m.command for m in joined] == ["JOIN", "AWAY"]
    assert len({m.tags["msgid"] for m in joined}) == 2
    server.network.set_account(target.session.user, "targetacct")
    watcher.messages()
    oper.send("OPER admin secret", "CHGHOST target project.example")
    fallback = watcher.messages()
    assert [m.command for m in fallback] == ["QUIT", "JOIN", "AWAY", "JOIN", "MODE", "AWAY"]
    assert len({m.tags["msgid"] for m in fallback}) == len(fallback)
    [mode] = [m for m in fallback if m.command == "MODE"]
    assert "account" not in mode.tags
    assert "bot" not in mode.tags
    assert all(m.tags.get("bot") is not None for m in fallback if m.command != "MODE")
