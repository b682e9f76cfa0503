"""WEBIRC (the IRCv3 WebIRC spec) in the core, line by line: the address a gateway names
becomes the connection's for its host, counts and limits; refusals close with ERROR."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.config import WebircSection
from hubbub.passwords import hash_password
from hubbub.server.commands.webirc import options
from hubbub.server.core import Server
from tests.cloaks import cloak_of
from tests.server.harness import Client, host_of, make_server, replies

GATEWAY = "192.0.2.10"
PASSWORD = "gateway-secret"


def webirc_server(password: str = PASSWORD, **limits: int) -> Server:
    server = make_server(None, **limits)
    block = WebircSection(password=password, hosts=(f"{GATEWAY}/32",), name="lounge")
    server.apply_config(dataclasses.replace(server.config, webirc=(block,)))
    return server


def test_webirc_from_a_gateway_gives_the_user_its_address() -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY)
    client.send(f"WEBIRC {PASSWORD} thelounge user.example 203.0.113.5")
    client.register("alice")
    assert client.session.peer.ip == "203.0.113.5"
    assert client.session.user.host == cloak_of("203.0.113.5")
    assert server.ip_counts == {"203.0.113.5": 1}  # (the gateway's count moved with it)
    whois = dict(replies_of(client, "WHOIS alice"))
    assert whois["338"][2:4] == ("~u@203.0.113.5", "203.0.113.5")
    assert whois["320"][-1] == "is connecting via the WebIRC gateway lounge"
    assert "671" not in whois  # (no secure option)


def replies_of(client: Client, line: str) -> list[tuple[str, tuple[str, ...]]]:
    client.messages()
    client.send(line)
    return replies(client)


def test_an_argon2_password_is_checked_off_the_event_loop() -> None:
    server = webirc_server(password=hash_password(PASSWORD))
    client = Client(server, ip=GATEWAY)
    client.send(f"WEBIRC {PASSWORD} gw host 2001:db8::5")
    client.register("bob")
    assert host_of(server).lanes == ["hash"]
    assert client.session.peer.ip == "2001:db8::5"
    assert server.ip_counts == {"2001:db8::/64": 1}


def test_a_wrong_password_is_refused_with_error() -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY)
    client.send("WEBIRC wrong gw host 203.0.113.5")
    assert client.messages()[-1].params[-1].endswith("(Invalid WebIRC password)")
    assert client.closed
    assert server.ip_counts == {}


def test_an_address_that_is_no_gateway_is_refused() -> None:
    server = webirc_server()
    client = Client(server, ip="198.51.100.1")
    client.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5")
    assert client.messages()[-1].command == "ERROR"
    assert client.closed


@pytest.mark.parametrize("ip", ["not-an-ip", "203.0.113.5:4000", "fe80::1%eth0", ""])
def test_an_invalid_ip_is_refused(ip: str) -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY)
    client.send(f"WEBIRC {PASSWORD} gw host :{ip}")
    assert client.messages()[-1].params[-1].endswith("(Invalid WebIRC IP address)")
    assert client.closed


def test_webirc_after_registration_is_refused() -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY).register("late")
    assert replies_of(client, f"WEBIRC {PASSWORD} gw host 203.0.113.5") == [
        ("462", ("late", "You may not reregister"))
    ]
    assert client.session.peer.ip == GATEWAY


def test_webirc_twice_is_refused() -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY)
    client.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5")
    client.send(f"WEBIRC {PASSWORD} gw host 203.0.113.6")
    assert client.closed
    assert server.ip_counts == {}


def test_the_named_address_is_held_to_max_clients_per_ip() -> None:
    server = webirc_server(max_clients_per_ip=1)
    first = Client(server, ip=GATEWAY)  # (the gateway's own address is not limited)
    second = Client(server, ip=GATEWAY)
    first.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5")
    second.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5")
    assert second.messages()[-1].params[-1].endswith("(Too many connections from your IP address)")
    assert second.closed
    assert server.ip_counts == {"203.0.113.5": 1}
    first.register("first")
    first.send("QUIT")
    assert server.ip_counts == {}


def test_secure_is_taken_only_over_a_secure_link() -> None:
    server = webirc_server()
    client = Client(server, ip=GATEWAY)  # (plain TCP from another machine)
    client.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5 :secure remote-port=5555")
    assert not client.session.peer.secure
    local = make_server()
    block = WebircSection(password=PASSWORD, hosts=("127.0.0.1",))
    local.apply_config(dataclasses.replace(local.config, webirc=(block,)))
    client = Client(local, ip="127.0.0.1")
    client.send(f"WEBIRC {PASSWORD} gw host 203.0.113.5 :secure")
    assert client.session.peer.secure
    assert client.session.peer.gateway == "gw"


def test_options_are_parsed() -> None:
    assert options("secure remote-port=5555  local-port=6697") == {
        "secure": "",
        "remote-port": "5555",
        "local-port": "6697",
    }
