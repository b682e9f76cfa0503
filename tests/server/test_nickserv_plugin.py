"""NickServ as a plugin (hubbub.plugins.nickserv), built into every server: its service user
answers what is sent to it, and it adds NICKSERV and NS. (What NickServ says to each command
is tested in test_accounts.py and test_nick_protection.py.)"""

from __future__ import annotations

import pytest

from hubbub.server.events import Quit, Registered, Relayed
from hubbub.server.user import User
from tests.server.accounthelpers import add_account, defer, server_with_accounts
from tests.server.harness import Client, replies
from tests.server.pluginhelpers import Plugged

PASSWORD = "correct-horse"


def nickserv_user(plugged: Plugged) -> User:
    user = plugged.network.find_user("nickserv")
    assert user is not None
    return user


def notices(client: Client) -> list[str]:
    return [p[1] for c, p in replies(client) if c == "NOTICE"]


def test_nickserv_is_a_built_in_plugin_with_a_service_user_and_commands() -> None:
    plugged = Plugged(server_with_accounts())
    assert "hubbub.plugins.nickserv" in plugged.manager.plugins
    user = nickserv_user(plugged)
    assert user.prefix == f"NickServ!NickServ@services.{plugged.server.name}"
    assert user.session is None
    assert user.service is not None
    assert {"NICKSERV", "NS"} <= set(plugged.server.commands)
    client = plugged.client("alice")
    client.send("NS HELP")
    assert notices(client)[0] == "NickServ keeps accounts. Commands:"
    client.send("PRIVMSG NickServ :HELP")
    assert notices(client)[0] == "NickServ keeps accounts. Commands:"
    plugged.manager.unload_all()
    assert plugged.network.find_user("NickServ") is None
    client.send("NS HELP", "PRIVMSG NickServ :HELP")
    assert [c for c, _ in replies(client)] == ["421", "401"]


def test_a_message_to_nickserv_is_answered_to_its_sender() -> None:
    plugged = Plugged(server_with_accounts())
    client = plugged.client("alice")
    client.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    msgs = client.messages()
    assert [m.command for m in msgs] == ["900", "NOTICE"]
    assert msgs[1].source == nickserv_user(plugged).prefix
    assert msgs[1].params == ("alice", "Account alice registered; you are logged in.")
    assert client.session.user.account == "alice"
    client.send("NOTICE NickServ :LOGOUT")  # a NOTICE is never answered
    assert replies(client) == []
    assert client.session.user.account == "alice"


def test_a_password_check_holds_the_senders_next_lines() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    plugged = Plugged(server)
    client = plugged.client("alice")
    jobs = defer(server)
    client.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}", "PING :after")
    assert replies(client) == []  # held until the password is checked
    assert jobs.run() == 1
    assert [c for c, _ in replies(client)] == ["900", "NOTICE", "PONG"]
    assert client.session.user.account == "alice"


def test_lines_that_came_together_wait_for_a_password_check() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    plugged = Plugged(server)
    client = plugged.client("alice")
    alice = client.session.user
    jobs = defer(server)
    service = nickserv_user(plugged)
    wire = (
        f":{alice.prefix} PRIVMSG NickServ :IDENTIFY {PASSWORD}\r\n"
        f":{alice.prefix} PRIVMSG NickServ :INFO\r\n"
    ).encode()
    plugged.network.relay_wire(alice, "PRIVMSG", service, "NickServ", "", wire, 2)
    assert notices(client) == ["Wait for the answer to your last command, then try again."]
    jobs.run()
    assert notices(client) == ["You are now identified as alice."]


class Deaf:
    """A service that hears nothing."""

    def on_message(self, event: Relayed) -> None:
        pass


def test_nickserv_ignores_users_it_cannot_answer(caplog: pytest.LogCaptureFixture) -> None:
    plugged = Plugged(server_with_accounts())
    bot = plugged.network.add_service("Bot", Deaf(), "bots.test")  # no connection to answer
    plugged.network.relay(bot, "PRIVMSG", nickserv_user(plugged), "HELP")
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


def test_nickserv_stays_across_a_rehash_unless_its_table_changes() -> None:
    plugged = Plugged(server_with_accounts())
    user = nickserv_user(plugged)
    assert plugged.load() == []
    assert nickserv_user(plugged) is user
    assert plugged.events == []  # no quit, no new registration
    assert plugged.load(settings={"nickserv": {"anything": 1}}) == []
    assert [type(e) for e in plugged.events] == [Quit, Registered]
    assert plugged.manager.plugins["hubbub.plugins.nickserv"].api.config == {"anything": 1}


def test_nickserv_without_accounts_says_so() -> None:
    plugged = Plugged()
    client = plugged.client("alice")
    client.send("PRIVMSG NickServ :IDENTIFY secret")
    assert notices(client) == ["Accounts are not available on this server."]
