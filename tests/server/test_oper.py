"""OPER, KILL, WALLOPS, REHASH and the server notices they raise, line by line."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from hubbub.config import (
    Config,
    ConfigError,
    ConfigIssue,
    LimitsSection,
    OperSection,
    ServerSection,
    default_config,
)
from hubbub.passwords import hash_password
from hubbub.server.accounts import MAX_LOGIN_FAILURES
from hubbub.server.core import Server
from tests.cloaks import CLOAKS, HOST
from tests.server.accounthelpers import add_account, defer, server_with_accounts
from tests.server.harness import Client, FakeClock, TestHost, ask, host_of, replies

ADMIN = OperSection(name="admin", password="secret")


def make_config(*opers: OperSection, **server: str) -> Config:
    return dataclasses.replace(
        default_config(),
        server=ServerSection(**server),
        opers=opers or (ADMIN,),
        limits=LimitsSection(flood=False),
        cloaks=CLOAKS,
    )


def make_oper_server(*opers: OperSection) -> Server:
    return Server(make_config(*opers), clock=FakeClock(), host=TestHost())


def notices(client: Client) -> list[str]:
    return [m.params[1] for m in client.messages() if m.command == "NOTICE"]


@pytest.fixture
def server() -> Server:
    return make_oper_server()


def oper_up(server: Server, nick: str) -> Client:
    client = Client(server).register(nick)
    client.send("OPER admin secret")
    client.messages()
    return client


# -- OPER ------------------------------------------------------------------------------------


def test_oper_success(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("OPER admin secret")
    got = alice.messages()
    assert [(m.source, m.command, m.params) for m in got] == [
        ("hubbub.local", "381", ("alice", "You are now an IRC operator")),
        (f"alice!~u@{HOST}", "MODE", ("alice", "+os")),
    ]
    assert set(alice.session.user.modes) >= {"o", "s"}
    assert alice.session.user in server.network.opers
    assert ask(alice, "LUSERS")[1] == ("252", ("alice", "1", "operator(s) online"))


def test_oper_name_is_case_insensitive_and_reoper_is_quiet(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("OPER ADMIN secret")
    alice.messages()
    assert ask(alice, "OPER admin secret") == [("381", ("alice", "You are now an IRC operator"))]


def test_oper_wrong_password(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "OPER admin nope") == [("464", ("alice", "Password incorrect"))]
    assert "o" not in alice.session.user.modes
    assert server.network.opers == set()


def test_oper_unknown_name(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "OPER nobody secret") == [("491", ("alice", "No O-lines for your host"))]


@pytest.mark.parametrize(
    ("mask", "allowed"),
    [
        ("*", True),
        ("127.0.0.1", True),
        ("127.*", True),
        ("~u@127.0.0.1", True),
        ("alice!*@*", True),
        ("10.*", False),
        ("*@example.org", False),
    ],
)
def test_oper_host_mask(mask: str, allowed: bool) -> None:
    server = make_oper_server(OperSection(name="admin", password="secret", host=mask))
    alice = Client(server).register("alice")
    got = [c for c, _ in ask(alice, "OPER admin secret")]
    assert got == (["381", "MODE"] if allowed else ["491"])


def test_oper_hashed_password() -> None:
    server = make_oper_server(OperSection(name="admin", password=hash_password("s3cret")))
    alice = Client(server).register("alice")
    assert [c for c, _ in ask(alice, "OPER admin wrong")] == ["464"]
    assert [c for c, _ in ask(alice, "OPER admin s3cret")] == ["381", "MODE"]


def test_oper_needs_two_parameters(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "OPER admin") == [("461", ("alice", "OPER", "Not enough parameters"))]


def test_oper_hashed_password_checked_off_the_handler() -> None:
    """With a real offload the answer to a hashed password comes later, in its own write."""
    server = make_oper_server(OperSection(name="admin", password=hash_password("secret")))
    queued: list[tuple[Callable[[], bool], Callable[[bool], None]]] = []
    host_of(server).run = lambda work, done: queued.append((work, done))
    alice = Client(server).register("alice")
    assert ask(alice, "OPER admin secret") == []
    assert "o" not in alice.session.user.modes
    work, done = queued.pop()
    done(work())
    assert [c for c, _ in replies(alice)] == ["381", "MODE"]
    bob = Client(server).register("bob")
    bob.send("OPER admin nope")
    work, done = queued.pop()
    bob.send("QUIT")
    done(work())  # the client left meanwhile: nothing to do, nothing to crash


def test_oper_raises_server_notices(server: Server) -> None:
    watcher = oper_up(server, "watcher")
    alice = Client(server).register("alice")
    watcher.messages()
    alice.send("OPER admin nope")
    alice.send("OPER nobody x")
    alice.send("OPER admin secret")
    assert notices(watcher) == [
        f"*** Failed OPER attempt by alice (~u@{HOST}) [admin]: wrong password",
        f"*** Failed OPER attempt by alice (~u@{HOST}) [nobody]: no matching oper block",
        f"*** alice (~u@{HOST}) is now an IRC operator (as admin)",
    ]


def test_too_many_wrong_oper_passwords_disconnect(server: Server) -> None:
    alice = Client(server).register("alice")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert [c for c, _ in ask(alice, "OPER admin nope")] == ["464"]
        assert not alice.closed
    got = ask(alice, "OPER admin nope")
    assert [c for c, _ in got] == ["464", "ERROR"]
    assert "Too many failed login attempts" in got[1][1][0]
    assert alice.closed
    assert server.network.opers == set()


def test_unknown_names_and_hosts_count_with_passwords_and_logins() -> None:
    """Every refused OPER counts, whatever the reason, on the counter of refused logins."""
    server = make_oper_server(ADMIN, OperSection(name="remote", password="x", host="10.*"))
    alice = Client(server).register("alice")
    alice.send("OPER admin nope", "OPER nobody secret", "OPER remote x")
    assert [c for c, _ in replies(alice)] == ["464", "491", "491"]
    assert alice.session.login_failures == 3
    alice.send("OPER admin secret")  # a good OPER is not a failure, nor does it forgive
    assert [c for c, _ in replies(alice)] == ["381", "MODE"]
    alice.send("OPER Nobody x", "OPER admin wrong")
    assert [c for c, _ in replies(alice) if c != "NOTICE"] == ["491", "464", "ERROR"]
    assert alice.closed


def test_oper_and_account_logins_share_one_counter() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    bob = Client(server).register("bob")
    for _ in range(MAX_LOGIN_FAILURES - 2):
        bob.send("PRIVMSG NickServ :IDENTIFY alice guess")
    bob.send("OPER admin guess")  # (this server has no oper blocks at all)
    assert not bob.closed
    got = ask(bob, "OPER admin guess")
    assert [c for c, _ in got] == ["491", "ERROR"]
    assert "Too many failed login attempts" in got[1][1][0]


def test_hashed_oper_passwords_count_when_checked_off_the_handler() -> None:
    server = make_oper_server(OperSection(name="admin", password=hash_password("secret")))
    queued: list[tuple[Callable[[], bool], Callable[[bool], None]]] = []
    host_of(server).run = lambda work, done: queued.append((work, done))
    alice = Client(server).register("alice")
    for i in range(MAX_LOGIN_FAILURES):
        alice.send("OPER admin nope", "PING :after")
        assert len(queued) == 1  # the check runs off the handler; the PING waits for it
        work, done = queued.pop()
        done(work())
        expected = ["464", "ERROR"] if i == MAX_LOGIN_FAILURES - 1 else ["464", "PONG"]
        assert [c for c, _ in replies(alice)] == expected
    assert alice.closed


def test_failed_oper_is_logged_with_the_address(caplog: pytest.LogCaptureFixture) -> None:
    server = make_oper_server(ADMIN, OperSection(name="remote", password="x", host="10.*"))
    alice = Client(server, ip="192.0.2.7").register("alice")
    alice.session.user.host = "cloaked.example"  # what others see: the log has the real address
    alice.session.user.update_prefix()
    with caplog.at_level(logging.WARNING, logger="hubbub.oper"):
        alice.send("OPER admin nope", "OPER nobody secret", "OPER remote x")
    records = [r for r in caplog.records if r.name == "hubbub.oper"]
    assert [r.levelno for r in records] == [logging.WARNING] * 3
    texts = [r.getMessage() for r in records]
    for text in texts:
        assert "alice" in text
        assert "192.0.2.7" in text
        assert "nope" not in text  # never the password
    expected = [
        ("'admin'", "wrong password"),
        ("'nobody'", "no oper block"),
        ("'remote'", "host does not match"),
    ]
    assert [
        (name in text, why in text) for (name, why), text in zip(expected, texts, strict=True)
    ] == [(True, True)] * 3


def test_dropping_o_leaves_the_operators(server: Server) -> None:
    alice = oper_up(server, "alice")
    alice.send("MODE alice -o")
    assert server.network.opers == set()
    assert ask(alice, "KILL bob :x") == [
        ("481", ("alice", "Permission Denied- You're not an IRC operator"))
    ]


# -- KILL ------------------------------------------------------------------------------------


def test_kill(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #chan")
    bob.send("JOIN #chan")
    bob.messages()
    alice.messages()
    ircop.messages()
    ircop.send("KILL alice :some arbitrary reason")
    got = alice.messages()
    assert [(m.source, m.command, m.params) for m in got] == [
        (f"ircop!~u@{HOST}", "KILL", ("alice", "some arbitrary reason")),
        (
            None,
            "ERROR",
            (f"Closing Link: {HOST} (Killed (ircop (some arbitrary reason)))",),
        ),
    ]
    assert alice.closed
    seen = bob.messages()
    assert [(m.source, m.command, m.params) for m in seen] == [
        (f"alice!~u@{HOST}", "QUIT", ("Killed (ircop (some arbitrary reason))",))
    ]
    assert server.find_user("alice") is None
    assert server.network.whowas[0].nick == "alice"
    assert notices(ircop) == [
        f"*** Received KILL message for alice (~u@{HOST}) from ircop: some arbitrary reason",
        f"*** Client exiting: alice (~u@{HOST}) [Killed (ircop (some arbitrary reason))]",
    ]


@pytest.mark.parametrize("line", ["KILL alice", "KILL alice :"])
def test_kill_without_a_comment_gives_a_default_one(server: Server, line: str) -> None:
    ircop = oper_up(server, "ircop")
    alice = Client(server).register("alice")
    ircop.send(line)
    assert alice.closed
    assert alice.messages()[0].params == ("alice", "No reason given")


def test_kill_without_a_nick_461(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    assert ask(ircop, "KILL") == [("461", ("ircop", "KILL", "Not enough parameters"))]


def test_kill_needs_privileges(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    for line in ("KILL bob :reason", "KILL alice :reason"):
        assert ask(alice, line) == [
            ("481", ("alice", "Permission Denied- You're not an IRC operator"))
        ]
    assert not bob.closed
    assert not alice.closed


def test_kill_errors(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    assert ask(ircop, "KILL") == [("461", ("ircop", "KILL", "Not enough parameters"))]
    assert ask(ircop, "KILL nobody :x") == [("401", ("ircop", "nobody", "No such nick/channel"))]
    assert ask(ircop, "KILL hubbub.local :x") == [("483", ("ircop", "You cant kill a server!"))]
    assert ask(ircop, "KILL *.local :x") == [("483", ("ircop", "You cant kill a server!"))]


def test_kill_yourself(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    ircop.send("KILL ircop :oops")
    assert ircop.closed
    got = ircop.messages()
    assert (got[0].command, got[0].params) == ("KILL", ("ircop", "oops"))
    assert (got[-1].command, got[-1].params) == (
        "ERROR",
        (f"Closing Link: {HOST} (Killed (ircop (oops)))",),
    )
    assert server.network.opers == set()


# -- WALLOPS ---------------------------------------------------------------------------------


def test_wallops_reaches_users_with_mode_w(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    reader = Client(server).register("reader")
    other = Client(server).register("other")
    reader.send("MODE reader +w")
    reader.messages()
    ircop.messages()
    ircop.send("WALLOPS :maintenance at noon")
    got = reader.messages()
    assert [(m.source, m.command, m.params) for m in got] == [
        (f"ircop!~u@{HOST}", "WALLOPS", ("maintenance at noon",))
    ]
    assert other.messages() == []
    assert ircop.messages() == []  # no +w, no copy
    ircop.send("MODE ircop +w", "WALLOPS :again")
    assert [m.command for m in ircop.messages()] == ["MODE", "WALLOPS"]


def test_wallops_errors(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "WALLOPS :hi") == [
        ("481", ("alice", "Permission Denied- You're not an IRC operator"))
    ]
    ircop = oper_up(server, "ircop")
    assert ask(ircop, "WALLOPS") == [("461", ("ircop", "WALLOPS", "Not enough parameters"))]
    assert ask(ircop, "WALLOPS :") == [("461", ("ircop", "WALLOPS", "Not enough parameters"))]


# -- REHASH ----------------------------------------------------------------------------------


def test_rehash_needs_privileges(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "REHASH") == [
        ("481", ("alice", "Permission Denied- You're not an IRC operator"))
    ]


def test_rehash_without_a_hook(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    assert ask(ircop, "REHASH") == [("382", ("ircop", "*", "Rehashing"))]


def test_rehash_applies_the_new_config(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    other = oper_up(server, "other")
    bystander = Client(server).register("bystander")
    other.messages()
    new = dataclasses.replace(
        make_config(ADMIN, motd="New day!", network="NewNet"),
        path=Path("/etc/hubbub/hubbub.toml"),
        limits=LimitsSection(flood=False, nicklen=20),
    )
    host_of(server).reload = lambda: new
    assert ask(ircop, "REHASH") == [
        ("382", ("ircop", "hubbub.toml", "Rehashing")),
        ("005", ("ircop", "NETWORK=NewNet", "NICKLEN=20", "are supported by this server")),
    ]
    assert server.config is new
    assert ask(ircop, "MOTD")[1] == ("372", ("ircop", "- New day!"))
    readvertised = [m for m in bystander.messages() if m.command == "005"]
    assert [m.params[1:] for m in readvertised] == [
        ("NETWORK=NewNet", "NICKLEN=20", "are supported by this server")
    ]
    assert notices(other) == ["*** ircop is rehashing the server config file"]


def test_rehash_negates_removed_tokens(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    server.isupport = [[*server.isupport[0], "EXTRA=1"], *server.isupport[1:]]
    host_of(server).reload = lambda: make_config()
    got = [p for c, p in ask(ircop, "REHASH") if c == "005"]
    assert got == [("ircop", "-EXTRA", "are supported by this server")]


def test_rehash_keeps_the_old_config_when_the_new_one_is_bad(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    old = server.config

    def bad() -> Config:
        raise ConfigError([ConfigIssue("limits.sendq", "must be at least 512, got 1")])

    host_of(server).reload = bad
    other = oper_up(server, "other")
    got = ask(ircop, "REHASH")
    assert got == [
        (
            "NOTICE",
            (
                "ircop",
                "*** REHASH failed, keeping the old config: limits.sendq: must be at least 512, "
                "got 1",
            ),
        )
    ]
    assert server.config is old
    assert notices(other) == [
        "*** ircop failed to rehash the config: limits.sendq: must be at least 512, got 1"
    ]


def test_rehash_refuses_an_unreadable_motd_file(server: Server, tmp_path: Path) -> None:
    ircop = oper_up(server, "ircop")
    old_motd = server.motd
    new = dataclasses.replace(
        make_config(motd_file="missing-motd.txt"), path=tmp_path / "hubbub.toml"
    )
    host_of(server).reload = lambda: new
    assert [c for c, _ in ask(ircop, "REHASH")] == ["NOTICE"]
    assert server.motd == old_motd
    assert server.config is not new


def test_rehash_refuses_a_casemapping_change(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    host_of(server).reload = lambda: make_config(casemapping="ascii")
    got = ask(ircop, "REHASH")
    assert [c for c, _ in got] == ["NOTICE"]
    assert "casemapping" in got[0][1][1]
    assert server.casemapping.value == "rfc1459"


def test_rehash_reads_off_the_loop_and_holds_the_opers_next_lines(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    deferred = defer(server)
    read: list[Config] = []
    new = make_config(ADMIN, network="Later")

    def load() -> Config:
        read.append(new)
        return new

    host_of(server).reload = load
    ircop.send("REHASH", "PING :after")
    assert read == []  # nothing read on the core's thread
    assert ircop.messages() == []  # and PING waits behind REHASH
    assert deferred.run() == 1
    assert [m.command for m in ircop.messages()] == ["382", "005", "PONG"]
    assert server.config is new


def test_rehash_commits_to_the_application_only_when_applied(server: Server) -> None:
    ircop = oper_up(server, "ircop")
    committed = host_of(server).applied
    host_of(server).reload = lambda: make_config(casemapping="ascii")
    ask(ircop, "REHASH")
    assert committed == []
    good = make_config(ADMIN)
    host_of(server).reload = lambda: good
    ask(ircop, "REHASH")
    assert committed == [good]


def test_samode_gives_an_operator_the_way_back_into_a_channel(server: Server) -> None:
    """The last channel operator left: an IRC operator can op someone (or itself) with
    SAMODE; the change is shown as the operator's, and other opers with +s are told."""
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #orphan")
    bob.send("JOIN #orphan")
    alice.send("PART #orphan")
    bob.send("MODE #orphan +o bob")
    assert [m.command for m in bob.messages() if m.command == "482"] == ["482"]
    bob.send("SAMODE #orphan +o bob")
    assert [m.command for m in bob.messages()] == ["481"]  # (not an operator)
    oper = Client(server).register("oper")
    watcher = Client(server).register("watcher")
    watcher.send("OPER admin secret", "MODE watcher +s")
    oper.send("OPER admin secret", "MODE oper +s")
    watcher.messages()
    oper.messages()
    oper.send("SAMODE #orphan +mo bob")
    assert [(m.source, m.params) for m in bob.messages() if m.command == "MODE"] == [
        (oper.session.user.prefix, ("#orphan", "+mo", "bob"))
    ]
    assert server.network.channels[server.fold("#orphan")].members[bob.session.user] == "o"
    assert [m.params[-1] for m in watcher.messages() if m.command == "NOTICE"] == [
        "*** oper used SAMODE #orphan +mo bob"
    ]
    assert not [m for m in oper.messages() if m.command == "NOTICE"]
    oper.send("SAMODE #orphan e")  # (the lists, as a channel operator sees them)
    assert [m.command for m in oper.messages()] == ["349"]
    oper.send("SAMODE nobody +i")
    assert [m.command for m in oper.messages()] == ["403"]
