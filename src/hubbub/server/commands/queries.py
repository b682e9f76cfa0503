"""Queries: WHO (and WHOX), WHOIS, WHOWAS, USERHOST, ISON, MONITOR, and the server queries
VERSION, TIME, ADMIN, INFO, LINKS, LUSERS, MOTD and HELP.

Reply formats follow modern.ircdocs.horse; WHOX and MONITOR follow their IRCv3 specs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import Folded, fold, is_channel_name, is_valid_nick
from hubbub.protocol.masks import Mask, compile_mask, mask_matches
from hubbub.protocol.numbers import parse_number
from hubbub.server.channel import Channel
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.commands.registration import send_isupport, send_lusers, send_motd
from hubbub.server.session import PeerInfo
from hubbub.server.user import User

RPL_WHOISBOT = "335"
"""``<client> <nick> :is a bot`` (IRCv3 bot-mode)."""

HIDDEN_IP = "255.255.255.255"
"""WHOX's placeholder for an IP address the server does not disclose."""

WHOX_FIELDS = "tcuihsnfdlaor"
"""WHOX fields in the order replies carry them, whatever order the client asked in."""


def wire_safe(value: str) -> str:
    """A middle parameter must not start with ``:`` (an IPv6 address such as ``::1``)."""
    return "0" + value if value.startswith(":") else value


def echo(value: str) -> str:
    """A client's parameter repeated in a reply's middle parameter: ``*`` when it cannot be one
    (empty, or a trailing parameter with a space or a leading ``:``)."""
    return "*" if not value or " " in value or value[0] == ":" else value


def names_this_server(ctx: Context, target: str) -> bool:
    """True if ``target`` (a server mask or a nick) designates this server."""
    server = ctx.server
    if mask_matches(target, server.name, server.casemapping):
        return True
    return server.find_user(target) is not None


def check_target(ctx: Context, index: int = 0) -> bool:
    """Server queries take an optional target; anything but this server is ERR_NOSUCHSERVER."""
    if len(ctx.params) <= index or not ctx.params[index]:
        return True
    target = ctx.params[index]
    if names_this_server(ctx, target):
        return True
    ctx.reply.numeric(n.ERR_NOSUCHSERVER, echo(target), "No such server")
    return False


def visible_channels(viewer: User, target: User) -> list[Channel]:
    """The channels of ``target`` that ``viewer`` may see it in.

    A secret channel shows only to its members; an invisible user's channels show only when
    shared. Operators and the user itself see everything.
    """
    if viewer is target or "o" in viewer.modes:
        return list(target.channels.values())
    invisible = "i" in target.modes
    return [
        channel
        for channel in target.channels.values()
        if viewer in channel.members or not (channel.secret or invisible)
    ]


def idle_seconds(ctx: Context, target: User) -> int:
    """How long ``target`` has been idle, in whole seconds."""
    return max(0, int(ctx.server.clock() - target.last_active))


# -- WHO -------------------------------------------------------------------------------------


def who_flags(target: User, channel: Channel | None, multi: bool) -> str:
    """RPL_WHOREPLY flags: H or G, ``*`` for an operator, the channel prefixes, B for a bot."""
    flags = "G" if target.away is not None else "H"
    if "o" in target.modes:
        flags += "*"
    if channel is not None:
        flags += channel.prefix_of(target, multi)
    if "B" in target.modes:
        flags += "B"
    return flags


def who_matches(ctx: Context, mask: Mask, target: User) -> bool:
    """A WHO mask matches a user's nick, username, host, real name or full ``nick!user@host``."""
    subjects = [target.nick, target.username, target.host, target.realname]
    if "o" in ctx.user.modes and target.session is not None:
        subjects.append(target.session.peer.ip)  # operators find users by their address too
    text = mask.text
    if "!" in text or "@" in text:
        subjects.append(target.prefix)
    # (folded together, in one call: no field holds a line feed)
    joined = fold("\n".join(subjects), mask.mapping)
    if not mask.could_match(joined):
        return False
    return any(mask.matches_folded(subject) for subject in joined.split("\n"))


def who_targets(ctx: Context, mask: str) -> list[tuple[User, Channel | None]]:
    """The users a WHO mask lists, each with the channel its reply shows."""
    server, viewer = ctx.server, ctx.user
    if is_channel_name(mask):
        channel = server.find_channel(mask)
        if channel is None:
            return []
        insider = viewer in channel.members or "o" in viewer.modes
        if channel.secret and not insider:
            return []
        return [(m, channel) for m in channel.members if insider or "i" not in m.modes]
    if "*" not in mask and "?" not in mask:
        # An exact nick is answered even for an invisible user; only masks respect +i.
        user = server.find_user(mask)
        if user is not None:
            shown = visible_channels(viewer, user)
            return [(user, shown[0] if shown else None)]
    found: list[tuple[User, Channel | None]] = []
    server.scanned(len(server.network.users))
    compiled = compile_mask(mask, server.casemapping)
    for user in server.network.users.values():
        session = user.session
        if user.service is not None or (session is not None and not session.registered):
            continue  # (services answer a WHO for their nick only)
        if not server.visible_to(viewer, user):
            continue
        if who_matches(ctx, compiled, user):
            shown = visible_channels(viewer, user)
            found.append((user, shown[0] if shown else None))
    return found


def whox_fields(
    ctx: Context, target: User, channel: Channel | None, fields: str, token: str
) -> list[str]:
    """The RPL_WHOSPCRPL parameters for the requested ``fields``, in the standard order."""
    server, viewer = ctx.server, ctx.user
    multi = bool(ctx.session.caps & Cap.MULTI_PREFIX)
    ip = HIDDEN_IP
    if target.session is not None and (viewer is target or "o" in viewer.modes):
        ip = wire_safe(target.session.peer.ip)
    values: dict[str, str] = {
        "t": echo(token) if token else "0",
        "c": channel.name if channel is not None else "*",
        "u": target.username,
        "i": ip,
        "h": target.host,
        "s": server.name,
        "n": target.nick,
        "f": who_flags(target, channel, multi),
        "d": "0",
        "l": str(idle_seconds(ctx, target)),
        "a": target.account or "0",
        "o": "n/a",
        "r": target.realname,
    }
    return [values[f] for f in WHOX_FIELDS if f in fields]


def handle_who(ctx: Context) -> None:
    server, reply = ctx.server, ctx.reply
    mask = ctx.params[0] if ctx.params and ctx.params[0] else "*"
    query = "*" if mask == "0" else mask
    options = ctx.params[1] if len(ctx.params) > 1 else ""
    flags, percent, spec = options.partition("%")
    fields, _, token = spec.partition(",")
    multi = bool(ctx.session.caps & Cap.MULTI_PREFIX)
    for target, channel in who_targets(ctx, query):
        if "o" in flags and "o" not in target.modes:
            continue
        if percent:
            reply.numeric(n.RPL_WHOSPCRPL, *whox_fields(ctx, target, channel, fields, token))
            continue
        reply.numeric(
            n.RPL_WHOREPLY,
            channel.name if channel is not None else "*",
            target.username,
            target.host,
            server.name,
            target.nick,
            who_flags(target, channel, multi),
            f"0 {target.realname}",
        )
    reply.numeric(n.RPL_ENDOFWHO, echo(mask), "End of WHO list")


# -- WHOIS and WHOWAS ------------------------------------------------------------------------


def handle_whois(ctx: Context) -> None:
    server, viewer, reply = ctx.server, ctx.user, ctx.reply
    params = ctx.params
    if not params or not params[-1]:
        reply.numeric(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    if len(params) > 1 and not names_this_server(ctx, params[0]):
        reply.numeric(n.ERR_NOSUCHSERVER, echo(params[0]), "No such server")
        return
    query = params[1] if len(params) > 1 else params[0]
    nick = query.split(",")[0]  # TARGMAX WHOIS:1; the rest is dropped
    target = server.find_user(nick)
    if target is None:
        reply.numeric(n.ERR_NOSUCHNICK, echo(nick), "No such nick/channel")
        reply.numeric(n.RPL_ENDOFWHOIS, echo(query), "End of /WHOIS list")
        return
    tnick = target.nick
    reply.numeric(n.RPL_WHOISUSER, tnick, target.username, target.host, "*", target.realname)
    multi = bool(ctx.session.caps & Cap.MULTI_PREFIX)
    entries = [c.prefix_of(target, multi) + c.name for c in visible_channels(viewer, target)]
    reply.numeric_items(n.RPL_WHOISCHANNELS, tnick, items=entries)
    reply.numeric(n.RPL_WHOISSERVER, tnick, server.name, server.config.server.description)
    if "o" in target.modes:
        reply.numeric(n.RPL_WHOISOPERATOR, tnick, "is an IRC operator")
    if target.away is not None:
        reply.numeric(n.RPL_AWAY, tnick, target.away)
    if "B" in target.modes:
        reply.numeric(RPL_WHOISBOT, tnick, "is a bot")
    peer = target.session.peer if target.session is not None else None
    if peer is not None and peer.secure:
        reply.numeric(n.RPL_WHOISSECURE, tnick, "is using a secure connection")
    if peer is not None and peer.certfp and (viewer is target or "o" in viewer.modes):
        fingerprint = f"has client certificate fingerprint {peer.certfp}"
        reply.numeric(n.RPL_WHOISCERTFP, tnick, fingerprint)
    if peer is not None and (viewer is target or "o" in viewer.modes):
        send_real_host(ctx, target, peer)  # the real address, hidden by the cloak
    idle, signon = str(idle_seconds(ctx, target)), str(int(target.signon))
    reply.numeric(n.RPL_WHOISIDLE, tnick, idle, signon, "seconds idle, signon time")
    if target.account:
        reply.numeric(n.RPL_WHOISACCOUNT, tnick, target.account, "is logged in as")
    reply.numeric(n.RPL_ENDOFWHOIS, echo(query), "End of /WHOIS list")


def send_real_host(ctx: Context, target: User, peer: PeerInfo) -> None:
    """RPL_WHOISHOST and RPL_WHOISACTUALLY: where ``target`` really connects from."""
    tnick, ip = target.nick, peer.ip
    real = peer.hostname or ip
    ctx.reply.numeric(n.RPL_WHOISHOST, tnick, f"is connecting from *@{real} {ip}")
    actual = f"{target.username}@{real}"
    ctx.reply.numeric(
        n.RPL_WHOISACTUALLY, tnick, actual, wire_safe(ip), "Actual user@host, Actual IP"
    )
    if peer.gateway is not None:  # (WEBIRC named the address)
        via = f"is connecting via the WebIRC gateway {peer.gateway}"
        ctx.reply.numeric(n.RPL_WHOISSPECIAL, tnick, via)


def handle_whowas(ctx: Context) -> None:
    server, reply = ctx.server, ctx.reply
    params = ctx.params
    if not params or not params[0]:
        reply.numeric(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    query = params[0]
    count = 0  # a missing, zero or negative count means every entry
    if len(params) > 1 and not params[1].startswith("-"):
        count = parse_number(params[1]) or 0
    nicks: dict[str, str] = {}  # folded -> as given: a nick asked for twice is answered once
    for nick in query.split(","):
        if nick:
            nicks.setdefault(server.fold(nick), nick)
    if len(nicks) > server.limits.max_targets:  # (TARGMAX WHOWAS)
        reply.numeric(n.ERR_TOOMANYTARGETS, echo(query), "Too many nicknames at once")
        return
    for folded, nick in nicks.items():
        entries = [e for e in server.network.whowas if server.fold(e.nick) == folded]
        if count > 0:
            entries = entries[:count]
        if not entries:
            reply.numeric(n.ERR_WASNOSUCHNICK, echo(nick), "There was no such nickname")
        for entry in entries:
            reply.numeric(n.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname)
            when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(entry.time))
            reply.numeric(n.RPL_WHOISSERVER, entry.nick, server.name, when)
    reply.numeric(n.RPL_ENDOFWHOWAS, echo(query), "End of WHOWAS")


# -- USERHOST and ISON -----------------------------------------------------------------------


def handle_userhost(ctx: Context) -> None:
    server = ctx.server
    nicks = [nick for param in ctx.params for nick in param.split()][:5]
    replies = []
    for nick in nicks:
        user = server.find_user(nick)
        if user is None:
            continue
        oper = "*" if "o" in user.modes else ""
        away = "-" if user.away is not None else "+"
        replies.append(f"{user.nick}{oper}={away}{user.username}@{user.host}")
    if not replies:
        ctx.reply.numeric(n.RPL_USERHOST, "")
    else:
        # One reply, as clients expect; what does not fit in 512 bytes is left out (as
        # ratbox and solanum do): five long nick!user@host entries would not fit.
        ctx.reply.numeric_items(n.RPL_USERHOST, items=replies, max_lines=1)


def handle_ison(ctx: Context) -> None:
    server = ctx.server
    online: dict[User, None] = {}  # each user once, in the order asked
    for param in ctx.params:
        for nick in param.split():
            user = server.find_user(nick)
            if user is not None:
                online[user] = None
    if not online:
        ctx.reply.numeric(n.RPL_ISON, "")
    else:  # one line, as USERHOST: as many as fit in it
        ctx.reply.numeric_items(n.RPL_ISON, items=[user.nick for user in online], max_lines=1)


# -- MONITOR ---------------------------------------------------------------------------------


def send_monitor_status(ctx: Context, targets: Iterable[str]) -> None:
    """RPL_MONONLINE for the targets online (as ``nick!user@host``), RPL_MONOFFLINE for the rest."""
    server = ctx.server
    online: list[str] = []
    offline: list[str] = []
    for target in targets:
        user = server.find_user(target)
        if user is not None:
            online.append(user.prefix)
        else:
            offline.append(target)
    ctx.reply.numeric_items(n.RPL_MONONLINE, items=online, sep=",")
    ctx.reply.numeric_items(n.RPL_MONOFFLINE, items=offline, sep=",")


def monitor_add(ctx: Context, targets: list[str]) -> None:
    server, session = ctx.server, ctx.session
    limit = server.limits.monitor
    added: list[str] = []
    refused: list[str] = []
    seen: set[Folded] = set()
    new: list[Folded] = []
    room = limit - len(session.monitoring)
    for target in targets:
        if not is_valid_nick(target, server.limits.nicklen):
            continue  # MONITOR takes nicks only, never masks
        folded = server.fold(target)
        if folded in seen:
            continue  # (t1,T1: one target, answered once)
        seen.add(folded)
        if folded not in session.monitoring:
            if len(new) >= room:
                refused.append(target)
                continue
            new.append(folded)
        added.append(target)
    if new:
        server.network.monitor(session, new)
    ctx.reply.numeric_items(
        n.ERR_MONLISTFULL, str(limit), items=refused, sep=",", text="Monitor list is full."
    )
    send_monitor_status(ctx, added)


def monitor_remove(ctx: Context, folded_names: Iterable[Folded]) -> None:
    ctx.server.network.unmonitor(ctx.session, folded_names)


def handle_monitor(ctx: Context) -> None:
    session, reply = ctx.session, ctx.reply
    sub = ctx.params[0]
    if sub in ("+", "-"):
        if len(ctx.params) < 2 or not ctx.params[1]:
            reply.numeric(n.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
            return
        targets = list(dict.fromkeys(t for t in ctx.params[1].split(",") if t))
        if sub == "+":
            monitor_add(ctx, targets)
        else:
            monitor_remove(ctx, (ctx.server.fold(t) for t in targets))
    elif sub.upper() == "C":
        monitor_remove(ctx, session.monitoring)
    elif sub.upper() == "L":
        reply.numeric_items(n.RPL_MONLIST, items=sorted(session.monitoring), sep=",")
        reply.numeric(n.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub.upper() == "S":
        send_monitor_status(ctx, sorted(session.monitoring))
    else:
        reply.numeric(n.ERR_UNKNOWNERROR, "MONITOR", echo(sub), "Unknown subcommand")


# -- server queries --------------------------------------------------------------------------


def handle_version(ctx: Context) -> None:
    if not check_target(ctx):
        return
    server = ctx.server
    comments = f"{server.config.server.network} IRC server, https://modern.ircdocs.horse/"
    ctx.reply.numeric(n.RPL_VERSION, server.version, server.name, comments)
    send_isupport(server, ctx.reply)


def handle_time(ctx: Context) -> None:
    if not check_target(ctx):
        return
    server = ctx.server
    now = server.clock()
    human = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now))
    ctx.reply.numeric(n.RPL_TIME, server.name, str(int(now)), "0", human)


def handle_stats(ctx: Context) -> None:
    """STATS <query> [<server>]: ``u`` is the uptime; every other query (none of them
    describes anything a single node without links has) gets only the end of the report."""
    if not check_target(ctx, 1):
        return
    server, reply = ctx.server, ctx.reply
    query = ctx.params[0][:1]
    if query == "u":
        up = max(0, int(server.clock() - server.created))
        days, rest = divmod(up, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        reply.numeric(
            n.RPL_STATSUPTIME, f"Server Up {days} days {hours}:{minutes:02d}:{seconds:02d}"
        )
    reply.numeric(n.RPL_ENDOFSTATS, echo(query) or "*", "End of /STATS report")


def handle_admin(ctx: Context) -> None:
    if not check_target(ctx):
        return
    server, reply = ctx.server, ctx.reply
    section = server.config.server
    reply.numeric(n.RPL_ADMINME, server.name, "Administrative info")
    reply.numeric(n.RPL_ADMINLOC1, section.admin_location or section.description)
    reply.numeric(n.RPL_ADMINLOC2, section.admin_name or f"The {section.network} network")
    reply.numeric(n.RPL_ADMINEMAIL, section.admin_email or "No contact address configured")


def handle_info(ctx: Context) -> None:
    if not check_target(ctx):
        return
    server, reply = ctx.server, ctx.reply
    started = time.strftime("%a %b %d %Y at %H:%M:%S UTC", time.gmtime(server.created))
    for line in (
        f"{server.version}: a chat server that speaks IRC over TCP, TLS and WebSocket",
        "written in Python (asyncio), following the Modern IRC documents and IRCv3",
        f"This server ({server.name}) has been up since {started}",
    ):
        reply.numeric(n.RPL_INFO, line)
    reply.numeric(n.RPL_ENDOFINFO, "End of INFO list")


def handle_links(ctx: Context) -> None:
    server, reply = ctx.server, ctx.reply
    mask = ctx.params[-1] if ctx.params and ctx.params[-1] else "*"
    if mask_matches(mask, server.name, server.casemapping):
        # The RFC form (``<mask> <server>``) with the mask filled in; what clients parse.
        description = f"0 {server.config.server.description}"
        reply.numeric(n.RPL_LINKS, server.name, server.name, description)
    reply.numeric(n.RPL_ENDOFLINKS, echo(mask), "End of /LINKS list")


def handle_lusers(ctx: Context) -> None:
    send_lusers(ctx.server, ctx.reply)


def handle_motd(ctx: Context) -> None:
    if check_target(ctx):
        send_motd(ctx.server, ctx.reply)


# -- HELP ------------------------------------------------------------------------------------


_HELP_HELP = Help("[<subject>]", "Shows help on a command, or lists the commands.")
_NO_HELP = Help("", "See https://modern.ircdocs.horse/")
"""What HELP says of a command whose entry has no ``help``."""


def handle_help(ctx: Context) -> None:
    commands = ctx.server.commands  # (the plugins' commands too, with their help)
    reply = ctx.reply
    subject = ctx.params[0] if ctx.params and ctx.params[0] else ""
    if not subject:
        reply.numeric(n.RPL_HELPSTART, "*", f"** Help for {ctx.server.name} **")
        reply.numeric(n.RPL_HELPTXT, "*", "")
        reply.numeric(n.RPL_HELPTXT, "*", "Try HELP <command> for one of these commands:")
        reply.numeric_items(n.RPL_HELPTXT, "*", items=sorted(commands))
        reply.numeric(n.RPL_ENDOFHELP, "*", "End of /HELP")
        return
    shown = echo(subject)
    name = subject.upper()
    entry = commands.get(name)
    if entry is None:
        reply.numeric(n.ERR_HELPNOTFOUND, shown, "No help available on this topic")
        return
    syntax, text = entry.help or _NO_HELP
    reply.numeric(n.RPL_HELPSTART, shown, f"** {name} {syntax} **".replace("  ", " "))
    reply.numeric(n.RPL_HELPTXT, shown, "")
    reply.numeric(n.RPL_HELPTXT, shown, text)
    reply.numeric(n.RPL_ENDOFHELP, shown, "End of /HELP")


COMMANDS = {
    "WHO": Command(
        handle_who,
        help=Help(
            "<mask> [o][%<fields>[,<token>]]", "Lists users matching a mask or in a channel."
        ),
    ),
    "WHOIS": Command(
        handle_whois, help=Help("[<server>] <nick>", "Shows information about a user.")
    ),
    "WHOWAS": Command(
        handle_whowas,
        help=Help("<nick> [<count>]", "Shows information about a nick that has left."),
    ),
    "USERHOST": Command(
        handle_userhost,
        min_params=1,
        help=Help("<nick>{ <nick>}", "Shows user@host of up to five nicks."),
    ),
    "ISON": Command(
        handle_ison,
        min_params=1,
        help=Help("<nick>{ <nick>}", "Says which of the given nicks are online."),
    ),
    "MONITOR": Command(
        handle_monitor,
        min_params=1,
        help=Help("+|- <nick>{,<nick>} | C | L | S", "Tracks when nicks come online or leave."),
    ),
    "VERSION": Command(
        handle_version,
        help=Help("[<server>]", "Shows the server's version and supported features."),
    ),
    "TIME": Command(handle_time, help=Help("[<server>]", "Shows the server's local time.")),
    "STATS": Command(
        handle_stats,
        min_params=1,
        help=Help("<query> [<server>]", "Server statistics; STATS u shows the uptime."),
    ),
    "ADMIN": Command(
        handle_admin, help=Help("[<server>]", "Shows who runs this server and how to reach them.")
    ),
    "INFO": Command(
        handle_info, help=Help("[<server>]", "Shows information about the server software.")
    ),
    "LINKS": Command(handle_links, help=Help("[<mask>]", "Lists the servers of the network.")),
    "LUSERS": Command(
        handle_lusers, help=Help("", "Shows how many users, operators and channels there are.")
    ),
    "MOTD": Command(handle_motd, help=Help("[<server>]", "Shows the message of the day.")),
    "HELP": Command(handle_help, help=_HELP_HELP),
    "HELPOP": Command(handle_help, help=_HELP_HELP),
}
