"""Accounts through the core, line by line: REGISTER/VERIFY, NickServ, and what others see
of a login (account-notify, account-tag, extended-join, WHOIS)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any

from hubbub.config import AccountsSection, AuthSection, OperSection
from hubbub.passwords import check_password, hash_password
from hubbub.plugins.nickserv import handle_service_message
from hubbub.protocol.message import Message
from hubbub.server.accounts import AccountService, attach
from hubbub.server.commands.accounts import reload_accounts
from hubbub.server.commands.dispatch import Context
from hubbub.server.core import Server
from hubbub.server.response import Response
from hubbub.server.sasl import make_scram_credentials
from hubbub.storage import AccountRecord, SqliteStorage
from tests.cloaks import HOST
from tests.server.accounthelpers import add_account, defer, server_with_accounts, service
from tests.server.harness import Client, FakeClock, TestHost, ask, host_of, make_server
from tests.server.saslclient import ScramClient, b64
from tests.server.saslclient import plain as sasl_plain

PASSWORD = "correct-horse"


def fails(client: Client) -> list[tuple[str, ...]]:
    return [m.params for m in client.messages() if m.command == "FAIL"]


# -- REGISTER --------------------------------------------------------------------------------


def test_register_after_connecting() -> None:
    server = server_with_accounts()
    alice = Client(server).register("Alice")
    alice.send(f"REGISTER * alice@example.org :{PASSWORD}")
    msgs = alice.messages()
    assert [m.command for m in msgs] == ["900", "REGISTER"]
    assert msgs[0].params[1:3] == (f"Alice!~u@{HOST}", "Alice")
    assert msgs[1].params == ("SUCCESS", "Alice", "Account created")
    assert alice.session.user.account == "Alice"
    stored = service(server).storage.get_account(server.fold("alice"))
    assert stored is not None
    assert stored.name == "Alice"
    assert stored.email == "alice@example.org"
    assert stored.password_hash.startswith("$argon2")
    assert check_password(stored.password_hash, PASSWORD)
    assert stored.scram.iterations >= 4096


def test_registrations_from_one_address_are_throttled() -> None:
    clock = FakeClock()
    server = server_with_accounts(clock)
    accounts = AccountsSection(register_burst=2, register_per_hour=6.0)  # one per 10 minutes
    server.apply_config(dataclasses.replace(server.config, accounts=accounts))

    def register(nick: str, ip: str = "192.0.2.7", how: str = "REGISTER") -> list[Message]:
        client = Client(server, ip=ip).register(nick)
        if how == "REGISTER":
            client.send(f"REGISTER * * {PASSWORD}")
        else:
            client.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        return client.messages()

    assert register("one")[-1].params[0] == "SUCCESS"
    weak = Client(server, ip="192.0.2.7").register("weak")
    weak.send("REGISTER * * short")  # refused for its password: costs no allowance
    assert [m.params[1] for m in weak.messages() if m.command == "FAIL"] == ["WEAK_PASSWORD"]
    assert register("two")[-1].params[0] == "SUCCESS"
    [fail] = [m for m in register("three") if m.command == "FAIL"]
    assert fail.params == (
        "REGISTER",
        "TEMPORARILY_UNAVAILABLE",
        "three",
        "Too many accounts registered from your address; try again later",
    )
    [notice] = [m.params[1] for m in register("four", how="NickServ") if m.command == "NOTICE"]
    assert notice == (
        "Cannot register four: too many accounts registered from your address; try again later."
    )
    assert register("other", ip="198.51.100.9")[-1].params[0] == "SUCCESS"  # its own bucket
    assert register("local", ip="127.0.0.1")[-1].params[0] == "SUCCESS"  # loopback: spared
    clock.advance(600)
    assert register("five")[-1].params[0] == "SUCCESS"  # ten minutes later: one more
    assert [m.command for m in register("six")][-1] == "FAIL"
    assert service(server).storage.get_account(server.fold("three")) is None


def test_failed_logins_to_one_account_are_limited_from_every_address() -> None:
    """An attack audit: the only limit on guessing an account's password was 5 refusals per
    connection, so many addresses could try some 430,000 passwords a day. An account has an
    allowance of failed logins (SASL PLAIN, SCRAM, NickServ IDENTIFY alike); past it, its
    logins are refused unchecked, the right password too, until it refills."""
    clock = FakeClock()
    server = server_with_accounts(clock)
    accounts = AccountsSection(login_burst=3, login_per_hour=6.0)  # one per 10 minutes
    opers = (OperSection(name="admin", password="secret"),)
    server.apply_config(dataclasses.replace(server.config, accounts=accounts, opers=opers))
    add_account(server, "alice", PASSWORD)
    add_account(server, "bob", PASSWORD)
    oper = Client(server).register("oper")
    oper.send("OPER admin secret", "MODE oper +s")
    oper.messages()

    def plain(password: str, ip: str, user: str = "alice") -> str:
        client = Client(server, ip=ip)
        client.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        client.send(f"AUTHENTICATE {b64(sasl_plain(user, password))}")
        return [m.command for m in client.messages() if m.command in ("903", "904")][0]

    def scram(password: str, ip: str) -> str:
        client = Client(server, ip=ip)
        client.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE SCRAM-SHA-256")
        exchange = ScramClient("alice", password)
        client.messages()
        client.send(f"AUTHENTICATE {b64(exchange.first())}")
        [first] = [m.params[0] for m in client.messages() if m.command == "AUTHENTICATE"]
        client.send(f"AUTHENTICATE {b64(exchange.final(base64.b64decode(first)))}")
        got = client.messages()
        if any(m.command == "904" for m in got):
            return "904"
        client.send("AUTHENTICATE +")
        return [m.command for m in client.messages() if m.command in ("903", "904")][0]

    assert plain("wrong1", "192.0.2.1") == "904"
    assert scram("wrong2", "192.0.2.2") == "904"
    identify = Client(server, ip="192.0.2.3").register("guesser")
    identify.send("PRIVMSG NickServ :IDENTIFY alice wrong3")
    identify.messages()
    told = [m.params[1] for m in oper.messages() if m.command == "NOTICE"]
    assert [t for t in told if "failed logins" in t] == [
        "*** Too many failed logins to the account alice; refused for a while"
    ]
    # past the allowance: refused whatever the password, by either mechanism
    assert plain(PASSWORD, "198.51.100.1") == "904"
    assert scram(PASSWORD, "198.51.100.2") == "904"
    assert plain(PASSWORD, "198.51.100.3", user="bob") == "903"  # another account's own
    assert not any("failed logins" in str(m) for m in oper.messages())  # (told once)
    clock.advance(600)  # one more try has come back
    assert plain(PASSWORD, "198.51.100.4") == "903"
    assert scram("wrong4", "192.0.2.4") == "904"
    assert plain(PASSWORD, "198.51.100.5") == "904"
    # 0 turns the limit off
    server.apply_config(dataclasses.replace(server.config, accounts=AccountsSection(login_burst=0)))
    assert plain(PASSWORD, "198.51.100.6") == "903"


def test_register_a_custom_account_name() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice")
    alice.send(f"REGISTER Wonderland * {PASSWORD}")
    assert [m.command for m in alice.messages()] == ["900", "REGISTER"]
    assert alice.session.user.account == "Wonderland"


def test_register_before_connecting() -> None:
    server = server_with_accounts()
    client = Client(server)
    client.send("CAP LS 302", "NICK alice", "USER u 0 * :Real Name")
    client.lines()
    client.send(f"REGISTER * * {PASSWORD}")
    assert [m.command for m in client.messages()] == ["900", "REGISTER"]
    client.send("CAP END")
    assert client.commands()[0] == "001"
    assert client.session.user.account == "alice"


def test_register_needs_a_nick_first() -> None:
    server = server_with_accounts()
    client = Client(server)
    client.send("CAP LS 302")
    client.lines()
    client.send(f"REGISTER * * {PASSWORD}", f"REGISTER alice * {PASSWORD}")
    assert [f[:3] for f in fails(client)] == [("REGISTER", "NEED_NICK", "*")] * 2


def test_register_refusals() -> None:
    server = server_with_accounts()
    add_account(server, "Taken")
    bob = Client(server).register("bob")
    for line, code in [
        (f"REGISTER taken * {PASSWORD}", "ACCOUNT_EXISTS"),
        (f"REGISTER TAKEN * {PASSWORD}", "ACCOUNT_EXISTS"),
        (f"REGISTER #chan * {PASSWORD}", "BAD_ACCOUNT_NAME"),
        (f"REGISTER 9lives * {PASSWORD}", "BAD_ACCOUNT_NAME"),
        (f"REGISTER nickSERV * {PASSWORD}", "BAD_ACCOUNT_NAME"),  # (a service's name)
        ("REGISTER * * short", "WEAK_PASSWORD"),
        ("REGISTER * * :" + "x" * 301, "UNACCEPTABLE_PASSWORD"),
        (f"REGISTER * not-an-address {PASSWORD}", "INVALID_EMAIL"),
    ]:
        bob.send(line)
        [fail] = fails(bob)
        assert fail[:2] == ("REGISTER", code), line
    assert bob.session.user.account is None
    bob.send("REGISTER * *")
    assert bob.commands() == ["461"]


def test_register_when_logged_in() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}")
    alice.lines()
    alice.send(f"REGISTER other * {PASSWORD}")
    assert fails(alice) == [
        ("REGISTER", "ALREADY_AUTHENTICATED", "alice", "You are already logged in")
    ]


def test_register_answers_only_after_the_write() -> None:
    server = server_with_accounts()
    jobs = defer(server)
    alice = Client(server).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}", "PING later")
    assert alice.lines() == []  # nothing before the commit, and the PING waits its turn
    assert service(server).storage.get_account(server.fold("alice")) is None
    jobs.run()
    assert [m.command for m in alice.messages()] == ["900", "REGISTER", "PONG"]
    assert service(server).storage.get_account(server.fold("alice")) is not None


def test_two_clients_racing_for_one_name() -> None:
    server = server_with_accounts()
    jobs = defer(server)
    first = Client(server).register("first")
    second = Client(server).register("second")
    first.send(f"REGISTER prize * {PASSWORD}")
    second.send(f"REGISTER prize * {PASSWORD}")
    assert fails(second)[0][:3] == ("REGISTER", "ACCOUNT_EXISTS", "prize")
    jobs.run()
    assert [m.command for m in first.messages()] == ["900", "REGISTER"]


def test_register_when_the_database_fails() -> None:
    server = server_with_accounts()
    service(server).storage.close()
    alice = Client(server).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}")
    assert fails(alice)[0][:3] == ("REGISTER", "TEMPORARILY_UNAVAILABLE", "alice")
    assert alice.session.user.account is None
    assert not service(server).taken(server, "alice")  # a later attempt may succeed


def test_register_without_storage() -> None:
    alice = Client(make_server()).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}")
    assert fails(alice)[0][:2] == ("REGISTER", "TEMPORARILY_UNAVAILABLE")


def test_labeled_register_keeps_its_label() -> None:
    server = server_with_accounts()
    jobs = defer(server)
    alice = Client(server).register("alice", caps="labeled-response batch")
    alice.send(f"@label=r1 REGISTER * * {PASSWORD}")
    assert alice.lines() == []
    jobs.run()
    msgs = alice.messages()
    assert msgs[0].command == "BATCH"
    assert msgs[0].tags.get("label") == "r1"
    assert [m.command for m in msgs[1:3]] == ["900", "REGISTER"]


def test_server_password_forbids_early_registration() -> None:
    base = make_server()
    config = dataclasses.replace(base.config, auth=AuthSection(password="letmein"))
    server = Server(config, clock=base.clock)
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    client = Client(server)
    client.send("CAP LS 302")
    text = " ".join(m.params[-1] for m in client.messages()).split()
    assert "draft/account-registration=custom-account-name" in text
    client.send("NICK alice", f"REGISTER * * {PASSWORD}")
    assert fails(client)[0][:2] == ("REGISTER", "COMPLETE_CONNECTION_REQUIRED")


def test_verify_has_nothing_to_verify() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice")
    alice.send("VERIFY alice 123456")
    assert fails(alice)[0][:3] == ("VERIFY", "INVALID_CODE", "alice")
    alice.send(f"REGISTER * * {PASSWORD}")
    alice.lines()
    alice.send("VERIFY alice 123456")
    assert fails(alice)[0][:2] == ("VERIFY", "ALREADY_AUTHENTICATED")


def test_accounts_load_from_storage() -> None:
    server = server_with_accounts()
    add_account(server, "Alice")
    storage = service(server).storage
    fresh = AccountService(storage)
    fresh.load(storage.list_accounts(), server.fold)
    record = fresh.find(server, "ALICE")
    assert record is not None
    assert record.name == "Alice"


# -- what others see -------------------------------------------------------------------------


def test_account_notify_on_login_and_logout() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice", caps="account-notify")
    bob = Client(server).register("bob", caps="account-notify")
    carol = Client(server).register("carol")
    dave = Client(server).register("dave", caps="account-notify")  # shares no channel
    for client in (alice, bob, carol):
        client.send("JOIN #room")
    for client in (alice, bob, carol, dave):
        client.lines()
    alice.send(f"REGISTER * * {PASSWORD}")
    assert [m.command for m in alice.messages()] == ["900", "ACCOUNT", "REGISTER"]
    [seen] = bob.messages()
    assert (seen.source, seen.command, seen.params) == (f"alice!~u@{HOST}", "ACCOUNT", ("alice",))
    assert carol.lines() == []
    assert dave.lines() == []
    alice.send("NS LOGOUT")
    # (the second notice: alice is now on a registered nick without being logged in to it)
    assert [m.command for m in alice.messages()] == ["901", "ACCOUNT", "NOTICE", "NOTICE"]
    [seen] = bob.messages()
    assert (seen.command, seen.params) == ("ACCOUNT", ("*",))
    assert alice.session.user.account is None


def test_account_tag_and_extended_join_and_whois() -> None:
    server = server_with_accounts()
    add_account(server, "Alice")
    bob = Client(server).register("bob", caps="account-tag extended-join")
    carol = Client(server).register("carol")
    for client in (bob, carol):
        client.send("JOIN #room")
    bob.lines()
    carol.lines()
    alice = Client(server).register("alice")
    alice.send(f"NS IDENTIFY {PASSWORD}", "JOIN #room", "PRIVMSG #room :hi")
    alice.lines()
    join, privmsg = bob.messages()
    assert join.params == ("#room", "Alice", "Real Name")
    assert privmsg.tags == {"account": "Alice"}
    join, privmsg = carol.messages()
    assert join.params == ("#room",)
    assert privmsg.tags == {}
    bob.send("WHOIS alice")
    whois = {m.command: m.params for m in bob.messages()}
    assert whois["330"][1:3] == ("alice", "Alice")


# -- NickServ --------------------------------------------------------------------------------


def notices(client: Client) -> list[str]:
    return [m.params[1] for m in client.messages() if m.command == "NOTICE"]


def test_nickserv_register_identify_info_password() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice")
    alice.send(f"NS REGISTER {PASSWORD} alice@example.org")
    msgs = alice.messages()
    assert [m.command for m in msgs] == ["900", "NOTICE"]
    assert (msgs[1].source or "").startswith("NickServ!NickServ@")
    assert "registered" in msgs[1].params[1]
    alice.send("NS INFO")
    info = notices(alice)
    assert info[0].startswith("Account alice, registered ")
    assert "E-mail: alice@example.org" in info
    assert "Logged in now: alice" in info
    alice.send("NS PASSWORD :new password")
    assert notices(alice) == ["Syntax: PASSWORD <new password>"]
    alice.send("NS PASSWORD newpassword1")
    assert notices(alice) == ["Password changed."]
    alice.send("NS LOGOUT")
    alice.lines()
    alice.send(f"NS IDENTIFY {PASSWORD}")
    assert notices(alice) == ["Invalid account name or password."]
    alice.send("NICKSERV IDENTIFY alice newpassword1")
    assert [m.command for m in alice.messages()] == ["900", "NOTICE"]
    stored = service(server).storage.get_account(server.fold("alice"))
    assert stored is not None
    assert check_password(stored.password_hash, "newpassword1")


def test_nickserv_identify_to_another_account() -> None:
    server = server_with_accounts()
    add_account(server, "main")
    alt = Client(server).register("alt")
    alt.send(f"NS IDENTIFY main {PASSWORD}")
    assert [m.command for m in alt.messages()] == ["900", "NOTICE"]
    assert alt.session.user.account == "main"
    alt.send("NS INFO nobody")
    assert notices(alt) == ["nobody is not a registered account."]
    bob = Client(server).register("bob")
    bob.send("NS INFO main")
    info = notices(bob)
    assert info[0].startswith("Account main")
    assert not any("E-mail" in line for line in info)


def test_nickserv_refusals_and_help() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    alice = Client(server).register("alice")
    alice.send("NS REGISTER")
    assert notices(alice) == ["Syntax: REGISTER <password> [email]"]
    alice.send(f"NS REGISTER {PASSWORD}")
    assert "exists" in notices(alice)[0]
    alice.send("NS REGISTER short")
    assert "exists" in notices(alice)[0]  # the name is checked first
    bob = Client(server).register("bob")
    bob.send("NS REGISTER short")
    assert "at least" in notices(bob)[0]
    bob.send("NS IDENTIFY a b c")
    assert notices(bob) == ["Syntax: IDENTIFY [account] <password>"]
    bob.send("NS LOGOUT")
    assert notices(bob) == ["You are not logged in."]
    bob.send("NS PASSWORD newpassword1")
    assert notices(bob) == ["Log in first."]
    bob.send("NS FROB")
    assert notices(bob) == ["Unknown command FROB. Try HELP."]
    bob.send("NS HELP")
    assert len(notices(bob)) > 3
    bob.send("NS")
    assert len(notices(bob)) > 3


def test_nickserv_needs_registration() -> None:
    server = server_with_accounts()
    client = Client(server)
    client.send("NS HELP")
    assert client.commands() == ["451"]


def test_privmsg_nickserv_handler() -> None:
    server = server_with_accounts()
    alice = Client(server).register("alice")
    msg = Message("PRIVMSG", ("NickServ", f"register {PASSWORD}"))
    reply = Response(alice.session, server.name, None)
    handle_service_message(Context(server, alice.session, msg, reply), f"register {PASSWORD}")
    reply.flush()
    assert [m.command for m in alice.messages()] == ["900", "NOTICE"]
    assert alice.session.user.account == "alice"


def test_nickserv_without_storage() -> None:
    alice = Client(make_server()).register("alice")
    alice.send("NS HELP")
    assert notices(alice) == ["Accounts are not available on this server."]


# -- the account policy ([accounts]) ---------------------------------------------------------


def with_policy(server: Server, **accounts: Any) -> Server:
    """``server`` with its ``[accounts]`` section replaced, as REHASH applies a new config."""
    server.apply_config(dataclasses.replace(server.config, accounts=AccountsSection(**accounts)))
    return server


def cap_ls(client: Client) -> list[str]:
    client.send("CAP LS 302")
    return " ".join(m.params[-1] for m in client.messages() if m.command == "CAP").split()


def test_the_minimum_password_length_is_configurable() -> None:
    server = with_policy(server_with_accounts(), password_min_length=12)
    alice = Client(server).register("alice")
    alice.send("REGISTER * * elevenchars")
    assert fails(alice)[0][:4] == (
        "REGISTER",
        "WEAK_PASSWORD",
        "alice",
        "Passwords are at least 12 characters long",
    )
    alice.send("NS REGISTER elevenchars")
    assert notices(alice) == ["Cannot register alice: Passwords are at least 12 characters long."]
    alice.send("REGISTER * * twelve-chars")
    assert [m.command for m in alice.messages()] == ["900", "REGISTER"]
    alice.send("NS PASSWORD elevenchars")
    assert notices(alice) == [
        "Cannot use that password: Passwords are at least 12 characters long."
    ]
    with_policy(server, password_min_length=1)
    alice.send("NS PASSWORD x")
    assert notices(alice) == ["Password changed."]


def test_registration_open_is_the_default_and_allows_before_connect() -> None:
    server = server_with_accounts()
    assert server.config.accounts.registration == "open"
    client = Client(server)
    assert "draft/account-registration=before-connect,custom-account-name" in cap_ls(client)


def test_registration_after_connect_only() -> None:
    server = with_policy(server_with_accounts(), registration="after-connect")
    client = Client(server)
    assert "draft/account-registration=custom-account-name" in cap_ls(client)
    client.send("NICK alice", "USER u 0 * :Real Name")
    client.messages()
    client.send(f"REGISTER * * {PASSWORD}")
    assert fails(client) == [
        ("REGISTER", "COMPLETE_CONNECTION_REQUIRED", "alice", "Register after connecting")
    ]
    client.send("CAP END")
    assert client.commands()[0] == "001"
    client.send(f"REGISTER * * {PASSWORD}")
    assert [m.command for m in client.messages()] == ["900", "REGISTER"]


def test_registration_closed() -> None:
    server = with_policy(server_with_accounts(), registration="closed")
    add_account(server, "old")
    client = Client(server)
    caps = cap_ls(client)
    assert not [cap for cap in caps if cap.startswith("draft/account-registration")]
    assert "sasl=PLAIN,SCRAM-SHA-256" in caps  # logging in still works
    client.send("NICK alice", "USER u 0 * :Real Name", "CAP END")
    client.messages()
    client.send(f"REGISTER * * {PASSWORD}")
    assert fails(client) == [
        (
            "REGISTER",
            "TEMPORARILY_UNAVAILABLE",
            "alice",
            "Account registration is closed on this server",
        )
    ]
    client.send(f"NS REGISTER {PASSWORD}")
    assert notices(client) == ["Account registration is closed on this server."]
    assert client.session.user.account is None
    assert service(server).find(server, "alice") is None
    client.send(f"NS IDENTIFY old {PASSWORD}")
    assert client.session.user.account == "old"


def test_a_rehash_that_closes_registration_tells_cap_notify_clients() -> None:
    server = server_with_accounts()
    modern = Client(server)
    modern.send("CAP LS 302", "CAP REQ :draft/account-registration", "NICK modern")
    modern.send("USER u 0 * :R", "CAP END")
    old = Client(server).register("old")
    modern.messages()
    with_policy(server, registration="closed")
    [deleted] = modern.messages()
    assert (deleted.command, deleted.params) == (
        "CAP",
        ("modern", "DEL", "draft/account-registration"),
    )
    modern.send("CAP LIST")
    assert "draft/account-registration" not in modern.messages()[0].params[-1]
    assert old.lines() == []  # no cap-notify, no CAP DEL
    with_policy(server, registration="after-connect")
    [new] = modern.messages()
    assert new.params == ("modern", "NEW", "draft/account-registration=custom-account-name")
    with_policy(server, registration="open")
    assert modern.lines() == []  # only the value changed: it is offered all along


def test_a_cap_302_client_cannot_turn_cap_notify_off() -> None:
    """CAP LS 302 implies cap-notify, and the spec forbids disabling it then: the whole
    request is refused (NAK), and the client still hears CAP DEL."""
    server = server_with_accounts()
    modern = Client(server)
    modern.send("CAP LS 302", "CAP REQ :draft/account-registration", "NICK modern")
    modern.send("USER u 0 * :R", "CAP END")
    modern.messages()
    for request in ("-cap-notify", "multi-prefix -cap-notify"):
        modern.send(f"CAP REQ :{request}")
        assert [(m.command, m.params) for m in modern.messages()] == [
            ("CAP", ("modern", "NAK", request))
        ]
    modern.send("CAP LIST")
    listed = modern.messages()[0].params[-1].split()
    assert "cap-notify" in listed
    assert "multi-prefix" not in listed  # (all or nothing)
    with_policy(server, registration="closed")
    assert [m.params for m in modern.messages()] == [
        ("modern", "DEL", "draft/account-registration")
    ]
    old = Client(server)
    old.send("CAP LS", "CAP REQ :cap-notify", "CAP REQ :-cap-notify")  # before 302: it may
    assert [m.params[1:] for m in old.messages() if m.command == "CAP"][-2:] == [
        ("ACK", "cap-notify"),
        ("ACK", "-cap-notify"),
    ]


def test_a_server_password_set_by_rehash_withdraws_before_connect() -> None:
    server = server_with_accounts()
    server.apply_config(dataclasses.replace(server.config, auth=AuthSection(password="letmein")))
    assert "draft/account-registration=custom-account-name" in cap_ls(Client(server))


# -- accounts changed behind the server's back (``hubbub account`` on the file) ----------------


def oper_server_with_accounts() -> Server:
    """A harness server with accounts (SQLite in memory) and the operator admin/secret."""
    config = dataclasses.replace(
        make_server().config, opers=(OperSection(name="admin", password="secret"),)
    )
    server = Server(config, clock=FakeClock(), host=TestHost())
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    return server


def stored_only(server: Server, name: str, password: str = PASSWORD) -> AccountRecord:
    """An account written to the database alone, as ``hubbub account create`` does."""
    password_hash, scram = hash_password(password), make_scram_credentials(password)
    record = AccountRecord(name, server.fold(name), password_hash, scram, server.clock() + 1)
    assert service(server).storage.create_account(record)
    return record


def test_rehash_reloads_the_accounts_changed_in_the_database() -> None:
    server = oper_server_with_accounts()
    storage = service(server).storage
    add_account(server, "dana")
    add_account(server, "erin")
    ircop = Client(server).register("ircop")
    ircop.send("OPER admin secret")
    dee, peer = (
        Client(server).register("dee", "account-notify"),
        Client(server).register("peer", "account-notify"),
    )
    for client in (dee, peer):
        client.send("JOIN #room")
    dee.send(f"NS IDENTIFY dana {PASSWORD}")
    fay = Client(server).register("fay")
    for client in (ircop, dee, peer, fay):
        client.lines()
    # hubbub account on the file: create fay, delete dana, reset erin's password.
    stored_only(server, "fay", "fays-password")
    assert storage.delete_account(server.fold("dana"))
    new_hash, new_scram = hash_password("erins-new-pass"), make_scram_credentials("erins-new-pass")
    assert storage.set_password(server.fold("erin"), new_hash, new_scram)
    # Nothing changes for the running server until REHASH.
    assert service(server).find(server, "fay") is None
    assert service(server).find(server, "dana") is not None
    assert dee.session.user.account == "dana"

    got = ask(ircop, "REHASH")
    assert got[0] == ("382", ("ircop", "*", "Rehashing"))
    [snotice] = [p[-1] for c, p in got if c == "NOTICE"]
    assert snotice == (
        "*** Reloaded the accounts from the database: 2 accounts (1 new, 1 deleted, "
        "1 changed); logged out: dee"
    )
    # dana is gone: its session is logged out, as the admin API's delete does it.
    assert dee.session.user.account is None
    got_dee = dee.messages()
    assert [m.command for m in got_dee][:2] == ["901", "ACCOUNT"]
    assert any("The account dana was deleted" in m.params[-1] for m in got_dee)
    assert [(m.command, m.params) for m in peer.messages()] == [("ACCOUNT", ("*",))]
    # fay exists: whoever is on the nick is told to log in, and can.
    assert any("registered to the account fay" in text for text in notices(fay))
    fay.send("NS IDENTIFY fays-password")
    assert fay.session.user.account == "fay"
    # erin's new password works, the old one no longer does.
    erin = Client(server).register("erin")
    erin.send(f"NS IDENTIFY {PASSWORD}")
    assert erin.session.user.account is None
    erin.send("NS IDENTIFY erins-new-pass")
    assert erin.session.user.account == "erin"
    assert set(service(server).records) == {server.fold("erin"), server.fold("fay")}


def test_a_reload_keeps_what_the_server_wrote_while_it_read() -> None:
    """The reload's read can predate a write the server finishes before the reload does:
    the server's own write wins (it is the newer), nothing is undone or logged out."""
    server = server_with_accounts()
    gone = add_account(server, "gone")
    answers: list[tuple[Callable[[Any], None], Any]] = []

    def work_now_answer_later(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        answers.append((done, work()))

    host_of(server).run = work_now_answer_later
    reloaded: list[tuple[str | None, bool]] = []
    reload_accounts(server, lambda *told: reloaded.append(told))  # reads now: gone, no alice
    alice = Client(server).register("alice")
    alice.send(f"REGISTER * * {PASSWORD}")  # stored now
    service(server).delete(server, gone, lambda outcome: None)  # deleted now
    for done, result in reversed(answers):  # the writes are answered first, the reload last
        done(result)
    assert reloaded == [(None, False)]  # nothing changed behind the server's back
    assert alice.session.user.account == "alice"
    assert "901" not in alice.commands()
    assert set(service(server).records) == {server.fold("alice")}


def test_register_of_a_name_only_in_the_database_is_account_exists() -> None:
    server = server_with_accounts()
    stored_only(server, "dana", "danas-password")
    dana = Client(server).register("dana")
    dana.send(f"REGISTER * * {PASSWORD}")
    assert fails(dana) == [
        ("REGISTER", "ACCOUNT_EXISTS", "dana", "An account with that name exists")
    ]
    assert dana.session.user.account is None
    # The server has learnt the account: the next attempt is refused at once, and the
    # account's owner can log in to it.
    dana.send(f"NS REGISTER {PASSWORD}")
    assert notices(dana) == ["Cannot register dana: An account with that name already exists."]
    dana.send("NS IDENTIFY danas-password")
    assert dana.session.user.account == "dana"


def test_nickserv_register_of_a_name_only_in_the_database() -> None:
    server = server_with_accounts()
    stored_only(server, "dana")
    dana = Client(server).register("dana")
    dana.send(f"NS REGISTER {PASSWORD}")
    assert notices(dana) == ["Cannot register dana: an account with that name exists."]
    assert dana.session.user.account is None
