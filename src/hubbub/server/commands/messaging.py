"""Messaging: PRIVMSG, NOTICE, TAGMSG, AWAY and SETNAME."""

from __future__ import annotations

from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import Folded, is_channel_name
from hubbub.protocol.tags import client_tags as only_client_tags
from hubbub.server.channel import NO_CTCP, PREFIX_SYMBOLS, Channel
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.network import may_speak
from hubbub.server.session import shared
from hubbub.server.user import User


def _relay(ctx: Context, command: str) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    params = ctx.params
    quiet = command == "NOTICE"  # Modern IRC: no error replies to NOTICE
    if not params or not params[0].strip(","):  # ("," names no one either)
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
    text = None if command == "TAGMSG" else params[1]
    client_tags = only_client_tags(ctx.msg.tags)
    # A TAGMSG without client-only tags has nothing to relay, but its targets are still
    # checked: a missing one gets its 401/403 (and a labeled one a label on it, not ACK).
    relayed = command != "TAGMSG" or bool(client_tags)
    network = server.network
    seen: set[tuple[str, Folded]] = set()
    for target in targets:
        if not target:
            continue
        # One delivery per distinct target: "#c,#C,#c" (the same under the casemapping) or
        # "@#c,@@#c" (the same audience) would otherwise be one copy each, and a line of
        # duplicates multiplies what one client makes the server send to every member.
        name = target.lstrip(PREFIX_SYMBOLS)
        audience = min(target[: len(target) - len(name)], key=PREFIX_SYMBOLS.index, default="")
        key = (audience, server.fold(name))
        if key in seen:
            continue
        seen.add(key)
        found = resolve_target(ctx, target, quiet, ctcp=text is not None and is_ctcp(text))
        if found is None or not relayed:
            continue
        where, status = found
        network.relay(user, command, where, text, status=status, client_tags=client_tags)
        if command == "PRIVMSG" and isinstance(where, User) and where.away is not None:
            reply.numeric(n.RPL_AWAY, where.nick, where.away)


def is_ctcp(text: str) -> bool:
    """Whether ``text`` is a CTCP other than ``ACTION`` (what ``+C`` keeps out)."""
    return text[:1] == "\x01" and not (text[1:7] == "ACTION" and text[7:8] in ("", " ", "\x01"))


def resolve_target(
    ctx: Context, target: str, quiet: bool, ctcp: bool = False
) -> tuple[Channel | User, str] | None:
    """Where the client's message to ``target`` goes, and the status prefix it names
    (``@#chan``: ``@``), checked as PRIVMSG checks it: the channel exists and the client
    may see it and speak in it (:func:`may_speak`), and takes CTCP unless ``ctcp`` is False
    (``+C``), or the user exists. None, with the error numeric (unless ``quiet``: a NOTICE),
    when it may not be sent."""
    server, user, reply = ctx.server, ctx.user, ctx.reply
    status = ""
    name = target
    while name and name[0] in PREFIX_SYMBOLS:
        status += name[0]
        name = name[1:]
    if is_channel_name(name):
        channel = server.find_channel(name)
        if channel is None or channel.hidden_from(user):
            if not quiet:
                reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
            return None
        if not may_speak(channel, user, server.network.casemapping):
            if not quiet:
                reply.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
            return None
        if ctcp and NO_CTCP in channel.flags:
            if not quiet:
                reply.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send CTCP (+C)")
            return None
        return channel, status
    if status:
        if not quiet:
            reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
        return None
    other = server.find_user(name)
    if other is None:
        if not quiet:
            reply.numeric(n.ERR_NOSUCHNICK, name, "No such nick/channel")
        return None
    return other, ""


def handle_privmsg(ctx: Context) -> None:
    _relay(ctx, "PRIVMSG")


def handle_notice(ctx: Context) -> None:
    _relay(ctx, "NOTICE")


def handle_tagmsg(ctx: Context) -> None:
    _relay(ctx, "TAGMSG")


def handle_away(ctx: Context) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    text = ctx.params[0] if ctx.params else ""
    if text:
        reply.numeric(n.RPL_NOWAWAY, "You have been marked as being away")
        server.scanned(audience(user))
        server.network.set_away(user, text[: server.limits.awaylen])
    else:
        reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
        if user.away is not None:
            server.scanned(audience(user))
            server.network.set_away(user, None)


def audience(user: User) -> int:
    """How many clients a change of ``user`` (AWAY, SETNAME) may be told to: the members of
    its channels. Flood control counts it as it counts the lines of a long reply, so that
    a client in a channel of 1,000 pays for the 1,000 lines each change makes (an attack
    audit: 40 clients changing their real name in one held another's PONG 355 ms)."""
    return sum(len(channel.members) for channel in user.channels.values())


def handle_setname(ctx: Context) -> None:
    server, reply = ctx.server, ctx.reply
    realname = ctx.params[0] if ctx.params else ""
    if not realname or len(realname) > server.limits.realnamelen:
        # (without a parameter too: "The server MUST use the FAIL spec to notify the client
        # of failed SETNAME commands", IRCv3 setname; not the generic 461)
        reply.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    server.scanned(audience(ctx.user))
    server.network.set_realname(ctx.user, shared(realname))


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
        help=Help("<realname>", "Changes your real name (IRCv3 setname)."),
    ),
}
