"""What an idle registered client keeps: objects shared between clients stay shared.

Each of these was a per-client allocation that idle memory (docs/performance.md) measured;
the tests keep them from coming back unnoticed, and check that what is made on demand
instead is right when it is made.
"""

from __future__ import annotations

from hubbub.server.core import Server
from tests.server.harness import Client, make_server


def server() -> Server:
    return make_server(max_clients_per_ip=10)


def test_idle_clients_share_their_constant_parts() -> None:
    srv = server()
    a = Client(srv).register("alice")
    b = Client(srv).register("bob")
    assert a.session.wake is b.session.wake  # (one bound method, not one per client)
    assert a.session.flood_tokens is b.session.flood_tokens
    assert a.session.user.realname is b.session.user.realname
    assert a.session.user.host is b.session.user.host


def test_a_client_that_never_speaks_keeps_no_prefix() -> None:
    srv = server()
    alice = Client(srv).register("alice")
    assert alice.session.user._prefix is None


def test_a_prefix_made_on_demand_follows_nick_changes() -> None:
    srv = server()
    alice = Client(srv).register("alice")
    bob = Client(srv).register("bob")
    alice.send("PRIVMSG bob :hi")
    assert bob.lines()[-1].startswith(":alice!~u@")
    alice.send("NICK alicia")
    alice.send("PRIVMSG bob :again")
    assert bob.lines()[-1].startswith(":alicia!~u@")
    assert alice.session.user.prefix_bytes.startswith(b"alicia!~u@")
