"""Connection registration over real sockets: PASS, NICK, USER, CAP, PING, QUIT, the welcome burst.

Written from https://modern.ircdocs.horse/#connection-registration and the numerics section of
the same document; CAP from https://ircv3.net/specs/extensions/capability-negotiation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from hubbub.config import AuthSection, Config
from tests.conftest import make_config
from tests.e2e.conformance import (
    HOST,
    SERVER_NAME,
    Net,
    commands,
    drain,
    isupport,
    mask,
    only,
    reply_to,
)


def with_server(**server: Any) -> Config:
    config = make_config()
    return dataclasses.replace(config, server=dataclasses.replace(config.server, **server))


# -- the welcome burst -------------------------------------------------------------------------


async def test_welcome_burst_order_and_formats(net: Net) -> None:
    client = await net.raw()
    await client.send("NICK alice", "USER user 0 * :Alice Liddell")
    burst = await client.collect_until("376")
    cmds = commands(burst)
    # 001-004 first, in order, then 005(s), LUSERS, MOTD (Modern IRC, connection registration).
    assert cmds[:4] == ["001", "002", "003", "004"], cmds
    assert cmds[4] == "005"
    assert cmds.index("251") > max(i for i, c in enumerate(cmds) if c == "005")
    assert cmds.index("375") > cmds.index("251")
    for m in burst:
        assert m.source == SERVER_NAME, m
        assert m.params[0] == "alice", m
    welcome = burst[0]
    # "<client> :Welcome to the <networkname> Network, <nick>[!<user>@<host>]"
    assert len(welcome.params) == 2
    assert welcome.params[1].startswith("Welcome to the hubbub Network, alice"), welcome
    # "<client> :Your host is <servername>, running version <version>"
    assert len(burst[1].params) == 2
    assert burst[1].params[1].startswith(f"Your host is {SERVER_NAME}, running version ")
    assert len(burst[2].params) == 2
    assert burst[2].params[1].startswith("This server was created ")
    # "<client> <servername> <version> <available user modes> <available channel modes>
    #  [<channel modes with a parameter>]"
    myinfo = burst[3]
    assert 5 <= len(myinfo.params) <= 6, myinfo
    assert myinfo.params[1] == SERVER_NAME
    assert set("iow") <= set(myinfo.params[3])
    assert set("beIiklmnostv") <= set(myinfo.params[4])


async def test_welcome_contains_full_mask(net: Net) -> None:
    burst = await (await net.raw()).register("alice")
    assert burst[0].params[1].endswith(mask("alice")), burst[0]


async def test_isupport_lines(net: Net) -> None:
    client = await net.raw()
    burst = await client.register("alice")
    lines = only(burst, "005")
    for line in lines:
        # "<client> <1-13 tokens> :are supported by this server"
        assert line.params[-1] == "are supported by this server"
        assert 1 <= len(line.params) - 2 <= 13, line
        assert len(line.serialize().encode()) + 2 <= 512
    tokens = isupport(burst)
    names = [t.partition("=")[0] for m in lines for t in m.params[1:-1]]
    assert len(names) == len(set(names)), "an ISUPPORT token is sent twice"
    assert tokens["CASEMAPPING"] == "rfc1459"
    assert tokens["CHANTYPES"] == "#"
    assert tokens["NETWORK"] == "hubbub"
    assert tokens["PREFIX"] == "(ov)@+"
    chanmodes = tokens["CHANMODES"]
    assert chanmodes is not None
    groups = chanmodes.split(",")
    assert len(groups) == 4
    assert set(groups[0]) == set("beI")
    assert "k" in groups[1]
    assert "l" in groups[2]
    assert set("imnst") <= set(groups[3])
    for name in ("NICKLEN", "CHANNELLEN", "TOPICLEN", "KICKLEN", "AWAYLEN", "MODES"):
        value = tokens[name]
        assert value is not None, name
        assert value.isdigit(), (name, value)
    assert tokens["EXCEPTS"] == "e"
    assert tokens["INVEX"] == "I"
    assert tokens["STATUSMSG"] == "@+"
    assert tokens["BOT"] == "B"
    assert "UTF8ONLY" in tokens
    assert "WHOX" in tokens
    assert tokens["MONITOR"] is not None
    assert tokens["ELIST"] == "CMNTU"
    targmax = dict(t.partition(":")[::2] for t in (tokens["TARGMAX"] or "").split(","))
    assert targmax["KICK"] == targmax["PRIVMSG"] == "4"


async def test_motd_from_config(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(with_server(motd="first line\nsecond line", name="irc.example.org"))
    async with Net(app) as net:
        burst = await (await net.raw()).register("alice")
        motd = [m for m in burst if m.command in ("375", "372", "376")]
        assert commands(motd) == ["375", "372", "372", "376"]
        # "<client> :- <server> Message of the day - "
        assert motd[0].params[1].startswith("- irc.example.org Message of the day")
        assert [m.params[1] for m in motd[1:3]] == ["- first line", "- second line"]
        assert motd[0].source == "irc.example.org"


async def test_no_motd_gives_422(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(with_server(motd=""))
    async with Net(app) as net:
        burst = await (await net.raw()).register("alice")
        assert burst[-1].command == "422"
        assert "375" not in commands(burst)
        client = net.clients[0]
        got = await reply_to(client, "MOTD")
        assert commands(got) == ["422"]


# -- NICK ---------------------------------------------------------------------------------------


async def test_nick_without_parameter_431(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "NICK")
    # ERR_NONICKNAMEGIVEN "<client> :No nickname given" (461 is tolerated by irctest too)
    assert commands(got)[:1] in (["431"], ["461"]), got


@pytest.mark.parametrize("bad", ["1abc", "#chan", "a:b", "-dash", "with,comma", "x" * 31])
async def test_erroneous_nickname_432(net: Net, bad: str) -> None:
    client = await net.raw()
    await client.send(f"NICK {bad}")
    msg = await client.expect("432")
    # "<client> <nick> :Erroneus nickname"
    assert msg.params[0] == "*"
    assert msg.params[1] == bad
    assert len(msg.params) == 3


async def test_nickname_in_use_433_before_registration(net: Net) -> None:
    await net.client("alice")
    client = await net.raw()
    await client.send("NICK alice")
    msg = await client.expect("433")
    assert msg.params[:2] == ("*", "alice")
    assert len(msg.params) == 3
    # registration can continue with another nick
    await client.send("NICK alice2", "USER user 0 * :x")
    welcome = await client.expect("001")
    assert welcome.params[0] == "alice2"


@pytest.mark.parametrize(("taken", "attempt"), [("alice", "ALICE"), ("abc[]", "ABC{}")])
async def test_nick_collision_uses_casemapping(net: Net, taken: str, attempt: str) -> None:
    await net.client(taken)
    client = await net.client("other")
    got = await reply_to(client, f"NICK {attempt}")
    assert commands(got) == ["433"], got
    assert got[0].params[:2] == ("other", attempt)


async def test_nick_change_seen_by_self_and_channel_peers(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    for c in (alice, bob):
        await c.send("JOIN #room")
        await c.expect("366")
    await drain(alice)
    await alice.send("NICK alicia")
    own = await alice.expect("NICK")
    assert own.source == mask("alice")
    assert own.params == ("alicia",)
    seen = await bob.expect("NICK")
    assert seen.source == mask("alice")
    assert seen.params == ("alicia",)
    # carol shares no channel with alice: she is not told
    await carol.assert_nothing_pending()
    # the old nick is free, the new one is taken
    got = await reply_to(carol, "NICK alicia")
    assert commands(got) == ["433"]
    got = await reply_to(carol, "NICK alice")
    assert commands(got) == ["NICK"]


async def test_nick_case_change_of_own_nick(net: Net) -> None:
    alice = await net.client("alice")
    await alice.send("NICK Alice")
    msg = await alice.expect("NICK")
    assert msg.params == ("Alice",)
    assert msg.source == mask("alice")


# -- USER, PASS and the registration gate --------------------------------------------------------


async def test_user_not_enough_parameters_461(net: Net) -> None:
    client = await net.raw()
    await client.send("USER onlyone")
    msg = await client.expect("461")
    # "<client> <command> :Not enough parameters"
    assert msg.params[:2] == ("*", "USER")
    assert len(msg.params) == 3


async def test_user_with_an_empty_realname_461(net: Net) -> None:
    client = await net.raw()
    await client.send("NICK alice", "USER user * * :")
    msg = await client.expect(lambda m: m.command in ("461", "001"))
    assert msg.command == "461"
    assert msg.params[:2] == ("alice", "USER")


async def test_user_name_without_usable_characters_gets_a_stand_in(net: Net) -> None:
    client = await net.raw()
    await client.send("NICK alice", "USER \U0001f60a\U0001f60a * * :Real Name")
    welcome = await client.expect(lambda m: m.command in ("001", "461", "468", "ERROR"))
    assert welcome.command == "001"
    await client.collect_until(lambda m: m.command in ("376", "422"))
    got = await reply_to(client, "WHOIS alice")
    whois = next(m for m in got if m.command == "311")
    assert whois.params[1:4] == ("alice", "~user", HOST)
    assert whois.params[-1] == "Real Name"


async def test_user_after_registration_462(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "USER again 0 * :Again")
    assert commands(got) == ["462"]
    # "<client> :You may not reregister"
    assert got[0].params[0] == "alice"
    assert len(got[0].params) == 2


async def test_pass_after_registration_462(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "PASS secret")
    assert commands(got) == ["462"]


@pytest.mark.parametrize("line", ["PRIVMSG bob :hi", "JOIN #chan", "MODE alice", "WHOIS alice"])
async def test_commands_before_registration_451(net: Net, line: str) -> None:
    client = await net.raw()
    await client.send("NICK alice", line)
    msg = await client.expect(lambda m: m.command in ("451", "001"))
    # ERR_NOTREGISTERED "<client> :You have not registered"
    assert msg.command == "451"
    assert msg.params[0] in ("*", "alice")


async def test_unknown_command_421(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "FROBNICATE now")
    assert commands(got) == ["421"]
    # "<client> <command> :Unknown command"
    assert got[0].params[:2] == ("alice", "FROBNICATE")
    assert len(got[0].params) == 3


async def test_commands_are_case_insensitive(net: Net) -> None:
    client = await net.client("alice")
    await client.send("join #lower")
    msg = await client.expect("JOIN")
    assert msg.params == ("#lower",)


async def test_user_before_nick_registers(net: Net) -> None:
    client = await net.raw()
    await client.send("USER user 0 * :Real Name", "NICK alice")
    msg = await client.expect("001")
    assert msg.params[0] == "alice"


async def test_server_password(app_factory: Callable[[Config], Any]) -> None:
    config = dataclasses.replace(make_config(), auth=AuthSection(password="letmein"))
    app = await app_factory(config)
    async with Net(app) as net:
        good = await net.raw()
        await good.send("PASS letmein", "NICK alice", "USER user 0 * :x")
        assert (await good.expect("001")).params[0] == "alice"

        bad = await net.raw()
        await bad.send("PASS wrong", "NICK bob", "USER user 0 * :x")
        # ERR_PASSWDMISMATCH "<client> :Password incorrect", then the connection closes
        msg = await bad.expect(lambda m: m.command in ("464", "001"))
        assert msg.command == "464"
        await bad.expect("ERROR")
        with pytest.raises(EOFError):
            await bad.read_message()

        missing = await net.raw()
        await missing.send("NICK carol", "USER user 0 * :x")
        msg = await missing.expect(lambda m: m.command in ("464", "001"))
        assert msg.command == "464"


# -- PING / PONG ---------------------------------------------------------------------------------


async def test_ping_pong(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "PING :some token here")
    assert commands(got) == ["PONG"]
    # "PONG [<server>] <token>"
    assert got[0].params[-1] == "some token here"
    assert got[0].source == SERVER_NAME


async def test_ping_without_token(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "PING")
    # ERR_NEEDMOREPARAMS, or ERR_NOORIGIN from the older RFCs
    assert commands(got) in (["461"], ["409"]), got


async def test_pong_from_client_is_silent(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "PONG :whatever")
    assert got == []


# -- CAP during registration -------------------------------------------------------------------


async def test_cap_ls_suspends_registration_until_cap_end(net: Net) -> None:
    client = await net.raw()
    await client.send("CAP LS", "NICK alice", "USER user 0 * :x")
    ls = await client.expect("CAP")
    assert ls.params[:2] == ("*", "LS")
    await client.assert_nothing_pending()  # no 001 before CAP END
    await client.send("CAP END")
    assert (await client.expect("001")).params[0] == "alice"


async def test_cap_ls_without_version_is_one_line_without_values(net: Net) -> None:
    client = await net.raw()
    got = await reply_to(client, "CAP LS")
    caps = only(got, "CAP")
    assert len(caps) == 1
    # "CAP * LS :<caps>" (version 301: no continuation "*" and no values)
    assert len(caps[0].params) == 3
    assert caps[0].params[:2] == ("*", "LS")
    assert "=" not in caps[0].params[2]


async def test_cap_req_during_registration(net: Net) -> None:
    client = await net.raw()
    await client.send("CAP REQ :multi-prefix", "NICK alice", "USER user 0 * :x")
    ack = await client.expect("CAP")
    assert ack.params[:2] == ("*", "ACK")
    assert ack.params[2].split() == ["multi-prefix"]
    await client.assert_nothing_pending()
    await client.send("CAP END")
    await client.expect("001")


async def test_cap_unknown_subcommand_410(net: Net) -> None:
    client = await net.raw()
    got = await reply_to(client, "CAP FOO")
    # ERR_INVALIDCAPCMD "<client> <command> :Invalid CAP command"
    assert commands(got) == ["410"]
    assert got[0].params[:2] == ("*", "FOO")


async def test_cap_end_after_registration_is_ignored(net: Net) -> None:
    client = await net.client("alice")
    assert await reply_to(client, "CAP END") == []


# -- QUIT ---------------------------------------------------------------------------------------


async def test_quit_registered_tells_peers_and_closes(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    for c in (alice, bob):
        await c.send("JOIN #room")
        await c.expect("366")
    await drain(alice)
    await bob.send("QUIT :gone fishing")
    error = await bob.expect("ERROR")
    assert error.params, error
    with pytest.raises(EOFError):
        await bob.read_message()
    quit_msg = await alice.expect("QUIT")
    assert quit_msg.source == mask("bob")
    assert len(quit_msg.params) == 1
    assert "gone fishing" in quit_msg.params[0]


async def test_quit_before_registration_errors_and_closes(net: Net) -> None:
    client = await net.raw()
    await client.send("QUIT")
    msg = await client.expect("ERROR")
    assert len(msg.params) == 1
    with pytest.raises(EOFError):
        await client.read_message()


async def test_hostname_in_masks_is_valid(net: Net) -> None:
    alice = await net.client("alice")
    await alice.send("JOIN #room")
    join = await alice.expect("JOIN")
    assert join.source is not None
    assert re.fullmatch(r"alice!~user@[0-9A-Za-z.:-]+", join.source)
