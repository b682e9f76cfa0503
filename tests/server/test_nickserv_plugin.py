"""NickServ as a plugin: its service user answers what is sent to it, and it adds NICKSERV and
NS, on a harness server with accounts and the fake network layer.

Until the network layer is in, the built-in table keeps NICKSERV and NS and the PRIVMSG
handler keeps sending ``PRIVMSG NickServ`` to the same code (tests/server/test_accounts.py and
test_nick_protection.py test that path); here the two commands are taken out of the table
first, as they will be then, so that the plugin can add them.
"""

from __future__ import annotations

from hubbub.plugins import nickserv
from hubbub.server.core import Server
from hubbub.server.events import Relayed
from hubbub.server.user import User
from tests.server.accounthelpers import add_account, defer, server_with_accounts
from tests.server.harness import Client, replies
from tests.server.pluginhelpers import Plugged

PASSWORD = "correct-horse"


def plugged_nickserv(server: Server | None = None) -> Plugged:
    server = server if server is not None else server_with_accounts()
    for name in nickserv.COMMANDS:
        del server.commands[name]  # (the network layer's merge takes them out of the table)
    plugged = Plugged(server)
    assert plugged.load() == []
    return plugged


def connect(plugged: Plugged, nick: str) -> tuple[Client, User]:
    """A client of the harness server, and its user on the fake network."""
    client = Client(plugged.server).register(nick)
    return client, plugged.network.add_user(nick, session=client.session)


def nickserv_user(plugged: Plugged) -> User:
    user = plugged.network.find_user("nickserv")
    assert user is not None
    return user


def notices(client: Client) -> list[str]:
    return [p[1] for c, p in replies(client) if c == "NOTICE"]


def test_nickserv_is_a_service_user_with_its_commands() -> None:
    plugged = plugged_nickserv()
    user = nickserv_user(plugged)
    assert user.prefix == f"NickServ!NickServ@services.{plugged.server.name}"
    assert user.session is None
    assert user.service is not None
    assert list(plugged.manager.plugins) == ["hubbub.plugins.nickserv"]
    client, _ = connect(plugged, "alice")
    client.send("NS HELP")
    assert notices(client)[0] == "NickServ keeps accounts. Commands:"
    plugged.manager.unload_all()
    assert plugged.network.find_user("NickServ") is None
    client.send("NS HELP")
    assert [c for c, _ in replies(client)] == ["421"]


def test_a_message_to_nickserv_is_answered_to_its_sender() -> None:
    plugged = plugged_nickserv()
    client, alice = connect(plugged, "alice")
    service = nickserv_user(plugged)
    plugged.network.relay(alice, "PRIVMSG", service, f"REGISTER {PASSWORD}")
    msgs = client.messages()
    assert [m.command for m in msgs] == ["900", "NOTICE"]
    assert msgs[1].source == service.prefix
    assert msgs[1].params == ("alice", "Account alice registered; you are logged in.")
    assert client.session.account == "alice"
    plugged.network.relay(alice, "NOTICE", service, "LOGOUT")  # a NOTICE is never answered
    assert replies(client) == []
    assert client.session.account == "alice"
    plugged.network.relay(alice, "PRIVMSG", service, "LOGOUT")
    got = replies(client)
    assert [c for c, _ in got] == ["901", "NOTICE", "NOTICE"]
    assert got[1][1][1] == "You are now logged out."
    assert "is registered to the account alice" in got[2][1][1]  # (nick protection)


def test_a_password_check_holds_the_senders_next_lines() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    plugged = plugged_nickserv(server)
    client, alice = connect(plugged, "alice")
    client.messages()
    jobs = defer(server)
    plugged.network.relay(alice, "PRIVMSG", nickserv_user(plugged), f"IDENTIFY {PASSWORD}")
    assert client.session.checking_password
    client.send("PING :after")
    assert replies(client) == []  # held until the password is checked
    assert jobs.run() == 1
    assert [c for c, _ in replies(client)] == ["900", "NOTICE", "PONG"]
    assert client.session.account == "alice"


def test_lines_that_came_together_wait_for_a_password_check() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    plugged = plugged_nickserv(server)
    client, alice = connect(plugged, "alice")
    client.messages()
    jobs = defer(server)
    block = Relayed(
        alice,
        "PRIVMSG",
        nickserv_user(plugged),
        "NickServ",
        "",
        ("1", "2"),
        server.clock(),
        {},
        f":{alice.prefix} PRIVMSG NickServ :IDENTIFY {PASSWORD}\r\n"
        f":{alice.prefix} PRIVMSG NickServ :INFO\r\n".encode(),
    )
    nickserv.answer_message(server, block)
    assert notices(client) == ["Wait for the answer to your last command, then try again."]
    jobs.run()
    assert notices(client) == ["You are now identified as alice."]


def test_nickserv_ignores_users_it_cannot_answer() -> None:
    plugged = plugged_nickserv()
    bot = plugged.network.add_user("bot")  # no connection here (a service, a remote user)
    plugged.network.relay(bot, "PRIVMSG", nickserv_user(plugged), "HELP")
    assert plugged.network.said("NickServ") == []


def test_nickserv_is_kept_across_a_rehash() -> None:
    plugged = plugged_nickserv()
    user = nickserv_user(plugged)
    events = len(plugged.network.events)
    assert plugged.load() == []
    assert nickserv_user(plugged) is user
    assert len(plugged.network.events) == events  # no quit, no new registration


def test_no_nickserv_without_accounts() -> None:
    plugged = Plugged()
    assert plugged.load() == []
    assert plugged.network.find_user("NickServ") is None
