"""User and server queries over real sockets: WHO (and WHOX), WHOIS, WHOWAS, USERHOST, ISON,
VERSION, TIME, ADMIN, INFO, HELP, LUSERS, MOTD and MONITOR.

Written from https://modern.ircdocs.horse/#user-based-queries, #server-queries-and-commands,
https://ircv3.net/specs/extensions/whox and https://ircv3.net/specs/extensions/monitor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hubbub.config import Config
from tests.conftest import make_config
from tests.e2e.conformance import (
    HOST,
    SERVER_NAME,
    Net,
    commands,
    first,
    isupport,
    join,
    mask,
    only,
    reply_to,
)

# -- WHO ----------------------------------------------------------------------------------------


async def test_who_channel(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    got = await reply_to(bob, "WHO #room")
    assert commands(got) == ["352", "352", "315"]
    replies = {m.params[5]: m for m in got[:2]}
    # RPL_WHOREPLY "<client> <channel> <username> <host> <server> <nick> <flags>
    #               :<hopcount> <realname>"
    a = replies["alice"]
    assert a.params[:7] == ("bob", "#room", "~user", HOST, SERVER_NAME, "alice", "H@")
    assert a.params[7] == "0 Test User"
    assert replies["bob"].params[6] == "H"
    # RPL_ENDOFWHO "<client> <mask> :End of WHO list"
    assert got[2].params[:2] == ("bob", "#room")
    assert len(got[2].params) == 3


async def test_who_nick_and_away_flag(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await reply_to(bob, "AWAY :busy")
    got = await reply_to(alice, "WHO bob")
    assert commands(got) == ["352", "315"]
    reply = got[0]
    assert reply.params[1] == "*"  # no channel in common
    assert reply.params[5] == "bob"
    assert reply.params[6].startswith("G")  # gone
    assert got[1].params[:2] == ("alice", "bob")


async def test_who_mask(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bobby")
    await net.client("bobcat")
    got = await reply_to(alice, "WHO bob*")
    assert sorted(m.params[5] for m in only(got, "352")) == ["bobby", "bobcat"]
    assert got[-1].command == "315"
    assert got[-1].params[1] == "bob*"


async def test_who_hides_invisible_users_without_common_channel(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await reply_to(bob, "MODE bob +i")
    got = await reply_to(alice, "WHO *")
    assert "bob" not in [m.params[5] for m in only(got, "352")]
    await join("#room", alice, bob)
    got = await reply_to(alice, "WHO #room")
    assert "bob" in [m.params[5] for m in only(got, "352")]


async def test_who_unknown_target_ends_only(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHO #nowhere")
    assert commands(got) == ["315"]
    assert got[0].params[:2] == ("alice", "#nowhere")


async def test_whox_fields(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    got = await reply_to(alice, "WHO #room %tcuhsnfar,42")
    replies = only(got, "354")
    assert len(replies) == 2
    by_nick = {m.params[6]: m for m in replies}
    # RPL_WHOSPCRPL: fields in the fixed order t c u i h s n f d l a o r, only those asked for
    b = by_nick["bob"]
    assert b.params == (
        "alice",
        "42",
        "#room",
        "~user",
        HOST,
        SERVER_NAME,
        "bob",
        "H",
        "0",
        "Test User",
    )
    assert by_nick["alice"].params[7] == "H@"
    assert got[-1].command == "315"


async def test_whox_ip_and_hopcount(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHO alice %nid")
    reply = first(got, "354")
    assert reply.params == ("alice", "127.0.0.1", "alice", "0")  # her own address


# -- WHOIS --------------------------------------------------------------------------------------


async def test_whois(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", bob)
    await join("#other", alice, bob)
    got = await reply_to(alice, "WHOIS bob")
    assert got[-1].command == "318"
    # RPL_WHOISUSER "<client> <nick> <username> <host> * :<realname>"
    user = first(got, "311")
    assert user.params == ("alice", "bob", "~user", HOST, "*", "Test User")
    # RPL_WHOISSERVER "<client> <nick> <server> :<server info>"
    server = first(got, "312")
    assert server.params[:3] == ("alice", "bob", SERVER_NAME)
    # RPL_WHOISCHANNELS "<client> <nick> :[prefix]<channel>{ [prefix]<channel>}"
    chans = first(got, "319")
    assert chans.params[:2] == ("alice", "bob")
    assert set(chans.params[2].split()) == {"@#room", "#other"}
    # RPL_WHOISIDLE "<client> <nick> <secs> <signon> :seconds idle, signon time"
    idle = first(got, "317")
    assert idle.params[:2] == ("alice", "bob")
    assert idle.params[2].isdigit()
    assert idle.params[3].isdigit()
    # RPL_ENDOFWHOIS "<client> <nick> :End of /WHOIS list"
    assert got[-1].params[:2] == ("alice", "bob")
    assert first(got, "311") is got[0]


async def test_whois_with_server_parameter(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    got = await reply_to(alice, "WHOIS bob bob")
    assert "311" in commands(got)
    assert got[-1].command == "318"


async def test_whois_unknown_nick(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHOIS nobody")
    # ERR_NOSUCHNICK, optionally followed by RPL_ENDOFWHOIS
    assert commands(got) in (["401"], ["401", "318"]), got
    assert got[0].params[:2] == ("alice", "nobody")


async def test_whois_no_parameter(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHOIS")
    assert commands(got) in (["431"], ["461"]), got


async def test_whois_away_and_secret_channels(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#secret", bob)
    await reply_to(bob, "MODE #secret +s")
    await join("#public", bob)
    await reply_to(bob, "AWAY :lunch")
    got = await reply_to(alice, "WHOIS bob")
    away = first(got, "301")
    assert away.params == ("alice", "bob", "lunch")
    chans = first(got, "319").params[2].split()
    assert chans == ["@#public"]
    got = await reply_to(bob, "WHOIS bob")
    assert set(first(got, "319").params[2].split()) == {"@#public", "@#secret"}


async def test_whois_idle_time_counts_from_last_message(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHOIS alice")
    idle = first(got, "317")
    assert int(idle.params[2]) <= 2


# -- WHOWAS -------------------------------------------------------------------------------------


async def test_whowas(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await bob.send("QUIT :bye")
    await bob.expect("ERROR")
    got = await reply_to(alice, "WHOWAS bob")
    # RPL_WHOWASUSER "<client> <nick> <username> <host> * :<realname>"
    user = first(got, "314")
    assert user.params == ("alice", "bob", "~user", HOST, "*", "Test User")
    # RPL_ENDOFWHOWAS "<client> <nick> :End of WHOWAS"
    assert got[-1].command == "369"
    assert got[-1].params[:2] == ("alice", "bob")


async def test_whowas_after_nick_change(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await reply_to(bob, "NICK robert")
    got = await reply_to(alice, "WHOWAS bob")
    assert first(got, "314").params[1] == "bob"


async def test_whowas_unknown(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHOWAS nobody")
    # ERR_WASNOSUCHNICK "<client> <nick> :There was no such nickname", then RPL_ENDOFWHOWAS
    assert commands(got) == ["406", "369"]
    assert got[0].params[:2] == ("alice", "nobody")
    assert got[1].params[:2] == ("alice", "nobody")


async def test_whowas_no_parameter(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "WHOWAS")
    assert commands(got) in (["431"], ["461"]), got


# -- USERHOST / ISON ----------------------------------------------------------------------------


async def test_userhost(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await reply_to(bob, "AWAY :away")
    got = await reply_to(alice, "USERHOST alice bob nobody")
    # RPL_USERHOST "<client> :[<reply>{ <reply>}]", reply = nick['*']'='('+'|'-')hostname
    assert commands(got) == ["302"]
    assert got[0].params[0] == "alice"
    replies = got[0].params[1].split()
    assert sorted(replies) == sorted([f"alice=+~user@{HOST}", f"bob=-~user@{HOST}"])


async def test_userhost_needs_a_parameter(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "USERHOST")
    assert commands(got) == ["461"]


async def test_ison(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    got = await reply_to(alice, "ISON bob nobody alice")
    # RPL_ISON "<client> :[<nickname>{ <nickname>}]"
    assert commands(got) == ["303"]
    assert got[0].params[0] == "alice"
    assert sorted(got[0].params[1].split()) == ["alice", "bob"]
    got = await reply_to(alice, "ISON nobody")
    assert got[0].params[1:] in (("",), ())


# -- server queries -----------------------------------------------------------------------------


async def test_version(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "VERSION")
    # RPL_VERSION "<client> <version> <server> :<comments>", then RPL_ISUPPORT
    assert got[0].command == "351"
    assert got[0].params[0] == "alice"
    assert got[0].params[2] == SERVER_NAME
    assert len(got[0].params) == 4
    assert only(got, "005")
    assert set(commands(got)) == {"351", "005"}


async def test_time(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "TIME")
    # RPL_TIME "<client> <server> [<timestamp> [<TS offset>]] :<human-readable time>"
    assert commands(got) == ["391"]
    assert got[0].params[:2] == ("alice", SERVER_NAME)
    assert got[0].params[-1]


async def test_admin(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "ADMIN")
    assert commands(got) == ["256", "257", "258", "259"]
    assert all(m.params[0] == "alice" for m in got)


async def test_admin_other_server_402(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "ADMIN irc.elsewhere.example")
    # ERR_NOSUCHSERVER "<client> <server name> :No such server"
    assert commands(got) == ["402"]
    assert got[0].params[:2] == ("alice", "irc.elsewhere.example")


async def test_info(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "INFO")
    # RPL_INFO lines, then RPL_ENDOFINFO "<client> :End of INFO list"
    assert got[-1].command == "374"
    assert got[-1].params[0] == "alice"
    assert only(got, "371")
    assert set(commands(got)) == {"371", "374"}


async def test_help(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "HELP")
    # RPL_HELPSTART "<client> <subject> :<first line>", RPL_HELPTXT..., RPL_ENDOFHELP
    assert got[0].command == "704"
    assert got[-1].command == "706"
    assert all(m.command in ("704", "705", "706") for m in got)
    assert all(m.params[0] == "alice" and len(m.params) == 3 for m in got)
    got = await reply_to(alice, "HELP privmsg")
    assert got[0].command == "704"
    assert got[-1].command == "706"
    assert got[0].params[1].lower() == "privmsg"


async def test_help_unknown_subject_524(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "HELP nosuchthing")
    # ERR_HELPNOTFOUND "<client> <subject> :No help available on this topic"
    assert commands(got) == ["524"]
    assert got[0].params[:2] == ("alice", "nosuchthing")


async def test_lusers_counts(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await net.client("carol")
    await reply_to(bob, "MODE bob +i")
    await net.raw()  # an unregistered connection
    await join("#room", alice)
    await reply_to(alice, "PING :sync")
    got = await reply_to(alice, "LUSERS")
    cmds = commands(got)
    assert "251" in cmds
    assert "255" in cmds
    # RPL_LUSERCLIENT "<client> :There are <u> users and <i> invisible on <s> servers"
    client_line = first(got, "251").params[1]
    found = re.search(r"There are (\d+) users and (\d+) invisible on (\d+) servers", client_line)
    assert found is not None, client_line
    assert found.groups() == ("2", "1", "1")
    if "253" in cmds:  # RPL_LUSERUNKNOWN "<client> <connections> :unknown connection(s)"
        assert first(got, "253").params[1] == "1"
    if "254" in cmds:  # RPL_LUSERCHANNELS "<client> <channels> :channels formed"
        assert first(got, "254").params[1] == "1"
    # RPL_LUSERME "<client> :I have <c> clients and <s> servers"
    me = re.search(r"I have (\d+) clients and (\d+) servers", first(got, "255").params[1])
    assert me is not None
    assert me.group(1) == "3"
    if "265" in cmds:
        local = first(got, "265")
        if len(local.params) == 4:
            assert local.params[1] == "3"
            assert int(local.params[2]) >= 3


async def test_motd_command(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MOTD")
    assert got[0].command == "375"
    assert got[-1].command == "376"
    assert all(m.command == "372" for m in got[1:-1])
    assert all(m.params[0] == "alice" for m in got)


# -- MONITOR ------------------------------------------------------------------------------------


async def test_monitor_isupport(net: Net) -> None:
    burst = await (await net.raw()).register("alice")
    value = isupport(burst)["MONITOR"]
    assert value is not None
    assert value.isdigit()


async def test_monitor_online_offline(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    got = await reply_to(alice, "MONITOR + bob,carol")
    by_cmd = {m.command: m for m in got}
    # RPL_MONONLINE "<client> :target[!user@host][,target[!user@host]]*"
    assert by_cmd["730"].params == ("alice", mask("bob"))
    # RPL_MONOFFLINE "<client> :target[,target2]*"
    assert by_cmd["731"].params == ("alice", "carol")
    carol = await net.client("carol")
    msg = await alice.expect("730")
    assert msg.params == ("alice", mask("carol"))
    await carol.send("QUIT")
    msg = await alice.expect("731")
    assert msg.params == ("alice", "carol")


async def test_monitor_nick_change(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await reply_to(alice, "MONITOR + bob,robert")
    await bob.send("NICK robert")
    got = [await alice.expect(lambda m: m.command in ("730", "731")) for _ in range(2)]
    assert {(m.command, m.params[1]) for m in got} == {("731", "bob"), ("730", mask("robert"))}


async def test_monitor_list_status_remove_clear(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    await reply_to(alice, "MONITOR + bob,carol,dave")
    got = await reply_to(alice, "MONITOR L")
    # RPL_MONLIST "<client> :target[,target2]*", RPL_ENDOFMONLIST "<client> :End of MONITOR list"
    assert got[-1].command == "733"
    listed = {t.lower() for m in only(got, "732") for t in m.params[1].split(",")}
    assert listed == {"bob", "carol", "dave"}
    assert await reply_to(alice, "MONITOR - carol") == []
    got = await reply_to(alice, "MONITOR S")
    online = [t for m in only(got, "730") for t in m.params[1].split(",")]
    offline = [t.lower() for m in only(got, "731") for t in m.params[1].split(",")]
    assert online == [mask("bob")]
    assert offline == ["dave"]
    assert await reply_to(alice, "MONITOR C") == []
    got = await reply_to(alice, "MONITOR L")
    assert commands(got) == ["733"]


async def test_monitor_list_full_734(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(monitor=2))
    async with Net(app) as net:
        alice = await net.client("alice")
        got = await reply_to(alice, "MONITOR + a1,a2,a3")
        # ERR_MONLISTFULL "<client> <limit> <targets> :Monitor list is full."
        full = first(got, "734")
        assert full.params[:2] == ("alice", "2")
        assert "a3" in full.params[2].split(",")


async def test_monitor_needs_parameters(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MONITOR")
    assert commands(got) == ["461"]
    assert got[0].params[:2] == ("alice", "MONITOR")
