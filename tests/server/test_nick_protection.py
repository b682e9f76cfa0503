"""Registered nicks are kept for their account (``[accounts] nick_protection``), line by line
with a fake clock: the grace period and the guest rename, strict refusals, and NickServ GHOST
and REGAIN."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hubbub.config import AccountsSection
from hubbub.server.accounts import guest_nick
from hubbub.server.core import Server
from tests.server.accounthelpers import add_account, defer, server_with_accounts, service
from tests.server.harness import Client, FakeClock, ask, make_server, replies
from tests.server.saslclient import b64, plain

PASSWORD = "correct-horse"
GUEST = re.compile(r"Guest\d{5}")


def protected(clock: FakeClock | None = None, limits: Any = None, **accounts: Any) -> Server:
    """A server with accounts whose ``[accounts]`` section has ``accounts``."""
    server = server_with_accounts(clock, **(limits or {}))
    config = dataclasses.replace(server.config, accounts=AccountsSection(**accounts))
    server.apply_config(config)
    return server


def later(server: Server, clock: FakeClock, seconds: float) -> None:
    """Let ``seconds`` pass and run the server's timers."""
    clock.advance(seconds)
    server.tick()


def nickserv_notices(client: Client) -> list[str]:
    return [
        m.params[1]
        for m in client.messages()
        if m.command == "NOTICE" and (m.source or "").startswith("NickServ!")
    ]


def sasl_register(client: Client, nick: str, account: str, password: str = PASSWORD) -> None:
    client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real Name")
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain(account, password))}", "CAP END")


# -- guest (the default) ---------------------------------------------------------------------


def test_a_stranger_who_takes_a_just_registered_nick_is_renamed() -> None:
    """The reported attack: alice registers her nick and leaves; a stranger connects as alice.
    He is told at once, and renamed to a guest nick when the grace period ends."""
    clock = FakeClock()
    server = server_with_accounts(clock)  # the default config: nick_protection = "guest"
    alice = Client(server).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}")
    alice.send("QUIT")
    bob = Client(server).register("bob")
    bob.send("JOIN #room")
    stranger = Client(server)
    stranger.send("NICK alice", "USER u 0 * :Real Name", "JOIN #room")
    msgs = stranger.messages()
    assert msgs[0].command == "001"
    [warning] = [
        m.params[1]
        for m in msgs
        if m.command == "NOTICE" and (m.source or "").startswith("NickServ!")
    ]
    assert "registered to the account alice" in warning
    assert "within 30 seconds" in warning
    bob.messages()
    later(server, clock, 29)
    assert stranger.messages() == []
    assert stranger.session.user.nick == "alice"
    later(server, clock, 2)
    msgs = stranger.messages()
    assert msgs[0].command == "NOTICE"
    assert "did not log in to the account alice in time" in msgs[0].params[1]
    assert msgs[1].command == "NICK"
    assert (msgs[1].source or "").startswith("alice!")
    guest = msgs[1].params[0]
    assert GUEST.fullmatch(guest)
    assert stranger.session.user.nick == guest
    assert server.find_user("alice") is None
    [seen] = bob.messages()  # a nick change like any other
    assert (seen.command, seen.params, (seen.source or "").split("!")[0]) == (
        "NICK",
        (guest,),
        "alice",
    )
    assert service(server).grace == {}


def test_logging_in_within_the_grace_period_keeps_the_nick() -> None:
    clock = FakeClock()
    server = protected(clock, nick_grace=10)
    add_account(server, "Alice")
    alice = Client(server)
    alice.send("NICK ALICE", "USER u 0 * :Real Name")  # any case is the same nick
    assert any("within 10 seconds" in text for text in nickserv_notices(alice))
    later(server, clock, 5)
    alice.send(f"NS IDENTIFY alice {PASSWORD}")
    alice.messages()
    later(server, clock, 60)
    assert alice.messages() == []
    assert alice.session.user.nick == "ALICE"
    assert service(server).grace == {}


def test_a_sasl_login_gets_the_nick_without_a_word() -> None:
    server = protected()
    add_account(server, "alice")
    alice = Client(server)
    sasl_register(alice, "alice", "alice")
    msgs = alice.messages()
    assert "001" in [m.command for m in msgs]
    assert not [
        m for m in msgs if m.command == "NOTICE" and (m.source or "").startswith("NickServ!")
    ]
    assert service(server).grace == {}


def test_a_login_being_checked_when_the_grace_ends_is_waited_for() -> None:
    clock = FakeClock()
    server = protected(clock, nick_grace=10)
    add_account(server, "alice")
    jobs = defer(server)
    alice = Client(server).register("alice")
    later(server, clock, 9)
    alice.send(f"NS IDENTIFY {PASSWORD}")  # argon2 is still at work when the grace ends
    later(server, clock, 2)
    assert alice.session.user.nick == "alice"
    jobs.run()
    later(server, clock, 1)
    assert alice.session.user.account == "alice"
    assert alice.session.user.nick == "alice"
    assert service(server).grace == {}


def test_changing_nick_away_cancels_the_rename() -> None:
    clock = FakeClock()
    server = protected(clock)
    add_account(server, "alice")
    stranger = Client(server).register("alice")
    stranger.send("NICK notalice")
    assert service(server).grace == {}
    later(server, clock, 60)
    stranger.messages()
    assert stranger.session.user.nick == "notalice"


def test_hopping_between_registered_nicks_buys_no_time() -> None:
    clock = FakeClock()
    server = protected(clock)
    add_account(server, "alice")
    add_account(server, "carol")
    stranger = Client(server).register("alice")
    later(server, clock, 20)
    stranger.send("NICK carol")
    later(server, clock, 11)
    assert GUEST.fullmatch(stranger.session.user.nick)


def test_logging_out_on_ones_own_nick_starts_the_countdown() -> None:
    clock = FakeClock()
    server = protected(clock, nick_grace=5)
    add_account(server, "alice")
    alice = Client(server)
    sasl_register(alice, "alice", "alice")
    alice.messages()
    alice.send("NS LOGOUT")
    assert any("within 5 seconds" in text for text in nickserv_notices(alice))
    later(server, clock, 6)
    assert GUEST.fullmatch(alice.session.user.nick)


def test_registering_an_account_warns_whoever_uses_its_nick() -> None:
    server = protected()
    carol = Client(server).register("carol")
    bob = Client(server).register("bob")
    bob.send(f"REGISTER carol * {PASSWORD}")
    assert bob.session.user.account == "carol"
    assert any("registered to the account carol" in text for text in nickserv_notices(carol))
    assert carol.session in service(server).grace


def test_the_owner_may_use_the_nick_in_any_case() -> None:
    clock = FakeClock()
    server = protected(clock, nick_protection="strict")
    add_account(server, "Alice")
    alice = Client(server).register("someone")
    alice.send(f"NS IDENTIFY Alice {PASSWORD}")
    alice.messages()
    alice.send("NICK aLiCe")
    assert [m.command for m in alice.messages()] == ["NICK"]
    later(server, clock, 60)
    assert alice.session.user.nick == "aLiCe"


def test_a_quitting_client_leaves_no_countdown() -> None:
    clock = FakeClock()
    server = protected(clock)
    add_account(server, "alice")
    stranger = Client(server).register("alice")
    stranger.send("QUIT")
    later(server, clock, 60)
    assert service(server).grace == {}


def test_a_rehash_to_off_stops_a_countdown() -> None:
    clock = FakeClock()
    server = protected(clock)
    add_account(server, "alice")
    stranger = Client(server).register("alice")
    server.apply_config(
        dataclasses.replace(server.config, accounts=AccountsSection(nick_protection="off"))
    )
    later(server, clock, 60)
    assert stranger.session.user.nick == "alice"


def test_guest_nicks_fit_nicklen_and_are_free() -> None:
    server = protected(limits={"nicklen": 7}, guest_prefix="Visitor")
    nick = guest_nick(server)
    assert nick is not None
    assert re.fullmatch(r"Vi\d{5}", nick)
    tiny = protected(limits={"nicklen": 1}, guest_prefix="G")
    Client(tiny).register("G")
    assert guest_nick(tiny) is None  # the only guest nick is taken


def test_no_free_guest_nick_disconnects() -> None:
    clock = FakeClock()
    server = protected(clock, limits={"nicklen": 1}, guest_prefix="G")
    add_account(server, "a")
    Client(server).register("G")
    stranger = Client(server).register("a")
    later(server, clock, 31)
    assert stranger.closed


# -- strict ----------------------------------------------------------------------------------


def test_strict_refuses_a_registered_nick_at_nick() -> None:
    clock = FakeClock()
    server = protected(clock, nick_protection="strict")
    add_account(server, "alice")
    bob = Client(server).register("bob")
    bob.send("NICK Alice")
    [refusal] = bob.messages()
    assert (refusal.command, refusal.params) == (
        "433",
        ("bob", "Alice", "Nickname is reserved by a different account"),
    )
    assert bob.session.user.nick == "bob"


def test_strict_refuses_a_registered_nick_at_registration_without_sasl() -> None:
    server = protected(nick_protection="strict")
    add_account(server, "alice")
    stranger = Client(server)
    stranger.send("NICK alice", "USER u 0 * :Real Name")
    [refusal] = stranger.messages()
    assert (refusal.command, refusal.params) == (
        "433",
        ("*", "alice", "Nickname is reserved by a different account"),
    )
    assert not stranger.session.registered
    assert server.network.users.get(server.fold("alice")) is None  # released for its owner
    stranger.send("NICK alice_")
    assert stranger.commands()[0] == "001"


def test_strict_lets_a_sasl_client_have_its_nick() -> None:
    server = protected(nick_protection="strict")
    add_account(server, "alice")
    alice = Client(server)
    sasl_register(alice, "alice", "alice")
    assert "001" in alice.commands()
    assert alice.session.user.nick == "alice"


# -- off -------------------------------------------------------------------------------------


def test_off_lets_anyone_use_a_registered_nick() -> None:
    clock = FakeClock()
    server = protected(clock, nick_protection="off")
    add_account(server, "alice")
    stranger = Client(server)
    stranger.send("NICK alice", "USER u 0 * :Real Name")
    assert not [m for m in stranger.messages() if m.command == "NOTICE"]
    later(server, clock, 3600)
    assert stranger.session.user.nick == "alice"


# -- GHOST and REGAIN ------------------------------------------------------------------------


def owner_and_stranger(server: Server) -> tuple[Client, Client, Client]:
    """alice's account, a stranger on the nick alice, alice logged in as alice_, and a
    witness sharing a channel with the stranger."""
    add_account(server, "alice")
    stranger = Client(server).register("alice")
    witness = Client(server).register("witness")
    for client in (stranger, witness):
        client.send("JOIN #room")
    owner = Client(server)
    sasl_register(owner, "alice_", "alice")
    for client in (stranger, witness, owner):
        client.messages()
    return owner, stranger, witness


def test_ghost_disconnects_whoever_uses_the_owners_nick() -> None:
    server = protected()
    owner, stranger, witness = owner_and_stranger(server)
    owner.send("NS GHOST Alice")
    assert nickserv_notices(owner) == ["alice has been disconnected."]
    assert stranger.closed
    [quit_msg] = witness.messages()
    assert (quit_msg.command, quit_msg.params) == ("QUIT", ("GHOST command used by alice_",))
    owner.send("NICK alice")
    assert [m.command for m in owner.messages()] == ["NICK"]
    owner.send("NS GHOST alice")
    assert nickserv_notices(owner) == ["You are alice."]


def test_regain_disconnects_the_holder_and_gives_the_nick() -> None:
    server = protected()
    owner, stranger, witness = owner_and_stranger(server)
    owner.send("PRIVMSG NickServ :REGAIN alice")
    msgs = owner.messages()
    assert [(m.command, m.params[0]) for m in msgs] == [("NICK", "alice"), ("NOTICE", "alice")]
    assert msgs[1].params[1] == "You have regained alice."
    assert stranger.closed
    assert witness.messages()[0].params == ("REGAIN command used by alice_",)
    assert server.find_user("alice") is owner.session.user
    owner.send("NS REGAIN alice")
    assert nickserv_notices(owner) == ["You are alice already."]


def test_regain_of_a_free_nick_just_takes_it() -> None:
    server = protected()
    add_account(server, "alice")
    owner = Client(server).register("someone")
    owner.send(f"NS IDENTIFY alice {PASSWORD}")
    owner.messages()
    owner.send("NS REGAIN alice")
    assert [m.command for m in owner.messages()] == ["NICK", "NOTICE"]
    assert owner.session.user.nick == "alice"


def test_ghost_and_regain_are_for_the_owner_only() -> None:
    server = protected()
    add_account(server, "alice")
    add_account(server, "bob")
    stranger = Client(server).register("alice")
    bob = Client(server).register("bob")
    bob.send("NS GHOST alice")
    assert nickserv_notices(bob) == ["Log in first."]
    bob.send(f"NS IDENTIFY {PASSWORD}")
    bob.messages()
    for command in ("GHOST", "REGAIN"):
        bob.send(f"NS {command} alice")
        assert nickserv_notices(bob) == ["alice is not a nick of your account."]
        bob.send(f"NS {command} nobody")
        assert nickserv_notices(bob) == ["nobody is not a nick of your account."]
        bob.send(f"NS {command}")
        assert nickserv_notices(bob) == [f"Syntax: {command} <nick>"]
    assert not stranger.closed
    assert stranger.session.user.nick == "alice"


def test_ghost_when_nobody_uses_the_nick() -> None:
    server = protected()
    add_account(server, "alice")
    owner = Client(server).register("someone")
    owner.send(f"NS IDENTIFY alice {PASSWORD}")
    owner.messages()
    owner.send("NS GHOST alice")
    assert nickserv_notices(owner) == ["Nobody is using alice."]


def test_ghost_and_regain_are_in_nickserv_help() -> None:
    server = protected()
    bob = Client(server).register("bob")
    bob.send("NS HELP")
    text = " ".join(nickserv_notices(bob))
    assert "GHOST <nick>" in text
    assert "REGAIN <nick>" in text


def test_nobody_may_take_the_service_nick() -> None:
    # A user called NickServ would receive `/msg NickServ IDENTIFY <password>`.
    server = make_server()
    client = Client(server)
    client.send("NICK nickSERV", "USER u 0 * :Real Name")
    assert ("432", ("*", "nickSERV", "Nickname is reserved for a service")) in replies(client)
    client.register("mallory")
    assert ask(client, "NICK NickServ") == [
        ("432", ("mallory", "NickServ", "Nickname is reserved for a service"))
    ]
