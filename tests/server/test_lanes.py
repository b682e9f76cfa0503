"""Which lane of the host's threads each kind of blocking work asks for (the host gives the
password work and the searches threads of their own: docs/history.md, "Connections")."""

from __future__ import annotations

import dataclasses

from hubbub.config import OperSection
from hubbub.passwords import hash_password
from hubbub.server.core import Lane, Server
from tests.server.accounthelpers import add_account, server_with_accounts
from tests.server.harness import Client, host_of
from tests.server.historyhelpers import joined, server_with_history
from tests.server.saslclient import b64, plain

PASSWORD = "correct-horse"


def lanes_of(server: Server) -> list[Lane]:
    """The lanes asked for since the last call."""
    lanes = host_of(server).lanes
    seen = list(lanes)
    lanes.clear()
    return seen


def test_password_checks_and_hashing_run_in_the_hash_lane() -> None:
    server = server_with_accounts()
    add_account(server, "dave", PASSWORD)
    dave = Client(server).register("dave", caps="sasl")
    lanes_of(server)
    dave.send("AUTHENTICATE PLAIN")
    dave.send(f"AUTHENTICATE {b64(plain('dave', 'wrong-password'))}")
    assert lanes_of(server) == ["hash"]
    erin = Client(server).register("erin")
    lanes_of(server)
    erin.send(f"REGISTER * * {PASSWORD}")  # hashed, then stored: one piece of work
    assert lanes_of(server) == ["hash"]
    erin.send("NS PASSWORD another-password")
    assert lanes_of(server) == ["hash"]


def test_oper_and_server_passwords_are_checked_in_the_hash_lane() -> None:
    server = server_with_accounts()
    opers = (OperSection(name="admin", password=hash_password("secret")),)  # (plain: inline)
    server.apply_config(dataclasses.replace(server.config, opers=opers))
    ircop = Client(server).register("ircop")
    lanes_of(server)
    ircop.send("OPER admin secret")
    assert lanes_of(server) == ["hash"]


def test_searches_run_in_the_search_lane_and_history_reads_in_storage() -> None:
    server, _ = server_with_history()
    alice = joined(server, "alice", "#room", caps="draft/chathistory batch soju.im/search")
    alice.lines()
    lanes_of(server)
    alice.send("SEARCH in=#room;text=hello")
    assert lanes_of(server) == ["search"]
    alice.send("CHATHISTORY LATEST #room * 10")
    assert lanes_of(server) == ["storage"]
