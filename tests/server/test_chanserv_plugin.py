"""ChanServ (hubbub.plugins.chanserv), built into every server: registering channels, what a
registered channel keeps and gets back when it is created again, the access list, status on
request and on joining, the history setting, and what it says when it cannot."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hubbub.protocol.casemap import Folded
from hubbub.server.channel import Channel
from hubbub.server.chanregistry import ChannelRegistry
from hubbub.server.core import Server
from hubbub.storage import SqliteStorage
from hubbub.storage.base import ChannelRecord
from tests.server.accounthelpers import add_account, defer, server_with_accounts, service
from tests.server.harness import Client, ask, make_server, replies

CS = "ChanServ"


def server_with_chanserv(**limits: Any) -> Server:
    """A harness server with accounts and registered channels in one in-memory database (as
    the application sets them up when it opens the database)."""
    server = server_with_accounts(**limits)
    server.channel_registry = ChannelRegistry(storage_of(server))
    return server


def storage_of(server: Server) -> SqliteStorage:
    storage = service(server).storage
    assert isinstance(storage, SqliteStorage)
    return storage


def stored(server: Server, name: str) -> ChannelRecord | None:
    """The registration of ``name`` as the database has it."""
    found = [r for r in storage_of(server).list_channels() if r.folded == Folded(name.lower())]
    return found[0] if found else None


def channel_of(server: Server, name: str) -> Channel:
    channel = server.find_channel(name)
    assert channel is not None, name
    return channel


def logged_in(server: Server, nick: str, account: str | None = None) -> Client:
    """A registered client ``nick`` logged in to ``account`` (``nick`` by default), which
    exists."""
    client = Client(server).register(nick)
    name = account or nick
    if service(server).find(server, name) is None:
        add_account(server, name)
    server.network.set_account(client.session.user, name)
    client.messages()
    return client


def notices(client: Client) -> list[str]:
    """The texts of the NOTICEs from ChanServ since last asked."""
    return [
        m.params[1]
        for m in client.messages()
        if m.command == "NOTICE" and (m.source or "").startswith(f"{CS}!")
    ]


def cs(client: Client, line: str) -> list[str]:
    """ChanServ's answer to one line sent to it."""
    client.messages()
    client.send(f"PRIVMSG ChanServ :{line}")
    return notices(client)


def members(server: Server, name: str) -> dict[str, str]:
    """Nick -> prefix modes of the members of ``name``."""
    return {user.nick: modes for user, modes in channel_of(server, name).members.items()}


@pytest.fixture
def server() -> Server:
    return server_with_chanserv()


@pytest.fixture
def alice(server: Server) -> Client:
    """alice, logged in, operator of #chat, which she registered."""
    alice = logged_in(server, "alice")
    alice.send("JOIN #chat")
    assert cs(alice, "REGISTER #chat") == ["#chat is now registered to alice."]
    return alice


def empty(server: Server, *clients: Client, name: str = "#chat") -> None:
    """Everyone leaves ``name``: it ceases to exist."""
    for client in clients:
        client.send(f"PART {name}")
        client.messages()
    assert server.find_channel(name) is None


# -- the service -------------------------------------------------------------------------------


def test_chanserv_is_a_built_in_service_with_its_commands(server: Server) -> None:
    user = server.find_user("chanserv")
    assert user is not None
    assert user.prefix == f"ChanServ!ChanServ@services.{server.name}"
    assert "hubbub.plugins.chanserv" in server.plugins.plugins
    client = Client(server).register("bob")
    client.messages()
    for line in ("CS HELP", "CHANSERV HELP", "PRIVMSG ChanServ :HELP"):
        client.send(line)
        assert notices(client)[0] == "ChanServ keeps registered channels. Commands:"
    assert cs(client, "FLY #chat") == ["Unknown command FLY. Try HELP."]
    client.send("NOTICE ChanServ :REGISTER #chat")  # a NOTICE is never answered
    assert replies(client) == []


def test_without_storage_registration_is_not_available() -> None:
    server = make_server()
    client = Client(server).register("bob")
    client.send("JOIN #chat")
    assert cs(client, "REGISTER #chat") == ["Channel registration is not available on this server."]
    assert cs(client, "HELP")[0] == "ChanServ keeps registered channels. Commands:"


# -- REGISTER ----------------------------------------------------------------------------------


def test_register_makes_the_account_founder_and_stores_the_channel(server: Server) -> None:
    alice = logged_in(server, "alice", "Alice")
    alice.send("JOIN #Chat", "TOPIC #Chat :all welcome", "MODE #Chat +k sesame")
    assert cs(alice, "REGISTER #chat") == ["#Chat is now registered to Alice."]
    record = stored(server, "#chat")
    assert record is not None
    assert (record.name, record.founder, record.topic, record.key) == (
        "#Chat",
        "alice",
        "all welcome",
        "sesame",
    )
    assert record.topic_setter.startswith("alice!")
    assert record.modes == "nt"  # (flag modes only: the key is kept on its own)
    assert cs(alice, "REGISTER #chat") == ["#Chat is already registered."]


def test_register_needs_a_login_and_operator_status(server: Server) -> None:
    guest = Client(server).register("guest")
    guest.send("JOIN #chat")
    assert cs(guest, "REGISTER #chat") == ["Log in to register a channel (see /msg NickServ HELP)."]
    bob = logged_in(server, "bob")
    assert cs(bob, "REGISTER #chat") == ["Join #chat first: you register it as its operator."]
    bob.send("JOIN #chat")
    assert cs(bob, "REGISTER #chat") == ["You must be a channel operator of #chat."]
    assert cs(bob, "REGISTER") == ["Syntax: REGISTER <#channel>"]
    assert cs(bob, "REGISTER chat") == ["Syntax: REGISTER <#channel>"]
    assert stored(server, "#chat") is None


def test_an_account_registers_a_bounded_number_of_channels() -> None:
    server = server_with_chanserv(max_registered_channels=2)
    alice = logged_in(server, "alice")
    alice.send("JOIN #a,#b,#c")
    assert cs(alice, "REGISTER #a") == ["#a is now registered to alice."]
    assert cs(alice, "REGISTER #b") == ["#b is now registered to alice."]
    assert cs(alice, "REGISTER #c") == ["Your account has registered 2 channels, the most allowed."]


def test_register_answers_once_the_database_has_it(server: Server) -> None:
    alice = logged_in(server, "alice")
    alice.send("JOIN #chat")
    alice.messages()
    jobs = defer(server)
    alice.send("PRIVMSG ChanServ :REGISTER #chat", "PING :after")
    assert replies(alice) == []  # held until the write is done
    assert stored(server, "#chat") is None
    assert jobs.run() == 1
    assert [(c, p[-1]) for c, p in replies(alice)] == [
        ("NOTICE", "#chat is now registered to alice."),
        ("PONG", "after"),
    ]
    assert stored(server, "#chat") is not None


def test_a_database_that_fails_refuses_the_registration(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    alice = logged_in(server, "alice")
    alice.send("JOIN #chat")
    storage_of(server).close()
    caplog.set_level(logging.ERROR, logger="hubbub")
    assert cs(alice, "REGISTER #chat") == ["Could not store the registration; try again later."]
    assert cs(alice, "INFO #chat") == ["#chat is not registered."]
    # one line says why (as accounts and history do), not a traceback
    failures = [r for r in caplog.records if "registration of #chat" in r.getMessage()]
    assert failures
    assert all(r.exc_info is None for r in failures)


# -- what is kept, and brought back ------------------------------------------------------------


def test_the_setters_echo_of_a_kept_change_waits_for_the_write(
    server: Server, alice: Client
) -> None:
    """A durability audit: TOPIC and MODE on a registered channel were echoed before they
    were written, and a ``kill -9`` then lost changes their setter had seen confirmed. The
    setter hears nothing more until the write has ended; the other members hear at once."""
    bob = Client(server).register("bob")
    bob.send("JOIN #chat")
    alice.messages()
    bob.messages()
    jobs = defer(server)
    alice.send("TOPIC #chat :kept", "MODE #chat +l 5", "PING :after")
    assert replies(alice) == []
    assert [c for c, _ in replies(bob)] == ["TOPIC", "MODE"]
    record = stored(server, "#chat")
    assert record is not None
    assert record.topic != "kept"
    while jobs.run():
        pass
    assert [c for c, _ in replies(alice)] == ["TOPIC", "MODE", "PONG"]
    record = stored(server, "#chat")
    assert record is not None
    assert (record.topic, record.limit) == ("kept", 5)
    # a change that is not kept (status) is not held
    alice.send("MODE #chat +v bob")
    assert [c for c, _ in replies(alice)] == ["MODE"]


def test_changes_to_a_registered_channel_are_kept(server: Server, alice: Client) -> None:
    alice.send(
        "TOPIC #chat :the topic",
        "MODE #chat +imkl sesame 10",
        "MODE #chat +beI *!*@bad.example a:friend a:*",
        "MODE #chat +b m:a:loud",
        "MODE #chat +o alice",  # (status is not kept)
    )
    record = stored(server, "#chat")
    assert record is not None
    assert (record.topic, record.modes, record.key, record.limit) == (
        "the topic",
        "imnt",
        "sesame",
        10,
    )
    assert record.bans == ("*!*@bad.example", "m:a:loud")
    assert (record.excepts, record.invexes) == (("a:friend",), ("a:*",))
    alice.send("MODE #chat -imklb * *!*@bad.example")  # (-k takes a parameter)
    record = stored(server, "#chat")
    assert record is not None
    assert (record.modes, record.key, record.limit, record.bans) == ("nt", "", 0, ("m:a:loud",))


def test_a_registered_channel_comes_back_as_it_was_kept(server: Server, alice: Client) -> None:
    alice.send("TOPIC #chat :kept topic", "MODE #chat +sl 7", "MODE #chat +b *!*@bad.example")
    empty(server, alice)
    bob = Client(server).register("bob")  # not on the access list
    bob.messages()
    bob.send("JOIN #Chat")
    joined = replies(bob)
    assert joined[0] == ("JOIN", ("#chat",))  # (the name as registered)
    assert joined[1] == ("332", ("bob", "#chat", "kept topic"))
    assert joined[2][0] == "333"
    assert joined[2][1][2].startswith("alice!")
    assert ("353", ("bob", "@", "#chat", "bob")) in joined  # no operator status
    assert members(server, "#chat") == {"bob": ""}
    assert ask(bob, "MODE #chat")[0] == ("324", ("bob", "#chat", "+nstl", "7"))
    banlist = ask(bob, "MODE #chat +b")
    assert banlist[0][1][2:4] == ("*!*@bad.example", CS)


def test_the_kept_key_and_bans_apply_to_whoever_brings_the_channel_back(
    server: Server, alice: Client
) -> None:
    alice.send("MODE #chat +k sesame", "MODE #chat +b a:spammer")
    empty(server, alice)
    spammer = logged_in(server, "spammer")
    bob = Client(server).register("bob")
    assert ask(bob, "JOIN #chat") == [("475", ("bob", "#chat", "Cannot join channel (+k)"))]
    assert server.find_channel("#chat") is None  # (refused: nothing was made)
    assert ask(spammer, "JOIN #chat sesame") == [
        ("474", ("spammer", "#chat", "Cannot join channel (+b)"))
    ]
    assert "JOIN" in [c for c, _ in ask(bob, "JOIN #chat sesame")]


def test_the_founder_bringing_it_back_is_its_operator(server: Server, alice: Client) -> None:
    empty(server, alice)
    alice.send("JOIN #chat")
    assert members(server, "#chat") == {"alice": "o"}
    assert "MODE" not in [c for c, _ in replies(alice)]  # (operator from the start)


def test_registrations_are_loaded_again_after_a_restart(server: Server, alice: Client) -> None:
    alice.send("TOPIC #chat :survives", "MODE #chat +m")
    storage = storage_of(server)
    restarted = server_with_accounts()  # a new server on the same database
    registry = ChannelRegistry(storage)
    registry.load(storage.list_channels())
    restarted.channel_registry = registry
    bob = Client(restarted).register("bob")
    bob.send("JOIN #chat")
    assert ("332", ("bob", "#chat", "survives")) in replies(bob)
    assert "m" in channel_of(restarted, "#chat").flags


# -- access --------------------------------------------------------------------------------------


def test_the_access_list_gives_status_on_joining(server: Server, alice: Client) -> None:
    bob, carol = logged_in(server, "bob"), logged_in(server, "carol")
    assert cs(alice, "ACCESS #chat ADD Bob op") == ["bob is now on the access list of #chat as op."]
    assert cs(alice, "ACCESS #chat ADD carol VOICE") == [
        "carol is now on the access list of #chat as voice."
    ]
    bob.send("JOIN #chat")
    modes = [m for m in bob.messages() if m.command == "MODE"]
    assert [(m.source or "").split("!")[0] for m in modes] == [CS]
    assert modes[0].params == ("#chat", "+o", "bob")
    carol.send("JOIN #chat")
    assert members(server, "#chat") == {"alice": "o", "bob": "o", "carol": "v"}
    record = stored(server, "#chat")
    assert record is not None
    assert record.access == (("bob", "op"), ("carol", "voice"))
    assert cs(bob, "ACCESS #chat LIST") == [
        "Access list of #chat:",
        "alice founder",
        "bob op",
        "carol voice",
        "End of the access list (3).",
    ]


def test_the_first_on_the_list_to_bring_the_channel_back_gets_its_status(
    server: Server, alice: Client
) -> None:
    bob = logged_in(server, "bob")
    cs(alice, "ACCESS #chat ADD bob voice")
    empty(server, alice)
    bob.send("JOIN #chat")
    assert members(server, "#chat") == {"bob": "v"}
    assert ("353", ("bob", "=", "#chat", "+bob")) in replies(bob)


def test_logging_in_in_a_registered_channel_gives_status(server: Server, alice: Client) -> None:
    add_account(server, "bob")
    cs(alice, "ACCESS #chat ADD bob op")
    bob = Client(server).register("bob")
    bob.send("JOIN #chat")
    assert members(server, "#chat")["bob"] == ""
    server.network.set_account(bob.session.user, "bob")
    assert members(server, "#chat")["bob"] == "o"


def test_adding_someone_already_in_the_channel_gives_status_now(
    server: Server, alice: Client
) -> None:
    bob = logged_in(server, "bob")
    bob.send("JOIN #chat")
    cs(alice, "ACCESS #chat ADD bob voice")
    assert members(server, "#chat")["bob"] == "v"


def test_only_the_founder_changes_the_access_list(server: Server, alice: Client) -> None:
    bob = logged_in(server, "bob")
    cs(alice, "ACCESS #chat ADD bob op")
    assert cs(bob, "ACCESS #chat ADD alice voice") == [
        "Only the founder of #chat may change its access list."
    ]
    assert cs(alice, "ACCESS #chat ADD nobody op") == ["There is no account called nobody."]
    assert cs(alice, "ACCESS #chat ADD alice op") == ["alice is the founder of #chat."]
    assert cs(alice, "ACCESS #chat ADD bob admin")[0].startswith("Syntax: ACCESS")
    assert cs(alice, "ACCESS #chat DEL carol") == ["carol is not on the access list of #chat."]
    assert cs(alice, "ACCESS #chat DEL BOB") == ["BOB is no longer on the access list of #chat."]
    assert cs(bob, "ACCESS #chat LIST") == ["You are not on the access list of #chat."]
    stranger = Client(server).register("stranger")
    assert cs(stranger, "ACCESS #nowhere LIST") == ["#nowhere is not registered."]


def test_the_access_list_is_bounded() -> None:
    server = server_with_chanserv(max_access_entries=2)
    alice = logged_in(server, "alice")
    alice.send("JOIN #chat", "PRIVMSG ChanServ :REGISTER #chat")
    for name in ("bob", "carol", "dave"):
        add_account(server, name)
    cs(alice, "ACCESS #chat ADD bob op")
    cs(alice, "ACCESS #chat ADD carol op")
    assert cs(alice, "ACCESS #chat ADD dave op") == [
        "The access list of #chat is full (2 entries)."
    ]
    assert cs(alice, "ACCESS #chat ADD carol voice") == [  # (a change of level: not a new one)
        "carol is now on the access list of #chat as voice."
    ]


# -- status on request ---------------------------------------------------------------------------


def test_op_deop_voice_devoice(server: Server, alice: Client) -> None:
    bob, carol = logged_in(server, "bob"), logged_in(server, "carol")
    cs(alice, "ACCESS #chat ADD bob op")
    cs(alice, "ACCESS #chat ADD carol voice")
    alice.send("MODE #chat -o alice")
    assert cs(alice, "OP #chat") == []  # the founder: the MODE line is the answer
    assert members(server, "#chat")["alice"] == "o"
    carol.send("JOIN #chat")
    assert members(server, "#chat")["carol"] == "v"
    assert cs(carol, "DEVOICE #chat") == []  # anyone may step down
    assert cs(carol, "VOICE #chat") == []  # the voice level voices itself
    assert members(server, "#chat")["carol"] == "v"
    assert cs(carol, "OP #chat") == ["You do not have the access to OP in #chat."]
    assert cs(bob, "OP #chat carol") == ["Gave operator status to carol."]  # (not a member)
    assert members(server, "#chat")["carol"] == "ov"
    assert cs(bob, "DEOP #chat carol") == ["Took operator status from carol."]
    assert cs(bob, "DEOP #chat carol") == ["carol does not have +o in #chat."]
    assert cs(alice, "OP #chat alice") == ["alice has +o in #chat."]
    # The list's operators do not take the founder's status through ChanServ; the founder
    # takes theirs.
    assert cs(bob, "DEOP #chat alice") == ["alice is the founder of #chat."]
    assert cs(bob, "DEVOICE #chat alice") == ["alice is the founder of #chat."]
    assert members(server, "#chat")["alice"] == "o"
    assert cs(alice, "OP #chat carol") == []
    assert cs(alice, "DEOP #chat carol") == []
    assert members(server, "#chat")["carol"] == "v"
    assert cs(alice, "OP #chat nobody") == ["nobody is not in #chat."]
    assert cs(alice, "OP #chat alice extra") == ["Syntax: OP <#channel> [nick]"]


def test_status_of_an_empty_channel(server: Server, alice: Client) -> None:
    empty(server, alice)
    assert cs(alice, "OP #chat") == ["Nobody is in #chat."]


# -- SET HISTORY, INFO, DROP ---------------------------------------------------------------------


def test_the_history_setting_is_kept_and_brought_back(server: Server, alice: Client) -> None:
    assert cs(alice, "SET #chat HISTORY public") == ["History of #chat: public."]
    assert channel_of(server, "#chat").history == "public"
    record = stored(server, "#chat")
    assert record is not None
    assert record.history == "public"
    empty(server, alice)
    Client(server).register("bob").send("JOIN #chat")
    assert channel_of(server, "#chat").history == "public"
    syntax = "Syntax: SET <#channel> HISTORY <default|on|public|off>"
    assert cs(alice, "SET #chat HISTORY sometimes") == [syntax]
    assert cs(alice, "SET #chat") == [syntax]
    stranger = logged_in(server, "stranger")
    assert cs(stranger, "SET #chat HISTORY off") == [
        "Only the founder and operators of #chat may change that."
    ]


def test_info(server: Server, alice: Client) -> None:
    bob = Client(server).register("bob")
    answer = cs(bob, "INFO #CHAT")
    assert answer == [
        "#chat is registered to alice since 2023-11-14 22:13:20 UTC.",
        "History: default",
    ]
    assert cs(alice, "INFO #chat")[-1] == "Your access: founder"
    assert cs(bob, "INFO #other") == ["#other is not registered."]


def test_a_registered_secret_channel_is_not_revealed(server: Server, alice: Client) -> None:
    alice.send("MODE #chat +s")
    outsider = logged_in(server, "outsider")
    for line in ("INFO {}", "OP {}", "ACCESS {} LIST", "DROP {}", "SET {} HISTORY on"):
        secret, missing = cs(outsider, line.format("#chat")), cs(outsider, line.format("#none"))
        assert secret == [t.replace("#none", "#chat") for t in missing], line
    assert cs(alice, "INFO #chat")[0].startswith("#chat is registered")


def test_drop_by_the_founder_or_an_operator(server: Server, alice: Client) -> None:
    cs(alice, "SET #chat HISTORY off")
    bob = logged_in(server, "bob")
    assert cs(bob, "DROP #chat") == ["Only the founder of #chat (or an IRC operator) may drop it."]
    assert cs(alice, "DROP #chat") == ["#chat is no longer registered."]
    assert stored(server, "#chat") is None
    assert channel_of(server, "#chat").history == "default"
    cs(alice, "REGISTER #chat")
    bob.session.user.modes += "o"  # (an IRC operator)
    assert cs(bob, "DROP #chat") == ["#chat is no longer registered."]
    empty(server, alice)
    bob.send("JOIN #chat")  # no longer registered: the creator is its operator
    assert members(server, "#chat") == {"bob": "o"}


def test_a_deleted_account_leaves_its_channels_and_access_to_nobody(
    server: Server, alice: Client
) -> None:
    """Whoever registers the name next is another account: it inherits neither the
    founding of a channel nor an access entry (a second history audit found it did)."""
    logged_in(server, "bob")
    alice.send("JOIN #other")
    assert cs(alice, "REGISTER #other") == ["#other is now registered to alice."]
    carol = logged_in(server, "carol")
    carol.send("JOIN #carols")
    assert cs(carol, "REGISTER #carols") == ["#carols is now registered to carol."]
    assert cs(carol, "ACCESS #carols ADD alice op") == [
        "alice is now on the access list of #carols as op."
    ]
    accounts = service(server)
    record = accounts.find(server, "alice")
    assert record is not None
    done: list[object] = []
    accounts.delete(server, record, done.append)
    assert done
    registry = server.channel_registry
    assert registry is not None
    assert registry.get(Folded("#chat")) is None
    assert registry.get(Folded("#other")) is None
    assert stored(server, "#chat") is None
    carols = registry.get(Folded("#carols"))
    assert carols is not None
    assert carols.access == ()
    stored_carols = stored(server, "#carols")
    assert stored_carols is not None
    assert stored_carols.access == ()


def test_a_deleted_account_leaves_its_exceptions_to_nobody_and_keeps_its_bans(
    server: Server, alice: Client
) -> None:
    """``+e``/``+I`` entries naming a deleted account go (the name's next owner, a stranger,
    would pass them), announced by the server; ``+b a:name`` stays (dropping the account
    and registering it again must not lift a ban), as do masks that match more names."""
    bob = logged_in(server, "bob")
    bob.send("JOIN #chat")
    bob.messages()
    alice.send("MODE #chat +eeIb a:BOB m:a:bob a:bob a:bob")
    alice.send("MODE #chat +e a:bo*")
    alice.messages()
    accounts = service(server)
    record = accounts.find(server, "bob")
    assert record is not None
    done: list[object] = []
    accounts.delete(server, record, done.append)
    assert done
    announced = [m for m in alice.messages() if m.command == "MODE"]
    assert [(m.source, m.params) for m in announced] == [
        (server.name, ("#chat", "-eeI", "a:BOB", "m:a:bob", "a:bob"))
    ]
    channel = channel_of(server, "#chat")
    assert [e.mask for e in channel.lists["b"]] == ["a:bob"]
    assert [e.mask for e in channel.lists["e"]] == ["a:bo*"]
    assert channel.lists["I"] == ()
    saved = stored(server, "#chat")  # (registered: its lists are kept without the entries)
    assert saved is not None
    assert (saved.bans, saved.excepts, saved.invexes) == (("a:bob",), ("a:bo*",), ())


def test_no_account_may_be_called_after_a_service(server: Server) -> None:
    """An account called ChanServ would put `account=ChanServ` on its owner's lines and in
    WHOIS (an audit registered one)."""
    mallory = Client(server).register("mallory")
    mallory.send("REGISTER ChanServ * correct-horse-battery")
    [fail] = [m.params for m in mallory.messages() if m.command == "FAIL"]
    assert fail[:3] == ("REGISTER", "BAD_ACCOUNT_NAME", "ChanServ")
