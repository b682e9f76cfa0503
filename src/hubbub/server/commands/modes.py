"""MODE: channel modes (b e I k l i m n s t o v) and user modes (i o s w B)."""

from __future__ import annotations

from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import is_channel_name
from hubbub.protocol.masks import normalize_ban_mask
from hubbub.protocol.message import MAX_BODY_BYTES, Message
from hubbub.protocol.numbers import parse_number
from hubbub.server.channel import FLAG_MODES, LIST_MODES, PREFIX_MODES, Channel, ListEntry
from hubbub.server.commands.channels import find_channel, find_member, find_user
from hubbub.server.commands.dispatch import Command, Context, Help

USER_SETTABLE = "iwsB"
"""User modes a client may set on itself; ``o`` only comes from OPER (and may be dropped)."""

_LIST_REPLIES = {
    "b": (n.RPL_BANLIST, n.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (n.RPL_EXCEPTLIST, n.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (n.RPL_INVEXLIST, n.RPL_ENDOFINVEXLIST, "End of channel invite list"),
}


def handle_mode(ctx: Context) -> None:
    if is_channel_name(ctx.params[0]):
        channel_mode(ctx)
    else:
        user_mode(ctx)


def user_mode(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    target = find_user(ctx, ctx.params[0])
    if target is None:
        return
    if target is not session:
        reply.numeric(n.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(ctx.params) < 2:
        reply.numeric(n.RPL_UMODEIS, "+" + "".join(sorted(session.modes)))
        return
    adding = True
    added, removed = "", ""
    unknown = False
    for ch in ctx.params[1]:
        if ch in "+-":
            adding = ch == "+"
        elif ch in USER_SETTABLE or (ch == "o" and not adding):
            if adding and ch not in session.modes:
                session.modes += ch
                added += ch
            elif not adding and ch in session.modes:
                session.modes = session.modes.replace(ch, "")
                removed += ch
                if ch == "o":
                    server.opers.discard(session)
        elif ch != "o":
            unknown = True
    if "i" in added:
        server.invisible_count += 1
    if "i" in removed:
        server.invisible_count -= 1
    if unknown:
        reply.numeric(n.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    change = (f"+{added}" if added else "") + (f"-{removed}" if removed else "")
    if change:
        reply.add(Message("MODE", (session.nick, change), session.prefix))


def channel_mode(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    channel = find_channel(ctx, ctx.params[0])
    if channel is None:
        return
    member = session in channel.members
    if len(ctx.params) < 2:
        reply.numeric(n.RPL_CHANNELMODEIS, channel.name, *channel.mode_string(show_key=member))
        reply.numeric(n.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    modestr, args = ctx.params[1], list(ctx.params[2:])
    is_op = channel.is_op(session)
    applied: list[tuple[str, str, str | None]] = []  # (sign, mode, param)
    adding = True
    param_count = 0
    max_modes = server.limits.max_modes  # MODES: parameterised changes per command
    denied = False
    listed = ""  # the lists already sent: each at most once per line (MODE #c bbbb...)

    def deny() -> None:
        nonlocal denied
        if not denied:
            reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            denied = True

    for ch in modestr:
        if ch in "+-":
            adding = ch == "+"
            continue
        if ch in LIST_MODES:
            if not args:
                if ch not in listed:
                    listed += ch
                    send_list(ctx, channel, ch)
                continue
            param_count += 1
            mask = args.pop(0)
            if param_count > max_modes:
                continue
            if not is_op:
                deny()
                continue
            mask = normalize_ban_mask(mask)
            if " " in mask or mask.startswith(":"):
                continue  # (a last parameter) no line could carry it: ignored, as ergo does
            entries = channel.lists[ch]
            folded = server.fold(mask)
            existing = next((e for e in entries if server.fold(e.mask) == folded), None)
            if adding and existing is None:
                if len(entries) >= server.limits.max_list_entries:
                    reply.numeric(n.ERR_BANLISTFULL, channel.name, mask, "Channel list is full")
                    continue
                entries.append(ListEntry(mask, session.prefix, int(server.clock())))
                applied.append(("+", ch, mask))
            elif not adding and existing is not None:
                entries.remove(existing)
                applied.append(("-", ch, existing.mask))
            continue
        if ch in PREFIX_MODES:
            if not args:
                continue
            nick = args.pop(0)
            param_count += 1
            if param_count > max_modes:
                continue
            if not is_op:
                deny()
                continue
            target = find_member(ctx, channel, nick)
            if target is None:
                continue
            current = channel.members[target]
            if adding and ch not in current:
                channel.members[target] = "".join(
                    m for m in PREFIX_MODES if m in current or m == ch
                )
                applied.append(("+", ch, target.nick))
            elif not adding and ch in current:
                channel.members[target] = current.replace(ch, "")
                applied.append(("-", ch, target.nick))
            continue
        if ch == "k":
            if adding and not args:
                continue
            key = args.pop(0) if args else None
            if not is_op:
                deny()
                continue
            if adding:
                assert key is not None
                if not key or " " in key or "," in key or key[0] == ":":
                    reply.numeric(n.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
                    continue
                channel.key = key[:23]
                applied.append(("+", "k", channel.key))
            elif channel.key is not None:
                channel.key = None
                applied.append(("-", "k", "*"))
            continue
        if ch == "l":
            if adding:
                if not args:
                    continue
                raw = args.pop(0)
                if not is_op:
                    deny()
                    continue
                limit = parse_number(raw, lo=1)
                if limit is None:
                    continue
                channel.limit = limit
                applied.append(("+", "l", str(limit)))
            else:
                if not is_op:
                    deny()
                    continue
                if channel.limit is not None:
                    channel.limit = None
                    applied.append(("-", "l", None))
            continue
        if ch in FLAG_MODES:
            if not is_op:
                deny()
                continue
            if adding and ch not in channel.flags:
                channel.flags.add(ch)
                applied.append(("+", ch, None))
            elif not adding and ch in channel.flags:
                channel.flags.discard(ch)
                applied.append(("-", ch, None))
            continue
        reply.numeric(n.ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
    if applied:
        announce(ctx, channel, applied)


Change = tuple[str, str, str | None]
"""One applied mode change: its sign, its letter and its parameter."""


def mode_params(changes: list[Change]) -> tuple[str, ...]:
    """The MODE parameters of ``changes``: ``+bo-v``, then the parameters in order."""
    modes, params = "", []
    sign = ""
    for s, mode, param in changes:
        if s != sign:
            modes += s
            sign = s
        modes += mode
        if param is not None:
            params.append(param)
    return (modes, *params)


def announce(ctx: Context, channel: Channel, applied: list[Change]) -> None:
    """Tell the channel about applied changes: one MODE line, or as many as it takes for
    each to fit in 512 bytes (three long ban masks from a long prefix would not)."""
    server, session = ctx.server, ctx.session
    prefix = session.prefix
    lines: list[list[Change]] = []
    for change in applied:
        if lines:
            longer = Message("MODE", (channel.name, *mode_params([*lines[-1], change])), prefix)
            if len(longer.serialize_without_tags().encode()) <= MAX_BODY_BYTES:
                lines[-1].append(change)
                continue
        lines.append([change])
    for changes in lines:
        params = (channel.name, *mode_params(changes))
        msg = Message("MODE", params, prefix, server.tags(session))
        server.deliver(channel.members, msg, skip=session)
        ctx.reply.add(msg)


def send_list(ctx: Context, channel: Channel, mode: str) -> None:
    """The entries of a list mode (bans, exceptions, invite exceptions)."""
    entry_code, end_code, end_text = _LIST_REPLIES[mode]
    if mode != "b" and not channel.is_op(ctx.session):
        ctx.reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    for entry in channel.lists[mode]:
        ctx.reply.numeric(entry_code, channel.name, entry.mask, entry.setter, str(entry.time))
    ctx.reply.numeric(end_code, channel.name, end_text)


COMMANDS = {
    "MODE": Command(
        handle_mode,
        min_params=1,
        help=Help("<target> [<modes> [<args>...]]", "Shows or changes channel or user modes."),
    )
}
