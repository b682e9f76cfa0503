"""WEBIRC: a gateway names the address of the user it connects (the IRCv3 WebIRC spec).

A web client such as The Lounge or KiwiIRC connects every one of its users from its own
address; ``WEBIRC password gateway hostname ip [:options]``, sent before registration from an
address of a ``[[webirc]]`` block with its password, makes the connection the user's own for
everything: its host (or cloak), bans, the per-address limits and throttle, what operators
see. ``hostname`` is not taken (hubbub looks up no names: users are known by their address or
its cloak). The ``secure`` option marks the connection secure when the gateway's own
connection is (TLS, a Unix socket or loopback): the user's link to the gateway is encrypted,
and so is the gateway's to us.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.config import WebircSection
from hubbub.passwords import check_password
from hubbub.protocol import numerics as n
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.peer import in_networks, is_loopback, networks, normal_ip
from hubbub.server.session import PeerInfo, Session

if TYPE_CHECKING:
    from hubbub.server.core import Server

log = logging.getLogger("hubbub.webirc")

SECURE_OPTIONS = frozenset({"secure", "tls"})
"""The options that say the user's connection to the gateway is encrypted (``tls`` is the
older name some gateways send)."""


MAX_GATEWAY_NAME = 64
"""Characters of the name a gateway gives itself that the logs and WHOIS keep."""


def gateways_for(server: Server, ip: str) -> list[WebircSection]:
    """The ``[[webirc]]`` blocks whose ``hosts`` hold ``ip``."""
    return [g for g in server.config.webirc if in_networks(ip, networks(g.hosts))]


def options(text: str) -> dict[str, str]:
    """The options parameter, ``name[=value]`` separated by spaces, by lower-case name
    (values are not unescaped: none is used)."""
    found: dict[str, str] = {}
    for item in text.split(" "):
        if item:
            name, _, value = item.partition("=")
            found[name.lower()] = value
    return found


def link_secure(peer: PeerInfo) -> bool:
    """Whether the gateway's own connection can be called secure: encrypted, a Unix socket
    or a loopback address (the gateway runs on this machine)."""
    return peer.secure or is_loopback(peer.ip)


def handle_webirc(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    if session.registered:
        reply.numeric(n.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    password, name, _hostname, given_ip = ctx.params[:4]
    gateway_ip = session.peer.ip
    if session.peer.gateway is not None:
        _refuse(server, session, "WEBIRC given twice", name)
        return
    gateways = gateways_for(server, gateway_ip)
    if not gateways:
        _refuse(server, session, "WEBIRC is not usable from your address", name)
        return
    ip = normal_ip(given_ip)
    if ip is None:
        _refuse(server, session, "Invalid WebIRC IP address", name)
        return
    wanted = options(ctx.params[4]) if len(ctx.params) > 4 else {}
    secure = bool(SECURE_OPTIONS & wanted.keys()) and link_secure(session.peer)
    stored = [g.password for g in gateways]

    def done(matched: int) -> None:
        if session.closed:
            return
        if matched < 0:
            _refuse(server, session, "Invalid WebIRC password", name)
            return
        block = gateways[matched]
        label = block.name or name[:MAX_GATEWAY_NAME]
        peer = PeerInfo(
            ip=ip,
            secure=secure,
            transport=session.peer.transport,
            certfp=None,  # (the gateway's certificate is not the user's)
            gateway=label,
        )
        refused = server.readdress(session, peer)
        if refused is not None:
            log.info("WEBIRC from %s (%s) for %s refused: %s", gateway_ip, label, ip, refused)
            server.quit(session, refused, error=refused)
            return
        log.info("WEBIRC from %s (%s): the client is %s", gateway_ip, label, ip)

    def done_held(matched: int) -> None:
        done(matched)
        server.resume(session)

    def check() -> int:
        return next((i for i, s in enumerate(stored) if check_password(s, password)), -1)

    if any(s.startswith("$argon2") for s in stored):
        # An argon2 check takes tens of milliseconds: off the event loop, and the client's
        # next lines (NICK, USER) wait for the answer.
        session.checking_password = True
        server.offload(check, done_held, "hash", abandon=True)
    else:
        done(check())  # (constant-time compares)


def _refuse(server: Server, session: Session, why: str, name: str) -> None:
    """Refuse a WEBIRC: ``ERROR`` and close (the spec's answer), and a log line."""
    log.warning("WEBIRC from %s (gateway %r) refused: %s", session.peer.ip, name, why)
    server.quit(session, why, error=why)


COMMANDS = {
    "WEBIRC": Command(
        handle_webirc,
        min_params=4,
        pre_registration=True,
        help=Help(
            "<password> <gateway> <hostname> <ip> [:<options>]",
            "A WebIRC gateway names the address of the user it connects, before registration.",
        ),
    ),
}
