"""peer_info: one PeerInfo for every transport, from socket-level addresses (no sockets)."""

from __future__ import annotations

import pytest

from hubbub.server.peer import forwarded_ip, networks, normal_ip, peer_info
from hubbub.server.session import PeerInfo


def test_an_ipv4_client() -> None:
    peer = peer_info(("192.0.2.7", 51234), transport="tcp")
    assert peer == PeerInfo(ip="192.0.2.7", secure=False, transport="tcp")
    assert peer.hostname is None


def test_an_ipv6_peername_has_four_fields() -> None:
    peer = peer_info(("2001:db8::1", 6697, 0, 0), transport="tls", secure=True)
    assert peer == PeerInfo(ip="2001:db8::1", secure=True, transport="tls")


@pytest.mark.parametrize("transport", ["tcp", "tls", "ws", "wss"])
def test_an_ipv4_mapped_address_is_reported_as_ipv4(transport: str) -> None:
    peer = peer_info(("::ffff:198.51.100.4", 4000, 0, 0), transport=transport)
    assert (peer.ip, peer.transport) == ("198.51.100.4", transport)


@pytest.mark.parametrize("address", ["", "/run/hubbub.sock", b"", None])
@pytest.mark.parametrize(("transport", "given_secure"), [("unix", True), ("ws", False)])
def test_a_unix_socket_client_is_localhost_and_secure(
    address: object, transport: str, given_secure: bool
) -> None:
    peer = peer_info(address, transport=transport, secure=given_secure, unix=True)
    assert peer == PeerInfo(ip="127.0.0.1", secure=True, transport=transport, hostname="localhost")


@pytest.mark.parametrize("address", [None, "", ("192.0.2.1",), ()])
def test_an_ip_socket_that_does_not_say_who_is_there(address: object) -> None:
    peer = peer_info(address, transport="wss", secure=True)
    assert peer == PeerInfo(ip="0.0.0.0", secure=True, transport="wss")
    assert peer.hostname is None


def test_a_port_that_is_not_a_number_does_not_matter() -> None:
    assert peer_info(("192.0.2.1", None), transport="tcp").ip == "192.0.2.1"


def test_certfp_is_kept() -> None:
    assert peer_info(("192.0.2.1", 1), transport="tls", secure=True, certfp="ab12").certfp == "ab12"
    assert peer_info("", transport="unix", unix=True, certfp="cd34").certfp == "cd34"


def test_addresses_are_shared_between_peers() -> None:
    # Many clients from one address keep one string: the epoll set relied on this.
    a = peer_info(("".join(["203.0.113.", "9"]), 1), transport="tcp")
    b = peer_info(("".join(["203.0.113.", "9"]), 2), transport="tcp")
    assert a.ip is b.ip


def test_clients_from_one_address_share_one_peer_info() -> None:
    # (80 bytes a client otherwise: the port, which differs, is not kept)
    a = peer_info(("198.51.100.20", 40001), transport="tcp")
    assert peer_info(("198.51.100.20", 40002), transport="tcp") is a
    assert peer_info(("198.51.100.20", 40003), transport="tls", secure=True) is not a
    assert peer_info(("198.51.100.21", 40001), transport="tcp") is not a
    tls = peer_info(("198.51.100.20", 1), transport="tls", secure=True, certfp="ab")
    assert peer_info(("198.51.100.20", 2), transport="tls", secure=True, certfp="cd") != tls
    unix = peer_info("", transport="unix", unix=True)
    assert peer_info(None, transport="unix", unix=True) is unix


TRUSTED = networks(["127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48"])


@pytest.mark.parametrize(
    ("forwarded_for", "real_ip", "expected"),
    [
        (["203.0.113.9"], [], "203.0.113.9"),
        # the rightmost address that is not a trusted proxy's; what the client wrote is left
        (["198.51.100.66, 203.0.113.9"], [], "203.0.113.9"),
        (["198.51.100.66", "203.0.113.9, 10.1.2.3"], [], "203.0.113.9"),
        (["203.0.113.9,10.1.2.3 , 127.0.0.1"], [], "203.0.113.9"),
        # every address a trusted proxy's: the leftmost
        (["10.9.9.9, 10.1.2.3"], [], "10.9.9.9"),
        # an entry that is not an address, where one is read: nothing is believed
        (["203.0.113.9, unknown"], [], None),
        (["203.0.113.9:4000"], [], None),
        (["garbage, 203.0.113.9"], [], "203.0.113.9"),  # (left of the client: never read)
        ([""], ["203.0.113.7"], "203.0.113.7"),  # (an empty header says nothing)
        ([], ["203.0.113.7"], "203.0.113.7"),
        ([], [" 2001:DB8::7 "], "2001:db8::7"),
        ([], ["[2001:db8::7]"], "2001:db8::7"),
        ([], ["::ffff:203.0.113.7"], "203.0.113.7"),
        ([], ["203.0.113.7", "203.0.113.8"], None),  # (which one?)
        ([], ["nope"], None),
        ([], [], None),
    ],
)
def test_forwarded_ip_from_a_trusted_proxy(
    forwarded_for: list[str], real_ip: list[str], expected: str | None
) -> None:
    assert forwarded_ip("127.0.0.1", forwarded_for, real_ip, TRUSTED) == expected


def test_forwarded_ip_from_an_untrusted_peer_is_never_taken() -> None:
    assert forwarded_ip("192.0.2.1", ["203.0.113.9"], ["203.0.113.9"], TRUSTED) is None
    assert forwarded_ip("127.0.0.1", ["203.0.113.9"], [], ()) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:0db8:0000::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", None),
        ("192.0.2.1:80", None),
        ("host.example", None),
        ("", None),
        ("1" * 100, None),
    ],
)
def test_normal_ip(text: str, expected: str | None) -> None:
    assert normal_ip(text) == expected
