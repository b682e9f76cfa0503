"""Messaging: PRIVMSG, NOTICE, TAGMSG, AWAY and SETNAME."""

from __future__ import annotations

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import is_channel_name
from hubbub.protocol.message import MAX_LINE_BYTES, Message
from hubbub.server.channel import PREFIX_SYMBOLS
from hubbub.server.commands.accounts import handle_service_message
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.session import shared

SERVICE_NICK = "nickserv"
"""Messages to this (folded) nick go to the built-in account service."""


def fit_text(source: str, command: str, target: str, text: str) -> str:
    """``text`` cut (on a character boundary) so that the relayed line, with its source,
    fits in the 512-byte limit that every receiving client may enforce."""
    room = MAX_LINE_BYTES - 2 - len(f":{source} {command} {target} :".encode())
    if len(text) * 4 <= room:
        return text
    data = text.encode()
    if len(data) <= room:
        return text
    return data[: max(room, 0)].decode("utf-8", "ignore")


def _relay(ctx: Context, command: str) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    params = ctx.params
    quiet = command == "NOTICE"  # Modern IRC: no error replies to NOTICE
    if not params or not params[0]:
        if not quiet:
            reply.numeric(n.ERR_NORECIPIENT, f"No recipient given ({command})")
        return
    has_text = command == "TAGMSG"
    if not has_text and (len(params) < 2 or not params[1]):
        if not quiet:
            reply.numeric(n.ERR_NOTEXTTOSEND, "No text to send")
        return
    targets = params[0].split(",")
    if len(targets) > server.limits.max_targets:
        if not quiet:
            reply.numeric(n.ERR_TOOMANYTARGETS, params[0], "Too many recipients")
        return
    body = () if command == "TAGMSG" else (params[1],)
    client_tags = {k: v for k, v in ctx.msg.tags.items() if k[0] == "+"} if ctx.msg.tags else None
    if command == "TAGMSG" and not client_tags:
        return
    need = Cap.MESSAGE_TAGS if command == "TAGMSG" else Cap.NONE
    echo = bool(session.caps & Cap.ECHO_MESSAGE) and (
        command != "TAGMSG" or session.caps & Cap.MESSAGE_TAGS
    )
    mapping = server.casemapping
    for target in targets:
        if not target:
            continue
        status = ""
        name = target
        while name and name[0] in PREFIX_SYMBOLS:
            status += name[0]
            name = name[1:]
        if is_channel_name(name):
            channel = server.find_channel(name)
            if channel is None or channel.hidden_from(session):
                if not quiet:
                    reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
                continue
            member = channel.members.get(session)
            if (
                (member is None and "n" in channel.flags)
                or ("m" in channel.flags and not member)
                or (not member and channel.is_banned(session, mapping))
            ):
                if not quiet:
                    reply.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
                continue
            shown = status + channel.name
            text = (fit_text(session.prefix, command, shown, body[0]),) if body else ()
            out = Message(
                command, (shown, *text), session.prefix, server.tags(session, client_tags)
            )
            if status:
                lowest = min(PREFIX_SYMBOLS.index(c) for c in status)
                recipients = [m for m in channel.members if channel.rank(m) <= lowest]
                server.deliver(recipients, out, skip=session, need=need)
            else:
                server.deliver(channel.members, out, skip=session, need=need)
            if echo:
                reply.add(out)
            continue
        if status:
            if not quiet:
                reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
            continue
        user = server.find_user(name)
        if user is None and command == "PRIVMSG" and server.fold(name) == SERVICE_NICK:
            handle_service_message(ctx, params[1])
            continue
        if user is None:
            if not quiet:
                reply.numeric(n.ERR_NOSUCHNICK, name, "No such nick/channel")
            continue
        text = (fit_text(session.prefix, command, user.nick, body[0]),) if body else ()
        out = Message(
            command, (user.nick, *text), session.prefix, server.tags(session, client_tags)
        )
        server.deliver((user,), out, need=need)  # to oneself too: delivery, then the echo
        if echo:
            reply.add(out)
        if command == "PRIVMSG" and user.away is not None:
            reply.numeric(n.RPL_AWAY, user.nick, user.away)


def handle_privmsg(ctx: Context) -> None:
    _relay(ctx, "PRIVMSG")


def handle_notice(ctx: Context) -> None:
    _relay(ctx, "NOTICE")


def handle_tagmsg(ctx: Context) -> None:
    _relay(ctx, "TAGMSG")


def handle_away(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    text = ctx.params[0] if ctx.params else ""
    if text:
        session.away = text[: server.limits.awaylen]
        reply.numeric(n.RPL_NOWAWAY, "You have been marked as being away")
        params: tuple[str, ...] = (session.away,)
    else:
        if session.away is None:
            reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
            return
        session.away = None
        reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
        params = ()
    msg = Message("AWAY", params, session.prefix, server.tags(session))
    server.notify_peers(session, msg, Cap.AWAY_NOTIFY)


def handle_setname(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    realname = ctx.params[0]
    if not realname or len(realname) > server.limits.realnamelen:
        reply.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    session.realname = shared(realname)
    msg = Message("SETNAME", (realname,), session.prefix, server.tags(session))
    server.notify_peers(session, msg, Cap.SETNAME)
    if session.caps & Cap.SETNAME:
        reply.add(msg)


COMMANDS = {
    "PRIVMSG": Command(
        handle_privmsg,
        idle_reset=True,
        help=Help("<target>{,<target>} <text>", "Sends a message to users or channels."),
    ),
    "NOTICE": Command(
        handle_notice,
        idle_reset=True,
        help=Help("<target>{,<target>} <text>", "Sends a notice; it never triggers a reply."),
    ),
    "TAGMSG": Command(
        handle_tagmsg,
        min_params=1,
        help=Help("<target>{,<target>}", "Sends only message tags, e.g. typing notifications."),
    ),
    "AWAY": Command(
        handle_away,
        help=Help("[<message>]", "Marks you away with a message; with none, marks you back."),
    ),
    "SETNAME": Command(
        handle_setname,
        min_params=1,
        help=Help("<realname>", "Changes your real name (IRCv3 setname)."),
    ),
}
