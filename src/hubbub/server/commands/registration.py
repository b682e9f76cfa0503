"""Connection registration: PASS, NICK, USER, CAP, PING, PONG, QUIT and the welcome burst."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from hubbub.passwords import check_password
from hubbub.protocol import numerics as n
from hubbub.protocol.caps import CAP_NAMES, CAPS_BY_NAME, Cap, CapBits
from hubbub.protocol.casemap import Folded, is_valid_nick
from hubbub.protocol.message import Message
from hubbub.protocol.numbers import parse_number
from hubbub.server.commands.accounts import (
    SERVICE_NAME,
    abort_on_registration,
    nick_refused,
    registration_nick_refused,
    watch_nick,
)
from hubbub.server.commands.dispatch import Command, Context, Help, defer_reply
from hubbub.server.response import Response
from hubbub.server.session import Session, shared

if TYPE_CHECKING:
    from hubbub.server.core import Server

USER_MODES = "iosBw"
CHANNEL_MODES = "CbeIiklmnostv"
CHANNEL_MODES_WITH_PARAM = "beIklov"

ADVERTISED: tuple[CapBits, ...] = (
    Cap.BATCH,
    Cap.CAP_NOTIFY,
    Cap.CHGHOST,
    Cap.ECHO_MESSAGE,
    Cap.EXTENDED_JOIN,
    Cap.EXTENDED_MONITOR,
    Cap.INVITE_NOTIFY,
    Cap.LABELED_RESPONSE,
    Cap.MESSAGE_TAGS,
    Cap.MULTI_PREFIX,
    Cap.NO_IMPLICIT_NAMES,
    Cap.SERVER_TIME,
    Cap.SETNAME,
    Cap.USERHOST_IN_NAMES,
    Cap.AWAY_NOTIFY,
    Cap.MULTILINE,
)
"""The capabilities offered in CAP LS: each one works end to end."""


NICK_CHANGES = 5
NICK_CHANGE_WINDOW = 20.0
"""A client may change its nick :data:`NICK_CHANGES` times in this many seconds (operators
excepted); more get ``438 ERR_NICKTOOFAST``, as solanum's anti_nick_flood does. Each change
is told to every client that shares a channel with it or MONITORs either nick, and a new
nick is a new identity for every channel's bans: 40 connections cycling nicks watched by
1,000 MONITORs had held another client's PONG 4 s (an attack audit)."""


def handle_pass(ctx: Context) -> None:
    if ctx.session.registered:
        ctx.reply.numeric(n.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    ctx.session.pass_given = ctx.params[0]


def handle_nick(ctx: Context) -> None:
    server, session, user, reply = ctx.server, ctx.session, ctx.user, ctx.reply
    if not ctx.params or not ctx.params[0]:
        reply.numeric(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = ctx.params[0]
    if not is_valid_nick(nick, server.limits.nicklen):
        reply.numeric(n.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
        return
    folded = server.fold(nick)
    if folded == server.fold(SERVICE_NAME):
        # Whoever held it would receive `/msg NickServ IDENTIFY <password>`.
        reply.numeric(n.ERR_ERRONEUSNICKNAME, nick, "Nickname is reserved for a service")
        return
    if folded == nick:
        folded = Folded(nick)  # one string for both, as most nicks are lower case
    network = server.network
    holder = network.users.get(folded)
    if holder is not None and holder is not user:
        reply.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
        return
    if nick == user.nick:
        return
    if (
        session.registered
        and folded != user.folded
        and nick_refused(server, session, nick, folded, reply)  # a registered nick, strict
    ):
        return
    if session.registered and not nick_change_allowed(ctx, nick):
        return
    cluster = server.cluster
    if cluster is not None and folded != user.folded and not cluster.holds(folded):
        claim_in_cluster(ctx, nick, folded)
        return
    take_nick(ctx, nick, folded)


def nick_change_allowed(ctx: Context, nick: str) -> bool:
    """Count a nick change of a registered client; False (answered with 438) when it has
    made :data:`NICK_CHANGES` already within the window."""
    server, session = ctx.server, ctx.session
    now = server.clock()
    count, since = server.nick_changes.get(session, (0, now))
    if now - since >= NICK_CHANGE_WINDOW:
        count, since = 0, now
    if count >= NICK_CHANGES and "o" not in ctx.user.modes:
        wait = max(1, math.ceil(since + NICK_CHANGE_WINDOW - now))
        ctx.reply.numeric(
            n.ERR_NICKTOOFAST, nick, f"Nick change too fast. Please wait {wait} seconds."
        )
        return False
    server.nick_changes[session] = (count + 1, since)
    return True


def take_nick(ctx: Context, nick: str, folded: Folded) -> None:
    """NICK, once every check passed (and the cluster gave the nick to this node)."""
    server, session, user = ctx.server, ctx.session, ctx.user
    if not session.registered:
        server.network.claim_nick(user, nick, folded)
        try_register(ctx)
        return
    server.network.change_nick(user, nick, folded)
    watch_nick(server, session, ctx.reply)


def claim_in_cluster(ctx: Context, nick: str, folded: Folded) -> None:
    """Cluster mode: ask the cluster for ``nick`` (one node in the whole network gets it),
    holding the client's next lines until it answers; then take it or answer ``433``."""
    server, session = ctx.server, ctx.session
    cluster = server.cluster
    assert cluster is not None
    reply = defer_reply(ctx)
    session.checking_password = True

    def answered(won: bool | None) -> None:
        session.checking_password = False
        if session.closed:
            if won:
                cluster.give_back(folded)
            return
        holder = server.network.users.get(folded)
        if won and (holder is None or holder is session.user):
            with server.answering(reply):
                take_nick(Context(server, session, ctx.msg, reply), nick, folded)
        else:
            if won:
                cluster.give_back(folded)
            why = "Nickname is already in use" if won is not None else CLUSTER_UNREACHABLE
            reply.numeric(n.ERR_NICKNAMEINUSE, nick, why)
        if not session.closed:
            reply.flush()
        server.resume(session)

    cluster.claim(folded, answered)


CLUSTER_UNREACHABLE = "Nickname could not be claimed: the network's cluster is unreachable"
"""Why a NICK is refused when the cluster cannot decide (never granted on a guess)."""


FALLBACK_USER = "user"
"""The user name of a client whose USER name has no usable character."""


def handle_user(ctx: Context) -> None:
    session, reply = ctx.session, ctx.reply
    if session.registered or session.user.username:
        reply.numeric(n.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    if not ctx.params[0] or not ctx.params[3]:  # an empty user name or real name
        reply.numeric(n.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    # Only ASCII letters, digits and "-_." are kept (so USERLEN counts bytes); a name with
    # none of those (emoji, say) gets a stand-in rather than a refusal its client would not
    # know how to fix.
    raw = (
        "".join(c for c in ctx.params[0] if c.isascii() and c.isalnum() or c in "-_.")
        or FALLBACK_USER
    )
    ctx.server.network.introduce(
        session.user,
        shared("~" + raw[: ctx.server.limits.userlen - 1]),
        shared(ctx.params[3][: ctx.server.limits.realnamelen]),
    )
    try_register(ctx)


def try_register(ctx: Context) -> None:
    """Finish registration when NICK and USER are in and CAP negotiation is over."""
    server, session = ctx.server, ctx.session
    if (
        session.registered
        or session.user.nick == "*"
        or not session.user.username
        or session.cap_negotiating
        or session.checking_password
    ):
        return
    if registration_nick_refused(ctx):
        return
    required = server.config.auth.password
    if not required:
        complete_registration(server, session, ctx.reply)
        return
    given = session.pass_given
    if given is None:
        _refuse(server, session, ctx.reply)
        return
    # An argon2 check takes tens of milliseconds: it runs off the event loop.
    session.checking_password = True

    def done(ok: bool) -> None:
        if session.closed:
            return
        reply = Response(session, server.name, None)
        if ok:
            complete_registration(server, session, reply)
        else:
            _refuse(server, session, reply)
        if not session.closed:
            reply.flush()
        server.resume(session)

    ctx.reply.flush()
    server.offload(lambda: check_password(required, given), done, "hash", abandon=True)


def _refuse(server: Server, session: Session, reply: Response) -> None:
    reply.numeric(n.ERR_PASSWDMISMATCH, "Password incorrect")
    reply.flush()
    server.quit(session, "Bad password", error="Bad password")


def complete_registration(server: Server, session: Session, reply: Response) -> None:
    """The client is in: send the welcome burst; the network tells who watches for it."""
    with server.answering(reply):
        server.register(session)
        welcome(server, session, reply)
    watch_nick(server, session, reply)


def welcome(server: Server, session: Session, reply: Response) -> None:
    """The burst a client gets on registering: 001-005, LUSERS and the MOTD."""
    r = reply
    network = server.config.server.network
    created = time.strftime("%a %b %d %Y at %H:%M:%S UTC", time.gmtime(server.created))
    user = session.user  # (its prefix is made here without keeping it: see User.prefix_bytes)
    r.numeric(
        n.RPL_WELCOME, f"Welcome to the {network} Network, {user.nick}!{user.username}@{user.host}"
    )
    r.numeric(n.RPL_YOURHOST, f"Your host is {server.name}, running version {server.version}")
    r.numeric(n.RPL_CREATED, f"This server was created {created}")
    r.numeric(
        n.RPL_MYINFO,
        server.name,
        server.version,
        USER_MODES,
        CHANNEL_MODES,
        CHANNEL_MODES_WITH_PARAM,
    )
    send_isupport(server, reply)
    send_lusers(server, reply)
    send_motd(server, reply)


def send_isupport(server: Server, reply: Response) -> None:
    """The RPL_ISUPPORT lines."""
    for tokens in server.isupport:
        reply.numeric(n.RPL_ISUPPORT, *tokens, "are supported by this server")


def send_lusers(server: Server, r: Response) -> None:
    """RPL_LUSER* replies (251-255, 265, 266)."""
    users, invisible, opers, unknown = server.stats()
    r.numeric(
        n.RPL_LUSERCLIENT,
        f"There are {users - invisible} users and {invisible} invisible on 1 servers",
    )
    r.numeric(n.RPL_LUSEROP, str(opers), "operator(s) online")
    r.numeric(n.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    r.numeric(n.RPL_LUSERCHANNELS, str(len(server.network.channels)), "channels formed")
    r.numeric(n.RPL_LUSERME, f"I have {users} clients and 0 servers")
    r.numeric(
        n.RPL_LOCALUSERS,
        str(users),
        str(server.network.max_users),
        f"Current local users {users}, max {server.network.max_users}",
    )
    r.numeric(
        n.RPL_GLOBALUSERS,
        str(users),
        str(server.network.max_users),
        f"Current global users {users}, max {server.network.max_users}",
    )


def send_motd(server: Server, r: Response) -> None:
    """The message of the day (375, 372..., 376), or 422 when there is none."""
    if not server.motd:
        r.numeric(n.ERR_NOMOTD, "MOTD File is missing")
        return
    r.numeric(n.RPL_MOTDSTART, f"- {server.name} Message of the day - ")
    for line in server.motd:
        r.numeric_wrapped(n.RPL_MOTD, text=line, lead="- ")
    r.numeric(n.RPL_ENDOFMOTD, "End of /MOTD command.")


def offered(server: Server, session: Session | None = None) -> list[CapBits]:
    """The capabilities this server offers now (some depend on its config, and ``sts`` on
    the connection: raw TCP and TLS clients only, browsers have HSTS)."""
    caps = list(ADVERTISED)
    caps.extend(cap for cap in server.extra_caps if cap not in caps)
    if (
        server.sts_port is not None
        and session is not None
        and session.peer.transport in ("tcp", "tls")
        and session.cap_version >= 302
    ):
        caps.append(Cap.STS)
    return caps


def cap_ls_value(server: Server, session: Session, cap: CapBits, version: int) -> str:
    """A capability as CAP LS shows it: with its value (``sasl=PLAIN``) from 302 on."""
    value = server.cap_values.get(cap) if version >= 302 else None
    if cap == Cap.STS:
        value = sts_value(server, session)
    return f"{CAP_NAMES[cap]}={value}" if value else CAP_NAMES[cap]


def sts_value(server: Server, session: Session) -> str:
    """The STS policy: where to go on a plain connection, how long to stay on a secure one."""
    sts = server.config.sts
    if not session.peer.secure:
        return f"port={server.sts_port}"
    return f"duration={sts.duration}" + (",preload" if sts.preload else "")


def handle_cap(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    sub = ctx.params[0].upper()
    target = session.user.nick if session.registered else "*"
    if sub == "LS":
        if not session.registered:
            session.cap_negotiating = True
        version = parse_number(ctx.params[1]) if len(ctx.params) > 1 else None
        if version is None:
            version = 301
        session.cap_version = max(session.cap_version, version)
        if version >= 302:
            session.set_caps(session.caps | Cap.CAP_NOTIFY)
        names = [
            cap_ls_value(server, session, c, version)
            for c in offered(server, session)
            if version >= 302 or c != Cap.STS  # (a policy is its value: 302 only)
        ]
        _send_cap_list(ctx, target, "LS", names, multiline=version >= 302)
    elif sub == "LIST":
        names = [CAP_NAMES[c] for c in offered(server, session) if session.caps & c]
        _send_cap_list(ctx, target, "LIST", names, multiline=session.cap_version >= 302)
    elif sub == "REQ":
        if not session.registered:
            session.cap_negotiating = True
        requested = ctx.params[1] if len(ctx.params) > 1 else ""
        add, remove = Cap.NONE, Cap.NONE
        ok = bool(requested.strip())
        for token in requested.split():
            name = token[1:] if token.startswith("-") else token
            cap = CAPS_BY_NAME.get(name)
            if cap is None or cap == Cap.STS or cap not in offered(server, session):
                ok = False
                break
            if token.startswith("-"):
                remove |= cap
            else:
                add |= cap
        if remove & Cap.CAP_NOTIFY and session.cap_version >= 302:
            # CAP LS 302 implies cap-notify, and the spec forbids turning it off then: the
            # client would miss CAP DEL. The request is refused whole (NAK), as any other.
            ok = False
        if ok:
            session.set_caps((session.caps | add) & ~remove)
            reply.add(Message("CAP", (target, "ACK", requested.strip()), server.name))
        else:
            reply.add(Message("CAP", (target, "NAK", requested), server.name))
    elif sub == "END":
        if not session.registered:
            session.cap_negotiating = False
            abort_on_registration(ctx)
            try_register(ctx)
    else:
        reply.numeric(n.ERR_INVALIDCAPCMD, ctx.params[0], "Invalid CAP command")


def _send_cap_list(ctx: Context, target: str, sub: str, names: list[str], multiline: bool) -> None:
    server = ctx.server
    lines: list[list[str]] = [[]]
    length = 0
    for name in names:
        if length + len(name) + 1 > 400 and lines[-1]:
            lines.append([])
            length = 0
        lines[-1].append(name)
        length += len(name) + 1
    if not multiline:
        lines = [[name for line in lines for name in line]]
    for i, line in enumerate(lines):
        more = ("*",) if i < len(lines) - 1 else ()
        ctx.reply.add(Message("CAP", (target, sub, *more, " ".join(line)), server.name))


def handle_ping(ctx: Context) -> None:
    ctx.reply.add(Message("PONG", (ctx.server.name, ctx.params[0]), ctx.server.name))


def handle_pong(ctx: Context) -> None:
    ctx.session.ping_sent = None


def handle_quit(ctx: Context) -> None:
    session = ctx.session
    reason = ctx.params[0] if ctx.params else ""
    ctx.reply.flush()
    if session.registered:
        said = f"Quit: {reason}" if reason else "Client quit"  # ("Quit: " marks the user's words)
        ctx.server.quit(session, said, error=said)
    else:
        ctx.server.quit(session, "Client quit", error="Client quit")


COMMANDS = {
    "PASS": Command(
        handle_pass,
        min_params=1,
        pre_registration=True,
        help=Help("<password>", "Gives the server password, before NICK and USER."),
    ),
    "NICK": Command(
        handle_nick, pre_registration=True, help=Help("<nick>", "Sets or changes your nickname.")
    ),
    "USER": Command(
        handle_user,
        min_params=4,
        pre_registration=True,
        help=Help("<user> 0 * <realname>", "Gives your username and real name when connecting."),
    ),
    "CAP": Command(
        handle_cap,
        min_params=1,
        pre_registration=True,
        help=Help("LS|LIST|REQ|END [...]", "Negotiates IRCv3 capabilities with the server."),
    ),
    "PING": Command(
        handle_ping,
        min_params=1,
        pre_registration=True,
        help=Help("<token>", "Asks the server for a PONG with the same token."),
    ),
    "PONG": Command(
        handle_pong, pre_registration=True, help=Help("<token>", "Answers a PING from the server.")
    ),
    "QUIT": Command(
        handle_quit, pre_registration=True, help=Help("[<reason>]", "Disconnects from the server.")
    ),
}
