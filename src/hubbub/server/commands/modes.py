"""MODE: channel modes (b e I k l i m n s t o v) and user modes (i o s w B). List entries may
be extbans (:mod:`hubbub.server.extbans`), checked here when set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import is_channel_name
from hubbub.protocol.numbers import parse_number
from hubbub.server.channel import FLAG_MODES, KEYLEN, LIST_MODES, PREFIX_MODES, Channel, ListEntry
from hubbub.server.commands.channels import find_channel, find_member, find_user
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.commands.queries import echo
from hubbub.server.events import ModeChange
from hubbub.server.extbans import ExtbanError, normalize_list_mask
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.core import Server

MAX_LIST_MASK = 250
"""The longest ban, exception or invite-exception mask (in characters): its 367, 348 or 346
line, with the setter and time, must fit in 512 bytes."""

MAX_MASK_WILDCARDS = 16
"""The most wildcards (``*`` and ``?``, counted in the mask as kept, completion included:
``nick`` is ``nick!*@*``, 2) in a ban, exception or invite-exception mask. Matching a mask
costs a step of Python per piece between stars, for every user checked against it: 300
entries of 45 wildcards made each check ~10 ms. Real bans have a handful."""

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
    server, user, reply = ctx.server, ctx.user, ctx.reply
    target = find_user(ctx, ctx.params[0])
    if target is None:
        return
    if target is not user:
        reply.numeric(n.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(ctx.params) < 2:
        reply.numeric(n.RPL_UMODEIS, "+" + "".join(sorted(user.modes)))
        return
    adding = True
    modes = user.modes
    unknown = False
    for ch in ctx.params[1]:
        if ch in "+-":
            adding = ch == "+"
        elif ch in USER_SETTABLE or (ch == "o" and not adding):
            if adding and ch not in modes:
                modes += ch
            elif not adding and ch in modes:
                modes = modes.replace(ch, "")
        elif ch != "o":
            unknown = True
    if unknown:
        reply.numeric(n.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    added = "".join(ch for ch in modes if ch not in user.modes)
    removed = "".join(ch for ch in user.modes if ch not in modes)
    if added or removed:
        server.network.set_user_modes(user, added, removed)


def handle_samode(ctx: Context) -> None:
    """An IRC operator changes a channel's modes as if it were one of its operators: the way
    back into a channel whose last operator left (the change is shown as the operator's,
    and the other operators with user mode ``s`` are told)."""
    if not is_channel_name(ctx.params[0]):
        ctx.reply.numeric(n.ERR_NOSUCHCHANNEL, ctx.params[0], "No such channel")
        return
    if channel_mode(ctx, override=True):
        user = ctx.user
        said = " ".join(ctx.params)
        ctx.server.snotice(f"{user.nick} used SAMODE {said}", but=user)


def channel_mode(ctx: Context, override: bool = False) -> bool:
    """MODE on a channel (with ``override``, SAMODE's). True when something changed."""
    server, user, reply = ctx.server, ctx.user, ctx.reply
    channel = find_channel(ctx, ctx.params[0])
    if channel is None:
        return False
    member = user in channel.members
    if len(ctx.params) < 2:
        reply.numeric(n.RPL_CHANNELMODEIS, channel.name, *channel.mode_string(show_key=member))
        reply.numeric(n.RPL_CREATIONTIME, channel.name, str(channel.created))
        return False
    modestr, args = ctx.params[1], list(ctx.params[2:])
    is_op = override or channel.is_op(user)
    applied: list[ModeChange] = []
    # The changes are checked against the channel as the earlier ones of this line leave
    # it, then applied together by the network.
    flags, key, limit = set(channel.flags), channel.key, channel.limit
    lists: dict[str, list[ListEntry]] = {}
    prefixes: dict[User, str] = {}
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

    def missing(ch: str) -> None:
        """A mode that needs a parameter came without one: said (as InspIRCd and Modern IRC
        do, with 696 and ``*``), so the user is not left guessing why nothing changed."""
        if is_op:
            reply.numeric(
                n.ERR_INVALIDMODEPARAM, channel.name, ch, "*", f"Mode {ch} needs a parameter"
            )
        else:
            deny()

    for ch in modestr:
        if ch in "+-":
            adding = ch == "+"
            continue
        if ch in LIST_MODES:
            if not args:
                if ch not in listed:
                    listed += ch
                    send_list(ctx, channel, ch, override)
                continue
            param_count += 1
            mask = args.pop(0)
            if param_count > max_modes:
                continue
            if not is_op:
                deny()
                continue
            if not mask:
                continue  # (an empty parameter: no mask, not "*!*@*")
            if adding and len(mask) > MAX_LIST_MASK:
                reply.numeric(
                    n.ERR_INVALIDMODEPARAM, channel.name, ch, mask[:MAX_LIST_MASK], "Mask too long"
                )
                continue
            try:
                mask = normalize_list_mask(ch, mask)
            except ExtbanError as exc:
                if adding:
                    reply.numeric(n.ERR_INVALIDMODEPARAM, channel.name, ch, mask, str(exc))
                    continue  # (removing: the entry as given, should one be there)
            if adding and mask.count("*") + mask.count("?") > MAX_MASK_WILDCARDS:
                reply.numeric(
                    n.ERR_INVALIDMODEPARAM,
                    channel.name,
                    ch,
                    mask,
                    f"Too many wildcards (at most {MAX_MASK_WILDCARDS})",
                )
                continue
            if " " in mask or mask.startswith(":"):
                continue  # (a last parameter) no line could carry it: ignored, as ergo does
            entries = lists.setdefault(ch, list(channel.lists[ch]))
            folded = server.fold(mask)
            existing = next((e for e in entries if server.fold(e.mask) == folded), None)
            if adding and existing is None:
                if len(entries) >= server.limits.max_list_entries:
                    reply.numeric(n.ERR_BANLISTFULL, channel.name, mask, "Channel list is full")
                    continue
                entries.append(ListEntry(mask, user.prefix, 0))
                applied.append(("+", ch, mask))
            elif not adding and existing is not None:
                entries.remove(existing)
                applied.append(("-", ch, existing.mask))
            continue
        if ch in PREFIX_MODES:
            if not args:
                missing(ch)
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
            current = prefixes.get(target, channel.members[target])
            if adding and ch not in current:
                prefixes[target] = current + ch
                applied.append(("+", ch, target.nick))
            elif not adding and ch in current:
                prefixes[target] = current.replace(ch, "")
                applied.append(("-", ch, target.nick))
            continue
        if ch == "k":
            if adding and not args:
                missing(ch)
                continue
            given = args.pop(0) if args else None
            if given is not None:
                param_count += 1
                if param_count > max_modes:
                    continue
            if not is_op:
                deny()
                continue
            if adding:
                assert given is not None
                if not given or " " in given or "," in given or given[0] == ":":
                    reply.numeric(n.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
                    continue
                key = given[:KEYLEN]
                applied.append(("+", "k", key))
            elif key is not None:
                key = None
                applied.append(("-", "k", "*"))
            continue
        if ch == "l":
            if adding:
                if not args:
                    missing(ch)
                    continue
                raw = args.pop(0)
                param_count += 1
                if param_count > max_modes:
                    continue
                if not is_op:
                    deny()
                    continue
                number = parse_number(raw, lo=1)
                if number is None:
                    reply.numeric(
                        n.ERR_INVALIDMODEPARAM,
                        channel.name,
                        ch,
                        echo(raw)[:64],
                        "The limit must be a whole number of at least 1",
                    )
                    continue
                limit = number
                applied.append(("+", "l", str(limit)))
            else:
                if not is_op:
                    deny()
                    continue
                if limit is not None:
                    limit = None
                    applied.append(("-", "l", None))
            continue
        if ch in FLAG_MODES:
            if not is_op:
                deny()
                continue
            if adding and ch not in flags:
                flags.add(ch)
                applied.append(("+", ch, None))
            elif not adding and ch in flags:
                flags.discard(ch)
                applied.append(("-", ch, None))
            continue
        reply.numeric(n.ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
    applied = _net(server, channel, applied)
    if applied:
        server.network.change_channel_modes(user, channel, applied, user.prefix)
    return bool(applied)


def _net(server: Server, channel: Channel, applied: list[ModeChange]) -> list[ModeChange]:
    """The changes of one MODE line that hold at its end, each once, in the order of their
    last mention: ``+i-i+i`` is ``+i``, ``+b x-b x`` is nothing (an attack audit: 240 flag
    toggles a line to a 500-member channel sent each member 840 bytes per line, more than
    the longest PRIVMSG; solanum sends the end state too)."""
    if len(applied) < 2:
        return applied
    last: dict[tuple[str, str], ModeChange] = {}
    for change in applied:
        _, ch, param = change
        which = (ch, server.fold(param) if param and ch in LIST_MODES + PREFIX_MODES else "")
        last.pop(which, None)
        last[which] = change
    kept = []
    for (ch, folded), change in last.items():
        sign, _, param = change
        if ch in LIST_MODES:
            had = any(server.fold(e.mask) == folded for e in channel.lists[ch])
        elif ch in PREFIX_MODES:
            had = any(u.folded == folded and ch in m for u, m in channel.members.items())
        elif ch == "k":
            had = channel.key is not None and (sign == "-" or param == channel.key)
        elif ch == "l":
            had = channel.limit is not None and (sign == "-" or param == str(channel.limit))
        else:
            had = ch in channel.flags
        if had != (sign == "+"):
            kept.append(change)
    return kept


def send_list(ctx: Context, channel: Channel, mode: str, override: bool = False) -> None:
    """The entries of a list mode (bans, exceptions, invite exceptions)."""
    entry_code, end_code, end_text = _LIST_REPLIES[mode]
    if mode != "b" and not override and not channel.is_op(ctx.user):
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
    ),
    "SAMODE": Command(
        handle_samode,
        min_params=2,
        oper=True,
        help=Help(
            "<channel> <modes> [<args>...]",
            "Changes a channel's modes without being its operator (operators only).",
        ),
    ),
}
