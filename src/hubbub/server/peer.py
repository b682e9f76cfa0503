"""Who is on the other end of a connection, from what the socket says (pure, no I/O).

Every transport (the epoll set, asyncio TCP/TLS/Unix, WebSocket) hands the core a ``PeerInfo``;
``peer_info`` builds it the same way for all of them from the socket-level address. Behind a
trusted reverse proxy, :func:`forwarded_ip` reads the client's address from the headers the
proxy adds; a WebIRC gateway's ``WEBIRC`` names it with :func:`normal_ip`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from hubbub.server.session import SHARED_STRINGS, PeerInfo, shared

__all__ = [
    "UNKNOWN_IP",
    "UNIX_IP",
    "Network",
    "forwarded_ip",
    "in_networks",
    "is_loopback",
    "networks",
    "normal_ip",
    "peer_info",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""An address block of the config (``[limits] exempt``, ``trusted_proxies``...)."""

UNIX_IP = "127.0.0.1"
"""The address a Unix-socket client gets: it is on this machine."""

UNKNOWN_IP = "0.0.0.0"
"""The address of an IP client whose socket would not say who it is."""

_MAPPED = "::ffff:"

_peers: dict[tuple[str, str, bool, str | None, str | None], PeerInfo] = {}
"""One ``PeerInfo`` for each address, transport and certificate seen lately: a thousand
clients from one address share one (80 bytes each otherwise). Bounded as
:func:`~hubbub.server.session.shared` is."""


def _one(
    ip: str, transport: str, secure: bool, certfp: str | None, hostname: str | None = None
) -> PeerInfo:
    key = (ip, transport, secure, certfp, hostname)
    found = _peers.get(key)
    if found is None:
        if len(_peers) >= SHARED_STRINGS:
            _peers.clear()
        found = _peers[key] = PeerInfo(
            ip=shared(ip), secure=secure, transport=transport, hostname=hostname, certfp=certfp
        )
    return found


def peer_info(
    address: object,
    *,
    transport: str,
    secure: bool = False,
    unix: bool = False,
    certfp: str | None = None,
) -> PeerInfo:
    """The ``PeerInfo`` of a client whose socket reports ``address``.

    ``address`` is the peer name as the socket gives it: ``(ip, port)`` (IPv6 adds flow info
    and scope; the port is not kept), or for a Unix socket a path, ``""`` or None. An
    IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is reported as the IPv4 address, so bans
    and per-address limits see one form. A Unix-socket client (``unix``) is ``localhost``,
    127.0.0.1, and secure: nothing crosses a network. ``transport`` names the kind (``tcp``,
    ``tls``, ``unix``, ``ws``, ``wss``); ``secure`` is whether the connection is encrypted.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        ip = str(address[0])
        if ip.startswith(_MAPPED):
            ip = ip[len(_MAPPED) :]
        return _one(ip, transport, secure, certfp)
    if unix:
        return _one(UNIX_IP, transport, True, certfp, hostname="localhost")
    return _one(UNKNOWN_IP, transport, secure, certfp)


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The address blocks a config list names (``"192.0.2.10"``, ``"10.0.0.0/8"``); the
    config checked them already."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_loopback(ip: str) -> bool:
    """True for a loopback address as :class:`PeerInfo` has it (``127.*``, ``::1``; a Unix
    socket's client has :data:`UNIX_IP`)."""
    return ip.startswith("127.") or ip == "::1"


def in_networks(ip: str, blocks: Sequence[Network]) -> bool:
    """True if ``ip`` (an address as :class:`PeerInfo` has it) is in one of ``blocks``."""
    if not blocks:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in block for block in blocks)


def normal_ip(text: str) -> str | None:
    """``text`` as the core writes an address (``2001:db8::1``, an IPv4-mapped one as IPv4),
    or None when it is not one: a header or a ``WEBIRC`` parameter from a proxy, which may
    put brackets around an IPv6 address. A port, a zone (``%eth0``) or anything else makes
    it no address."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or "%" in text or len(text) > 45:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def forwarded_ip(
    peer_ip: str,
    forwarded_for: Sequence[str],
    real_ip: Sequence[str],
    trusted: Sequence[Network],
) -> str | None:
    """The client's address as a trusted reverse proxy at ``peer_ip`` reports it, or None
    (the proxy's own address stands): the peer is not in ``trusted``, or it said nothing
    that can be believed.

    ``forwarded_for`` holds the ``X-Forwarded-For`` header lines, each a comma-separated list
    to which every proxy on the way appended the address it saw. Read from the right, each
    address a trusted proxy wrote is believed; the first one that is not a trusted proxy's is
    the client's. Anything left of it was written by the client itself (or by proxies
    nobody vouches for) and is never read, so a client cannot choose its address by sending
    the header itself. An entry that is not an address, where one is read, ends it: None
    (empty entries are skipped: they claim nothing).
    When every address is a trusted proxy's, the client is the leftmost. Without
    ``X-Forwarded-For``, one valid ``X-Real-IP`` (``real_ip``: its header lines) is taken.
    """
    if not in_networks(peer_ip, trusted):
        return None
    entries = [e for line in forwarded_for for e in line.split(",") if e and not e.isspace()]
    if entries:
        found = None
        for entry in reversed(entries):
            found = normal_ip(entry)
            if found is None:
                return None
            if not in_networks(found, trusted):
                return found
        return found
    if len(real_ip) == 1:
        return normal_ip(real_ip[0])
    return None
