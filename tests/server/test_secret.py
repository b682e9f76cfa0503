"""A secret (+s) channel is, to a user who is not in it, a channel that does not exist.

The walk goes over the whole command table: every command that takes a channel name is sent
by an outsider once with the secret channel's name and once with a name no channel has, and
the replies must be the same once the names are swapped. A command added to the table later
fails :func:`test_every_command_is_walked` until it is walked or listed as taking no channel.
"""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.config import LimitsSection, OperSection, default_config
from hubbub.server.core import Server
from tests.server.harness import Client, FakeClock, make_server, replies

SECRET = "#secret"
MISSING = "#missing"

WALK: dict[str, list[str]] = {
    "MODE": [
        "MODE {c}",
        "MODE {c} b",
        "MODE {c} e",
        "MODE {c} I",
        "MODE {c} beIbbb",
        "MODE {c} +b nobody!*@*",
        "MODE {c} -b alice!*@*",
        "MODE {c} +o outsider",
        "MODE {c} -o alice",
        "MODE {c} -s",
        "MODE {c} +i",
        "MODE {c} +l 5",
        "MODE {c} -l",
        "MODE {c} +k key",
        "MODE {c} +z",
    ],
    "TOPIC": ["TOPIC {c}", "TOPIC {c} :new topic", "TOPIC {c} :"],
    "NAMES": ["NAMES {c}", "NAMES {c},#other"],
    "LIST": ["LIST {c}", "LIST {c},#other", "LIST >0", "LIST"],
    "WHO": ["WHO {c}", "WHO {c} o", "WHO {c} %cnuf,42"],
    "PART": ["PART {c}", "PART {c} :bye", "PART {c},#nowhere"],
    "KICK": ["KICK {c} alice", "KICK {c} outsider :go", "KICK {c} nobody"],
    "INVITE": ["INVITE outsider {c}", "INVITE alice {c}", "INVITE nobody {c}"],
    "PRIVMSG": [
        "PRIVMSG {c} :hi",
        "PRIVMSG @{c} :hi",
        "PRIVMSG +{c} :hi",
        "PRIVMSG nobody,{c} :hi",
    ],
    "NOTICE": ["NOTICE {c} :hi", "NOTICE @{c} :hi"],
    "TAGMSG": ["@+typing=active TAGMSG {c}", "@+typing=active TAGMSG @{c}"],
    # (without storage ChanServ answers alike; test_chanserv_plugin walks it with storage)
    "CHANSERV": ["CHANSERV INFO {c}", "CHANSERV REGISTER {c}"],
    "CS": ["CS OP {c}", "CS ACCESS {c} LIST"],
    "SAMODE": ["SAMODE {c} +o outsider", "SAMODE {c} b"],  # (481 for all but IRC operators)
}
"""Lines that name a channel, with ``{c}`` where the name goes."""

SKIPPED = {
    "JOIN": "joining a channel is allowed, and its refusals (+k, +i, +b) show that it exists",
    "BATCH": "takes several lines: test_multiline.py::test_a_secret_channel_answers_as_missing",
}
"""Commands that take a channel but are not walked, and why."""

NO_CHANNEL = {
    # registration and connection
    "PASS",
    "NICK",
    "USER",
    "CAP",
    "PING",
    "PONG",
    "QUIT",
    "WEBIRC",
    # about oneself or other users
    "AWAY",
    "SETNAME",
    "WHOIS",  # its channel list: test_whois_of_a_member_hides_the_secret_channel
    "WHOWAS",
    "USERHOST",
    "ISON",
    "MONITOR",
    # about the server
    "VERSION",
    "TIME",
    "STATS",
    "ADMIN",
    "INFO",
    "LINKS",
    "LUSERS",
    "MOTD",
    "HELP",
    "HELPOP",
    # operators, accounts
    "OPER",
    "KILL",
    "WALLOPS",
    "REHASH",
    "CHGHOST",
    "AUTHENTICATE",
    "REGISTER",
    "VERIFY",
    "NICKSERV",
    "NS",
}
"""Commands that take no channel name."""


def test_every_command_is_walked() -> None:
    commands = make_server().commands  # (the built-in table and the built-in plugins')
    unknown = set(commands) - set(WALK) - set(SKIPPED) - NO_CHANNEL
    assert not unknown, f"say whether these take a channel name: {sorted(unknown)}"
    assert not (set(WALK) | set(SKIPPED) | NO_CHANNEL) - set(commands)


def outsider_lines() -> list[str]:
    return [line for lines in WALK.values() for line in lines]


@pytest.fixture(params=["+s", "+s-n", "+sik key", "+sm"])
def setup(request: pytest.FixtureRequest) -> tuple[Server, Client, Client]:
    """alice is in #Secret (with the modes of the parameter, a ban, an exception, a topic);
    outsider is in #other only."""
    server = make_server()
    alice = Client(server).register("alice")
    alice.send(
        "JOIN #Secret",
        "TOPIC #Secret :the plans",
        "MODE #Secret +b evil!*@*",
        "MODE #Secret +e alice!*@*",
        f"MODE #Secret {request.param}",
    )
    outsider = Client(server).register("outsider")
    outsider.send("JOIN #other")
    alice.messages()
    outsider.messages()
    return server, alice, outsider


def answer(client: Client, line: str, name: str) -> list[tuple[str, tuple[str, ...]]]:
    """The replies to ``line`` with ``name`` for ``{c}``, with ``name`` written ``{c}``."""
    client.messages()
    client.send(line.format(c=name))
    return [
        (command, tuple(p.replace(name, "{c}") for p in params))
        for command, params in replies(client)
    ]


@pytest.mark.parametrize("line", outsider_lines())
def test_a_secret_channel_answers_as_a_missing_one(
    setup: tuple[Server, Client, Client], line: str
) -> None:
    server, alice, outsider = setup
    members_before = {m.nick for m in server.network.channels[server.fold(SECRET)].members}
    got_missing = answer(outsider, line, MISSING)
    got_secret = answer(outsider, line, SECRET)  # (the channel is called #Secret)
    assert got_secret == got_missing
    assert not alice.messages()  # nothing reached the channel
    channel = server.network.channels[server.fold(SECRET)]
    assert {m.nick for m in channel.members} == members_before


def test_a_member_still_sees_it(setup: tuple[Server, Client, Client]) -> None:
    _, alice, _ = setup
    alice.messages()
    alice.send("MODE #secret", "TOPIC #secret")
    assert [m.command for m in alice.messages()] == ["324", "329", "332", "333"]


def test_an_operator_sees_it() -> None:
    config = dataclasses.replace(
        default_config(),
        opers=(OperSection(name="admin", password="pw"),),
        limits=LimitsSection(flood=False),
    )
    server = Server(config, clock=FakeClock())
    Client(server).register("alice").send("JOIN #secret", "MODE #secret +s")
    oper = Client(server).register("oper")
    oper.send("OPER admin pw")
    oper.messages()
    oper.send("MODE #secret", "TOPIC #secret")
    assert [m.command for m in oper.messages()] == ["324", "329", "331"]


def test_whois_of_a_member_hides_the_secret_channel(
    setup: tuple[Server, Client, Client],
) -> None:
    _, _, outsider = setup
    outsider.messages()
    outsider.send("WHOIS alice")
    assert all("ecret" not in " ".join(m.params) for m in outsider.messages())
