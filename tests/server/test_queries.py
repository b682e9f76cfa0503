"""WHO, WHOX, WHOIS, WHOWAS, USERHOST, ISON and the server queries, line by line."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.config import LimitsSection, ServerSection, default_config
from hubbub.protocol.message import MAX_LINE_BYTES, Message, parse
from hubbub.server.core import Server
from hubbub.server.response import pack
from hubbub.server.session import PeerInfo
from tests.cloaks import HOST
from tests.server.harness import Client, FakeClock, ask, make_server

SERVER = "hubbub.local"
SIGNON = "1700000000"


@pytest.fixture
def server() -> Server:
    return make_server()


@pytest.fixture
def pair(server: Server) -> tuple[Client, Client]:
    """alice (op of #chan) and bob (member of #chan)."""
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #chan")
    bob.send("JOIN #chan")
    alice.messages()
    bob.messages()
    return alice, bob


def who_line(viewer: str, chan: str, nick: str, flags: str) -> tuple[str, tuple[str, ...]]:
    return ("352", (viewer, chan, "~u", HOST, SERVER, nick, flags, "0 Real Name"))


# -- WHO -------------------------------------------------------------------------------------


def test_who_channel_lists_members_with_prefixes(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHO #CHAN") == [
        who_line("bob", "#chan", "alice", "H@"),
        who_line("bob", "#chan", "bob", "H"),
        ("315", ("bob", "#CHAN", "End of WHO list")),
    ]


def test_who_nick_shows_a_channel_and_its_prefix(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHO ALICE") == [
        who_line("bob", "#chan", "alice", "H@"),
        ("315", ("bob", "ALICE", "End of WHO list")),
    ]


def test_who_user_without_channels_shows_star(server: Server) -> None:
    Client(server).register("carol")
    dave = Client(server).register("dave")
    assert ask(dave, "WHO carol") == [
        who_line("dave", "*", "carol", "H"),
        ("315", ("dave", "carol", "End of WHO list")),
    ]


def test_who_mask_matches_nick_host_and_realname(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert [r[1][5] for r in ask(bob, "WHO al*") if r[0] == "352"] == ["alice"]
    assert [r[1][5] for r in ask(bob, "WHO *.IP") if r[0] == "352"] == ["alice", "bob"]
    assert [r[1][5] for r in ask(bob, "WHO 127.0.0.*") if r[0] == "352"] == []  # cloaked
    bob.session.user.modes += "o"  # operators find users by their real address too
    assert [r[1][5] for r in ask(bob, "WHO 127.0.0.*") if r[0] == "352"] == ["alice", "bob"]
    assert [r[1][5] for r in ask(bob, "WHO :*Real*") if r[0] == "352"] == ["alice", "bob"]
    assert [r[1][5] for r in ask(bob, "WHO *") if r[0] == "352"] == ["alice", "bob"]
    assert [r[1][5] for r in ask(bob, "WHO 0") if r[0] == "352"] == ["alice", "bob"]
    assert [r[1][5] for r in ask(bob, "WHO") if r[0] == "352"] == ["alice", "bob"]


def test_who_unknown_nick_or_channel_is_only_the_end(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHO nobody") == [("315", ("bob", "nobody", "End of WHO list"))]
    assert ask(bob, "WHO #nowhere") == [("315", ("bob", "#nowhere", "End of WHO list"))]


def test_who_mask_that_cannot_be_echoed_is_a_star(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHO :no body") == [("315", ("bob", "*", "End of WHO list"))]


def test_who_away_and_oper_flags(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("AWAY :gone")
    alice.session.user.modes += "o"
    assert ask(bob, "WHO alice")[0] == who_line("bob", "#chan", "alice", "G*@")


def test_who_bot_flag(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MODE alice +B")
    assert ask(bob, "WHO #chan")[0] == who_line("bob", "#chan", "alice", "H@B")


def test_who_multi_prefix_shows_every_prefix(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob", caps="multi-prefix")
    alice.send("JOIN #chan", "MODE #chan +v alice")
    bob.send("JOIN #chan")
    assert ask(bob, "WHO #chan")[0] == who_line("bob", "#chan", "alice", "H@+")
    alice.messages()
    assert ask(alice, "WHO #chan")[0] == who_line("alice", "#chan", "alice", "H@")


def test_who_mask_skips_invisible_strangers_but_not_exact_nicks(server: Server) -> None:
    evan = Client(server).register("evan")
    evan.send("MODE evan +i")
    shiv = Client(server).register("shiv")
    assert ask(shiv, "WHO eva*") == [("315", ("shiv", "eva*", "End of WHO list"))]
    assert [r[0] for r in ask(shiv, "WHO evan")] == ["352", "315"]
    evan.send("JOIN #test")
    shiv.send("JOIN #test")
    assert [r[0] for r in ask(shiv, "WHO eva*")] == ["352", "315"]


def test_who_channel_hides_invisible_members_from_outsiders(server: Server) -> None:
    alice = Client(server).register("alice")
    evan = Client(server).register("evan")
    outsider = Client(server).register("out")
    alice.send("JOIN #chan")
    evan.send("MODE evan +i", "JOIN #chan")
    assert [r[1][5] for r in ask(outsider, "WHO #chan") if r[0] == "352"] == ["alice"]
    assert [r[1][5] for r in ask(evan, "WHO #chan") if r[0] == "352"] == ["alice", "evan"]


def test_who_secret_channel_is_empty_for_outsiders(server: Server) -> None:
    alice = Client(server).register("alice")
    outsider = Client(server).register("out")
    alice.send("JOIN #hidden", "MODE #hidden +s")
    assert ask(outsider, "WHO #hidden") == [("315", ("out", "#hidden", "End of WHO list"))]
    # and a nick query does not reveal the channel either
    assert ask(outsider, "WHO alice")[0] == who_line("out", "*", "alice", "H")


def test_who_o_flag_lists_operators_only(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.session.user.modes += "o"
    assert [r[1][5] for r in ask(bob, "WHO #chan o") if r[0] == "352"] == ["alice"]
    assert [r[1][1] for r in ask(bob, "WHO #chan o%n") if r[0] == "354"] == ["alice"]


# -- WHOX ------------------------------------------------------------------------------------


def test_whox_all_fields_in_standard_order(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    expected = [
        (
            "354",
            (
                "bob",
                "123",
                "#chan",
                "~u",
                "255.255.255.255",
                HOST,
                SERVER,
                "alice",
                "H@",
                "0",
                "0",
                "0",
                "n/a",
                "Real Name",
            ),
        ),
        ("315", ("bob", "alice", "End of WHO list")),
    ]
    assert ask(bob, "WHO alice %tcuihsnfdlaor,123") == expected
    assert ask(bob, "WHO alice %roaldfnshiuct,123") == expected


def test_whox_token_and_subset(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHO alice %tn,321") == [
        ("354", ("bob", "321", "alice")),
        ("315", ("bob", "alice", "End of WHO list")),
    ]
    assert ask(bob, "WHO #chan %cnf")[:2] == [
        ("354", ("bob", "#chan", "alice", "H@")),
        ("354", ("bob", "#chan", "bob", "H")),
    ]


def test_whox_account_placeholder_and_value(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(bob, "WHO alice %na")[0] == ("354", ("bob", "alice", "0"))
    alice.session.user.account = "alice_acct"
    assert ask(bob, "WHO alice %na")[0] == ("354", ("bob", "alice", "alice_acct"))


def test_whox_ip_is_shown_to_the_user_and_operators(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(alice, "WHO alice %i")[0] == ("354", ("alice", "127.0.0.1"))
    bob.session.user.modes += "o"
    assert ask(bob, "WHO alice %i")[0] == ("354", ("bob", "127.0.0.1"))


def test_whox_idle_time() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    Client(server).register("alice")
    bob = Client(server).register("bob")
    clock.advance(42)
    assert ask(bob, "WHO alice %nl")[0] == ("354", ("bob", "alice", "42"))


# -- WHOIS -----------------------------------------------------------------------------------


def test_whois_reply_in_order(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHOIS alice") == [
        ("311", ("bob", "alice", "~u", HOST, "*", "Real Name")),
        ("319", ("bob", "alice", "@#chan")),
        ("312", ("bob", "alice", SERVER, "a hubbub server")),
        ("317", ("bob", "alice", "0", SIGNON, "seconds idle, signon time")),
        ("318", ("bob", "alice", "End of /WHOIS list")),
    ]


@pytest.mark.parametrize("target", [SERVER, "alice", "bob", "*.local"])
def test_whois_with_a_server_or_nick_target(pair: tuple[Client, Client], target: str) -> None:
    _, bob = pair
    got = ask(bob, f"WHOIS {target} alice")
    assert got[0][0] == "311"
    assert got[-1] == ("318", ("bob", "alice", "End of /WHOIS list"))


def test_whois_unknown_server(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHOIS irc.example.org alice") == [
        ("402", ("bob", "irc.example.org", "No such server"))
    ]


def test_whois_unknown_nick(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHOIS Nobody") == [
        ("401", ("bob", "Nobody", "No such nick/channel")),
        ("318", ("bob", "Nobody", "End of /WHOIS list")),
    ]


def test_whois_without_nick(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "WHOIS") == [("431", ("bob", "No nickname given"))]


def test_whois_end_echoes_the_query_as_sent(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    got = ask(bob, "WHOIS ALICE,bob")
    assert got[0][1][1] == "alice"
    assert got[-1] == ("318", ("bob", "ALICE,bob", "End of /WHOIS list"))


def test_whois_away_oper_bot_and_account(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("AWAY :out to lunch", "MODE alice +B")
    alice.session.user.modes += "o"
    alice.session.user.account = "acct"
    commands = {cmd: params for cmd, params in ask(bob, "WHOIS alice")}
    assert commands["313"] == ("bob", "alice", "is an IRC operator")
    assert commands["301"] == ("bob", "alice", "out to lunch")
    assert commands["335"] == ("bob", "alice", "is a bot")
    assert commands["330"] == ("bob", "alice", "acct", "is logged in as")
    assert "671" not in commands


def test_whois_secure_connection_and_certfp(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.session.peer = PeerInfo(ip="127.0.0.1", secure=True, certfp="ab12")
    bob = Client(server).register("bob")
    by_bob = {cmd: params for cmd, params in ask(bob, "WHOIS alice")}
    assert by_bob["671"] == ("bob", "alice", "is using a secure connection")
    assert "276" not in by_bob  # the fingerprint is for the user and operators only
    by_alice = {cmd: params for cmd, params in ask(alice, "WHOIS alice")}
    assert by_alice["276"] == ("alice", "alice", "has client certificate fingerprint ab12")


def test_whois_idle_and_signon() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    clock.advance(100)
    alice.send("PRIVMSG bob :hi")
    clock.advance(7)
    idle = [p for c, p in ask(bob, "WHOIS alice") if c == "317"]
    assert idle == [("bob", "alice", "7", SIGNON, "seconds idle, signon time")]


def test_whois_hides_secret_channels_not_shared(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #open", "JOIN #hidden", "MODE #hidden +s", "JOIN #both", "MODE #both +s")
    bob.send("JOIN #both")
    channels = [p[2] for c, p in ask(bob, "WHOIS alice") if c == "319"]
    assert channels == ["@#open @#both"]
    alice.messages()
    assert [p[2] for c, p in ask(alice, "WHOIS alice") if c == "319"] == ["@#open @#hidden @#both"]


def test_whois_invisible_user_shows_only_shared_channels(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("MODE alice +i", "JOIN #xyz")
    assert "319" not in [c for c, _ in ask(bob, "WHOIS alice")]
    bob.send("JOIN #xyz")
    assert [p[2] for c, p in ask(bob, "WHOIS alice") if c == "319"] == ["@#xyz"]


def test_whois_multi_prefix(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob", caps="multi-prefix")
    alice.send("JOIN #chan", "MODE #chan +v alice")
    assert [p[2] for c, p in ask(bob, "WHOIS alice") if c == "319"] == ["@+#chan"]


def test_whois_channel_list_is_split_under_the_line_limit() -> None:
    server = make_server(max_channels=60)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    names = [f"#channel-with-a-rather-long-name-{i:02d}" for i in range(40)]
    alice.send(*(f"JOIN {name}" for name in names))
    bob.lines()
    bob.send("WHOIS alice")
    raw = bob.lines()
    lines = [m.params[2] for m in map(parse, raw) if m.command == "319"]
    assert len(lines) > 1
    assert " ".join(lines).split() == [f"@{name}" for name in names]
    assert all(len(line.encode()) + 2 <= MAX_LINE_BYTES for line in raw)


# -- WHOWAS ----------------------------------------------------------------------------------


def test_whowas_after_quit() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    Client(server).register("bob").send("QUIT :bye")
    assert ask(alice, "WHOWAS bob") == [
        ("314", ("alice", "bob", "~u", HOST, "*", "Real Name")),
        ("312", ("alice", "bob", SERVER, "Tue Nov 14 22:13:20 2023")),
        ("369", ("alice", "bob", "End of WHOWAS")),
    ]


def test_whowas_newest_first_and_count(server: Server) -> None:
    alice = Client(server).register("alice")
    first = Client(server).register("bob")
    first.session.user.username = "~first"
    first.send("QUIT")
    second = Client(server).register("bob")
    second.session.user.username = "~second"
    second.send("QUIT")
    users = [p[2] for c, p in ask(alice, "WHOWAS BOB") if c == "314"]
    assert users == ["~second", "~first"]
    assert [p[2] for c, p in ask(alice, "WHOWAS bob 1") if c == "314"] == ["~second"]
    assert [p[2] for c, p in ask(alice, "WHOWAS bob 0") if c == "314"] == ["~second", "~first"]
    assert [p[2] for c, p in ask(alice, "WHOWAS bob -1") if c == "314"] == ["~second", "~first"]


def test_whowas_remembers_nick_changes(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    bob.send("NICK robert")
    assert ask(alice, "WHOWAS bob")[0] == (
        "314",
        ("alice", "bob", "~u", HOST, "*", "Real Name"),
    )


def test_whowas_unknown_and_missing_nick(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "WHOWAS ghost") == [
        ("406", ("alice", "ghost", "There was no such nickname")),
        ("369", ("alice", "ghost", "End of WHOWAS")),
    ]
    assert ask(alice, "WHOWAS") == [("431", ("alice", "No nickname given"))]


def test_whowas_history_is_bounded() -> None:
    server = make_server(whowas=2)
    alice = Client(server).register("alice")
    for nick in ("one", "two", "three"):
        Client(server).register(nick).send("QUIT")
    assert [e.nick for e in server.network.whowas] == ["three", "two"]
    assert ask(alice, "WHOWAS one")[0][0] == "406"


def test_whowas_history_is_bounded_on_nick_changes() -> None:
    """NICK records WHOWAS like QUIT does, and trims it the same way: a client changing
    nick over and over cannot grow the history past the limit."""
    clock = FakeClock()
    server = make_server(clock, whowas=5)
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    for i in range(50):
        bob.send(f"NICK bob{i}")
        clock.advance(5.0)  # (within the limit of nick changes)
        assert len(server.network.whowas) <= server.limits.whowas
    assert [e.nick for e in server.network.whowas] == ["bob48", "bob47", "bob46", "bob45", "bob44"]
    bob.send("QUIT")
    assert [e.nick for e in server.network.whowas][:2] == ["bob49", "bob48"]
    assert len(server.network.whowas) == 5
    assert ask(alice, "WHOWAS bob0")[0][0] == "406"


# -- USERHOST and ISON -----------------------------------------------------------------------


def test_userhost(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("AWAY :away")
    bob.session.user.modes += "o"
    assert ask(bob, "USERHOST alice BOB nobody") == [
        ("302", ("bob", f"alice=-~u@{HOST} bob*=+~u@{HOST}"))
    ]


def test_userhost_takes_five_nicks_at_most(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    got = ask(bob, "USERHOST a b c d e alice")
    assert got == [("302", ("bob", ""))]


def test_userhost_and_ison_need_a_parameter(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "USERHOST") == [("461", ("bob", "USERHOST", "Not enough parameters"))]
    assert ask(bob, "ISON") == [("461", ("bob", "ISON", "Not enough parameters"))]


def test_ison(pair: tuple[Client, Client]) -> None:
    _, bob = pair
    assert ask(bob, "ISON ALICE nobody bob") == [("303", ("bob", "alice bob"))]
    assert ask(bob, "ISON :alice nobody") == [("303", ("bob", "alice"))]
    assert ask(bob, "ISON nobody") == [("303", ("bob", ""))]


# -- server queries --------------------------------------------------------------------------


def test_version_then_isupport(server: Server) -> None:
    alice = Client(server).register("alice")
    got = ask(alice, "VERSION")
    assert got[0] == (
        "351",
        ("alice", server.version, SERVER, "hubbub IRC server, https://modern.ircdocs.horse/"),
    )
    assert [c for c, _ in got[1:]] == ["005"] * len(server.isupport)
    assert all(p[-1] == "are supported by this server" for _, p in got[1:])


@pytest.mark.parametrize("command", ["VERSION", "TIME", "ADMIN", "INFO", "MOTD"])
def test_server_queries_accept_this_server_and_refuse_others(server: Server, command: str) -> None:
    alice = Client(server).register("alice")
    for target in (SERVER, "*.local", "alice"):
        assert ask(alice, f"{command} {target}")[0][0] != "402"
    assert ask(alice, f"{command} irc.example.org") == [
        ("402", ("alice", "irc.example.org", "No such server"))
    ]


def test_time(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "TIME") == [
        ("391", ("alice", SERVER, SIGNON, "0", "Tuesday November 14 2023 -- 22:13:20 +00:00"))
    ]


def test_admin_from_config() -> None:
    section = ServerSection(
        admin_name="Ada Admin", admin_location="Paris, FR", admin_email="ada@example.org"
    )
    config = dataclasses.replace(
        default_config(), server=section, limits=LimitsSection(flood=False)
    )
    alice = Client(Server(config, clock=FakeClock())).register("alice")
    assert ask(alice, "ADMIN") == [
        ("256", ("alice", SERVER, "Administrative info")),
        ("257", ("alice", "Paris, FR")),
        ("258", ("alice", "Ada Admin")),
        ("259", ("alice", "ada@example.org")),
    ]


def test_admin_without_config_still_answers(server: Server) -> None:
    alice = Client(server).register("alice")
    assert [c for c, _ in ask(alice, "ADMIN")] == ["256", "257", "258", "259"]


def test_info(server: Server) -> None:
    alice = Client(server).register("alice")
    got = ask(alice, "INFO")
    assert got[-1] == ("374", ("alice", "End of INFO list"))
    assert {c for c, _ in got[:-1]} == {"371"}
    assert server.version in got[0][1][1]


def test_links(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "LINKS") == [
        ("364", ("alice", SERVER, SERVER, "0 a hubbub server")),
        ("365", ("alice", "*", "End of /LINKS list")),
    ]
    assert ask(alice, "LINKS *.example.org") == [
        ("365", ("alice", "*.example.org", "End of /LINKS list"))
    ]


def test_lusers(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    got = ask(alice, "LUSERS")
    assert [c for c, _ in got] == ["251", "252", "253", "254", "255", "265", "266"]
    assert got[0][1] == ("alice", "There are 2 users and 0 invisible on 1 servers")
    assert got[3][1] == ("alice", "1", "channels formed")


def test_motd(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MOTD") == [
        ("375", ("alice", f"- {SERVER} Message of the day - ")),
        ("372", ("alice", "- Welcome to hubbub!")),
        ("376", ("alice", "End of /MOTD command.")),
    ]


# -- HELP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["HELP", "HELPOP"])
def test_help_without_subject_lists_commands(server: Server, command: str) -> None:
    alice = Client(server).register("alice")
    got = ask(alice, command)
    assert got[0] == ("704", ("alice", "*", f"** Help for {SERVER} **"))
    assert got[1] == ("705", ("alice", "*", ""))
    assert {c for c, _ in got[1:-1]} == {"705"}
    assert got[-1] == ("706", ("alice", "*", "End of /HELP"))
    listed = " ".join(p[2] for _, p in got[3:-1]).split()
    assert listed == sorted(server.commands)  # the built-in table and NickServ's commands
    assert {"NICKSERV", "NS"} < set(listed)


@pytest.mark.parametrize("command", ["HELP", "HELPOP"])
def test_help_on_a_command(server: Server, command: str) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, f"{command} privmsg") == [
        ("704", ("alice", "privmsg", "** PRIVMSG <target>{,<target>} <text> **")),
        ("705", ("alice", "privmsg", "")),
        ("705", ("alice", "privmsg", "Sends a message to users or channels.")),
        ("706", ("alice", "privmsg", "End of /HELP")),
    ]


def test_help_unknown_subject(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "HELP THISISNOTACOMMAND") == [
        ("524", ("alice", "THISISNOTACOMMAND", "No help available on this topic"))
    ]
    assert ask(alice, "HELP :two words") == [
        ("524", ("alice", "*", "No help available on this topic"))
    ]


def test_every_command_has_help(server: Server) -> None:
    missing = sorted(name for name, command in server.commands.items() if command.help is None)
    assert missing == []


# -- robustness ------------------------------------------------------------------------------


def test_pack() -> None:
    assert pack([], ",", 5) == []
    assert pack(["ab", "cd", "ef"], ",", 5) == ["ab,cd", "ef"]
    assert pack(["toolong", "x"], " ", 3) == ["toolong", "x"]


@pytest.mark.parametrize(
    "line",
    [
        "WHOIS :a b",
        "WHOIS :a b :c d",
        "WHOWAS :a b",
        "WHO x :%tn,1 2",
        "MONITOR :x y",
        "LINKS :a b",
        "TIME :a b",
        "HELP ::x",
    ],
)
def test_awkward_parameters_are_answered(pair: tuple[Client, Client], line: str) -> None:
    _, bob = pair
    got = ask(bob, line)
    assert got, line
    for command, params in got:  # every reply re-serialises to the same message
        assert Message(command, params).serialize()


# -- STATS -----------------------------------------------------------------------------------


def test_stats_u_shows_the_uptime() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    clock.advance(2 * 86400 + 3 * 3600 + 4 * 60 + 5)
    assert ask(alice, "STATS u") == [
        ("242", ("alice", "Server Up 2 days 3:04:05")),
        ("219", ("alice", "u", "End of /STATS report")),
    ]


def test_stats_other_queries_end_at_once(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "STATS k") == [("219", ("alice", "k", "End of /STATS report"))]
    assert ask(alice, "STATS") == [("461", ("alice", "STATS", "Not enough parameters"))]
    assert ask(alice, "STATS u other.server") == [
        ("402", ("alice", "other.server", "No such server"))
    ]


def test_list_by_creation_and_topic_time_and_negated_masks() -> None:
    """ELIST=CMNTU: ``C>n``/``C<n`` created more/less than n minutes ago, ``T>n``/``T<n``
    topic set more/less than n minutes ago (no topic, no match), ``!mask`` leaves out."""
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    alice.send("JOIN #old", "TOPIC #old :first")
    clock.advance(180)
    alice.send("JOIN #new,#bare", "TOPIC #new :second")
    clock.advance(60)

    def listed(line: str) -> set[str]:
        return {p[1] for c, p in ask(alice, line) if c == "322"}

    assert listed("LIST C>2") == {"#old"}
    assert listed("LIST C<2") == {"#new", "#bare"}
    assert listed("LIST C<0") == set()
    assert listed("LIST C>0,C<10") == {"#old", "#new", "#bare"}
    assert listed("LIST T>2") == {"#old"}
    assert listed("LIST T<2") == {"#new"}
    assert listed("LIST T<10") == {"#old", "#new"}
    assert listed("LIST T>99999999999999999999") == set()
    assert listed("LIST !#n*") == {"#old", "#bare"}
    assert listed("LIST #*,!*e*") == {"#old"}
    assert listed("LIST !#old,>0,C<3") == {"#new", "#bare"}
    assert listed("LIST C>x") == set()  # (a mask, matching no channel)


def test_whowas_answers_each_nick_once_and_at_most_max_targets(server: Server) -> None:
    """A nick repeated in one WHOWAS is answered once (240 repeats of a nick with 100 entries
    made one line cost 48,000 numerics), and more nicks than TARGMAX allows get 407."""
    alice = Client(server).register("alice")
    Client(server).register("bob").send("QUIT")
    Client(server).register("carol").send("QUIT")
    replies = ask(alice, "WHOWAS bob,BOB,carol,bob,ghost")
    assert [(c, p[1]) for c, p in replies] == [
        ("314", "bob"),
        ("312", "bob"),
        ("314", "carol"),
        ("312", "carol"),
        ("406", "ghost"),
        ("369", "bob,BOB,carol,bob,ghost"),
    ]
    most = server.limits.max_targets
    too_many = ",".join(f"n{i}" for i in range(most + 1))
    assert ask(alice, f"WHOWAS {too_many}") == [
        ("407", ("alice", too_many, "Too many nicknames at once"))
    ]
