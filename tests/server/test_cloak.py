"""Host cloaks: others see a keyed hash of a client's address, never the address itself;
the client and operators see the address; bans match the cloak and the address alike."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hubbub.config import CloaksSection, ConfigError, OperSection, parse_config
from hubbub.protocol.casemap import is_valid_hostname
from hubbub.server.cloak import CLOAK_CACHE, Cloaker
from hubbub.server.commands.oper import VHOST_RE
from hubbub.server.core import Server
from hubbub.server.session import PeerInfo
from tests.cloaks import CLOAKS, cloak_of
from tests.server.harness import Client, FakeClock, FakeSink, ask, make_server

V4, V6 = "203.0.113.7", "2001:db8::1"
OTHER = "198.51.100.20"
"""Where the onlooker connects from."""
HEX = "[0-9A-F]{8}"


def server_with_oper(*, enabled: bool = True) -> Server:
    config = dataclasses.replace(
        make_server().config,
        opers=(OperSection(name="admin", password="secret"),),
        cloaks=dataclasses.replace(CLOAKS, enabled=enabled),
    )
    return Server(config, clock=FakeClock())


# -- the cloak itself ------------------------------------------------------------------------


def test_shapes_are_valid_hosts() -> None:
    v4, v6 = cloak_of(V4), cloak_of(V6)
    assert re.fullmatch(rf"{HEX}\.{HEX}\.{HEX}\.IP", v4), v4
    assert re.fullmatch(rf"{HEX}:{HEX}:{HEX}:IP", v6), v6
    assert is_valid_hostname(v4)
    for cloak in (v4, v6, cloak_of("::1"), cloak_of("0.0.0.0")):
        assert VHOST_RE.fullmatch(cloak), cloak  # what CHGHOST accepts as a host
        assert len(cloak) < 64
        assert not cloak.startswith(":")
        assert not set(cloak) & set(" !@*?,")


def test_a_cloak_is_keyed_and_stable() -> None:
    assert cloak_of(V4) == cloak_of(V4) == Cloaker(CLOAKS.secret).cloak(V4)
    assert cloak_of(V4) != cloak_of(V4, secret="another secret, as long")
    assert cloak_of(V6) != cloak_of(V6, secret="another secret, as long")
    assert cloak_of(V4) != cloak_of("203.0.113.8")
    assert Cloaker(CLOAKS.secret, "users.example").cloak(V4) == cloak_of(V4)[:-2] + (
        "users.example"
    )


def test_an_address_and_its_networks_are_hashed_apart() -> None:
    """The last parts stand for the /24 and /16 (IPv6: /64 and /48): bans can cover them."""
    a = cloak_of("203.0.113.7").split(".")
    same_24 = cloak_of("203.0.113.200").split(".")
    same_16 = cloak_of("203.0.7.7").split(".")
    elsewhere = cloak_of("192.0.2.7").split(".")
    assert a[0] != same_24[0]
    assert a[1:] == same_24[1:]
    assert a[1] != same_16[1]
    assert a[2:] == same_16[2:]
    assert a[2] != elsewhere[2]
    b = cloak_of("2001:db8:0:1::1").split(":")
    same_64 = cloak_of("2001:db8:0:1::2").split(":")
    same_48 = cloak_of("2001:db8:0:2::1").split(":")
    assert b[0] != same_64[0]
    assert b[1:] == same_64[1:]
    assert b[1] != same_48[1]
    assert b[2:] == same_48[2:]


def test_mapped_and_scoped_addresses_and_non_addresses() -> None:
    cloaker = Cloaker(CLOAKS.secret)
    assert cloaker.cloak("::ffff:203.0.113.7") == cloak_of(V4)
    assert cloaker.cloak("fe80::1%eth0") == cloak_of("fe80::1")
    assert cloaker.cloak("localhost") is None
    assert cloaker.cloak("") is None
    with pytest.raises(ValueError, match="empty"):
        Cloaker("")


def test_the_cache_is_bounded() -> None:
    cloaker = Cloaker(CLOAKS.secret)
    for i in range(CLOAK_CACHE + 10):
        cloaker.cloak(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(cloaker._cache) <= CLOAK_CACHE
    assert cloaker.cloak(V4) == cloak_of(V4)


# -- what others see -------------------------------------------------------------------------


@pytest.mark.parametrize("ip", [V4, V6])
def test_others_never_see_the_address(ip: str) -> None:
    server = make_server()
    caps = "userhost-in-names extended-join away-notify chghost account-notify multi-prefix"
    onlooker = Client(server, ip=OTHER).register("bob", caps=caps)
    onlooker.send("JOIN #room", "MONITOR + alice,alicia")
    alice = Client(server, ip=ip).register("alice", caps=caps)
    assert alice.session.user.host == cloak_of(ip)
    alice.send("JOIN #room", "PRIVMSG #room :hello", "NOTICE bob :hi", "PRIVMSG bob :psst")
    alice.send("TOPIC #room :a topic", "MODE #room +v bob", "AWAY :later", "INVITE bob #room")
    onlooker.send(
        "NAMES #room",
        "WHO #room",
        "WHO alice",
        "WHO alice %tcuihsnfdlaor,7",
        "WHO #room %tcuihsnfdlaor,7",
        "WHO *",
        "WHOIS alice",
        "WHOIS alice alice",
        "USERHOST alice",
        "MONITOR S",
        "TOPIC #room",
        "MODE #room +b",
    )
    alice.send("NICK alicia", "QUIT :bye")
    onlooker.send("WHOWAS alice", "WHOWAS alicia")
    server.flush()
    seen = bytes(onlooker.sink.data)
    assert b"PRIVMSG bob :psst" in seen  # it did hear her
    assert cloak_of(ip).encode() in seen
    assert ip.encode() not in seen
    assert ip.rsplit(".", 1)[0].encode() not in seen  # not even the network
    commands = {line.split(" ")[1] for line in seen.decode().split("\r\n") if line}
    assert not commands & {"378", "338"}


def test_others_cannot_look_users_up_by_address() -> None:
    server = make_server()
    Client(server, ip=V4).register("alice")
    bob = Client(server, ip=OTHER).register("bob")
    assert ask(bob, f"WHO {V4}") == [("315", ("bob", V4, "End of WHO list"))]
    assert ask(bob, "WHO 203.0.113.*") == [("315", ("bob", "203.0.113.*", "End of WHO list"))]
    assert [p[5] for c, p in ask(bob, f"WHO {cloak_of(V4)}") if c == "352"] == ["alice"]


def test_the_user_and_operators_see_the_address() -> None:
    server = server_with_oper()
    alice = Client(server, ip=V6).register("alice")
    bob = Client(server, ip=OTHER).register("bob")
    whois = ask(alice, "WHOIS alice")
    assert ("378", ("alice", "alice", f"is connecting from *@{V6} {V6}")) in whois
    actual = ("338", ("alice", "alice", f"~u@{V6}", V6, "Actual user@host, Actual IP"))
    assert actual in whois
    assert ("311", ("alice", "alice", "~u", cloak_of(V6), "*", "Real Name")) in whois
    assert ask(alice, "WHO alice %i")[0] == ("354", ("alice", V6))
    assert ask(bob, "WHO alice %ih")[0] == ("354", ("bob", "255.255.255.255", cloak_of(V6)))
    bob.send("OPER admin secret")
    whois = ask(bob, "WHOIS alice")
    assert ("378", ("bob", "alice", f"is connecting from *@{V6} {V6}")) in whois
    assert ("338", ("bob", "alice", f"~u@{V6}", V6, "Actual user@host, Actual IP")) in whois
    assert ask(bob, "WHO alice %i")[0] == ("354", ("bob", V6))
    assert [p[5] for c, p in ask(bob, "WHO 2001:db8::*") if c == "352"] == ["alice"]


def test_an_ipv6_address_shown_never_starts_with_a_colon() -> None:
    server = make_server()
    alice = Client(server, ip="::1").register("alice")
    whois = ask(alice, "WHOIS alice")
    assert ("338", ("alice", "alice", "~u@::1", "0::1", "Actual user@host, Actual IP")) in whois
    assert ask(alice, "WHO alice %i")[0] == ("354", ("alice", "0::1"))


def test_operators_hear_the_address_of_connecting_clients() -> None:
    server = server_with_oper()
    oper = Client(server, ip=OTHER).register("oper")
    oper.send("OPER admin secret")
    oper.messages()
    Client(server, ip=V4).register("alice")
    notices = [m.params[-1] for m in oper.messages() if m.command == "NOTICE"]
    assert f"*** Client connecting: alice (~u@{cloak_of(V4)}) [{V4}]" in notices


def test_cloaking_can_be_turned_off() -> None:
    server = server_with_oper(enabled=False)
    alice = Client(server, ip=V4).register("alice")
    assert alice.session.user.host == V4
    assert ask(alice, "WHOIS alice")[0] == ("311", ("alice", "alice", "~u", V4, "*", "Real Name"))
    ipv6 = Client(server, ip="::1").register("bob")
    assert ipv6.session.user.prefix_bytes == b"bob!~u@0::1"


def test_a_named_peer_keeps_its_name() -> None:
    """A Unix socket client is ``localhost``: there is no address to hide."""
    server = make_server()
    peer = PeerInfo(ip="127.0.0.1", transport="unix", hostname="localhost")
    session = server.connect(FakeSink(), peer)
    assert session is not None
    assert session.user.host == "localhost"


def test_rehash_changes_the_cloaks_of_new_clients_only() -> None:
    server = make_server()
    alice = Client(server, ip=V4).register("alice")
    config = dataclasses.replace(server.config, cloaks=CloaksSection(suffix="users.example"))
    server.apply_config(config)
    bob = Client(server, ip=V4).register("bob")
    assert alice.session.user.host == cloak_of(V4)
    assert bob.session.user.host.endswith(".users.example")
    assert bob.session.user.host == Cloaker(server.cloak_secret, "users.example").cloak(V4)
    server.set_cloak_secret("a secret kept in the database")
    carol = Client(server, ip=V4).register("carol")
    assert carol.session.user.host == Cloaker(
        "a secret kept in the database", "users.example"
    ).cloak(V4)


def test_the_config_secret_wins_over_the_stored_one() -> None:
    server = make_server()
    server.set_cloak_secret("a secret kept in the database")
    assert Client(server, ip=V4).register("alice").session.user.host == cloak_of(V4)


def test_servers_without_a_secret_differ() -> None:
    """No secret in the config and none stored: each server makes its own."""
    config = dataclasses.replace(make_server().config, cloaks=CloaksSection())
    one, two = Server(config, clock=FakeClock()), Server(config, clock=FakeClock())
    assert len(one.cloak_secret) == 64
    assert one.cloak_secret != two.cloak_secret


# -- bans ------------------------------------------------------------------------------------


def banned_room(server: Server, *modes: str) -> Client:
    """bob (from elsewhere) holds #room with ``modes`` set."""
    bob = Client(server, ip=OTHER).register("bob")
    bob.send("JOIN #room", *(f"MODE #room {m}" for m in modes))
    bob.messages()
    return bob


def cloak_parts(ip: str) -> list[str]:
    return re.split(r"[.:]", cloak_of(ip))


@pytest.mark.parametrize(
    ("ip", "mask"),
    [
        (V4, f"*!*@{V4}"),
        (V4, "*!*@203.0.113.*"),
        (V4, f"*!*@{cloak_of(V4)}"),
        (V4, f"alice!~u@{cloak_of(V4)}"),
        (V4, "*!*@*.{1}.{2}.IP"),  # the /24
        (V4, "*!*@*.{2}.IP"),  # the /16
        (V6, f"*!*@{V6}"),
        (V6, "*!*@2001:db8:*"),
        (V6, f"*!*@{cloak_of(V6)}"),
        (V6, "*!*@*:{1}:{2}:IP"),  # the /64
    ],
)
def test_a_ban_on_the_cloak_or_the_address_matches(ip: str, mask: str) -> None:
    server = make_server()
    banned_room(server, f"+b {mask.format(*cloak_parts(ip))}")
    alice = Client(server, ip=ip).register("alice")
    assert ask(alice, "JOIN #room") == [("474", ("alice", "#room", "Cannot join channel (+b)"))]
    neighbour = Client(server, ip="192.0.2.1" if ip == V4 else "2001:db9::1").register("carol")
    assert ask(neighbour, "JOIN #room")[0][0] == "JOIN"


def test_a_member_banned_by_address_cannot_speak() -> None:
    server = make_server()
    bob = banned_room(server)
    alice = Client(server, ip=V4).register("alice")
    alice.send("JOIN #room")
    bob.send(f"MODE #room +b *!*@{V4}")
    alice.messages()
    bob.messages()
    assert ask(alice, "PRIVMSG #room :hi") == [
        ("404", ("alice", "#room", "Cannot send to channel"))
    ]
    assert bob.messages() == []


def test_exceptions_match_the_address_and_the_cloak() -> None:
    server = make_server()
    banned_room(server, "+b *!*@*", f"+e *!*@{V4}")
    alice = Client(server, ip=V4).register("alice")
    assert ask(alice, "JOIN #room")[0][0] == "JOIN"
    server2 = make_server()
    banned_room(server2, "+i", f"+I *!*@{cloak_of(V4)}")
    alice2 = Client(server2, ip=V4).register("alice")
    assert ask(alice2, "JOIN #room")[0][0] == "JOIN"
    server3 = make_server()
    banned_room(server3, "+i", f"+I *!*@{V4}")
    carol = Client(server3, ip=V4).register("carol")
    assert ask(carol, "JOIN #room")[0][0] == "JOIN"


def test_a_ban_on_the_cloak_still_matches_after_chghost() -> None:
    server = server_with_oper()
    bob = banned_room(server, f"+b *!*@{cloak_of(V4)}")
    alice = Client(server, ip=V4).register("alice")
    bob.send("OPER admin secret", "CHGHOST alice project.example")
    assert alice.session.user.host == "project.example"
    assert ask(alice, "JOIN #room")[0][0] == "474"


# -- config ----------------------------------------------------------------------------------


def test_config_keys_and_their_checks() -> None:
    config = parse_config('[cloaks]\nenabled = false\nsecret = "0123456789abcdef"\nsuffix = "x.y"')
    assert config.cloaks == CloaksSection(enabled=False, secret="0123456789abcdef", suffix="x.y")
    assert parse_config("").cloaks == CloaksSection(enabled=True, secret="", suffix="IP")
    for text, key in [
        ('[cloaks]\nsecret = "short"', "cloaks.secret"),
        ('[cloaks]\nsecret = "0123456789abcdef\\n"', "cloaks.secret"),
        ('[cloaks]\nsuffix = ""', "cloaks.suffix"),
        ('[cloaks]\nsuffix = ".ip"', "cloaks.suffix"),
        ('[cloaks]\nsuffix = "a b"', "cloaks.suffix"),
        ('[cloaks]\nsuffix = "a..b"', "cloaks.suffix"),
        (f'[cloaks]\nsuffix = "{"x" * 33}"', "cloaks.suffix"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(text)
        assert [issue.key for issue in caught.value.issues] == [key], text
