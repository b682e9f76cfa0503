"""Who is on the other end of a connection, from what the socket says (pure, no I/O).

Every transport (the epoll set, asyncio TCP/TLS/Unix, WebSocket) hands the core a ``PeerInfo``;
``peer_info`` builds it the same way for all of them from the socket-level address.
"""

from __future__ import annotations

from hubbub.server.session import SHARED_STRINGS, PeerInfo, shared

__all__ = ["UNKNOWN_IP", "UNIX_IP", "peer_info"]

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
