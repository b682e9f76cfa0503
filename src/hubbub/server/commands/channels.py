"""Channels: JOIN, PART, TOPIC, NAMES, LIST, INVITE and KICK."""

from __future__ import annotations

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import Folded, is_valid_channel
from hubbub.protocol.masks import compile_mask
from hubbub.protocol.message import Message
from hubbub.protocol.numbers import parse_number
from hubbub.server.channel import MAX_LIST_MASKS, Channel
from hubbub.server.commands.dispatch import Command, Context, Help, defer_reply
from hubbub.server.network import NewChannel
from hubbub.server.session import Session
from hubbub.server.user import User


def handle_join(ctx: Context) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    if ctx.params[0] == "0":
        channels = list(user.channels.values())
        for channel in channels:
            server.network.part(user, channel, "")
        _charge_channels(ctx, len(channels))
        return
    names = ctx.params[0].split(",")
    if not any(names):  # ("JOIN :" or "JOIN ,": no channel named)
        reply.numeric(n.ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
        return
    _charge_channels(ctx, sum(1 for name in names if name))
    keys = ctx.params[1].split(",") if len(ctx.params) > 1 else []
    for i, name in enumerate(names):
        if not name:
            continue
        key = keys[i] if i < len(keys) else None
        if not is_valid_channel(name, server.limits.channellen):
            reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
            continue
        folded = server.fold(name)
        if folded in user.channels:
            continue
        if len(user.channels) >= server.limits.max_channels:
            reply.numeric(n.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            continue
        target = server.network.channels.get(folded)
        new = None
        if target is None and server.cluster is not None:
            join_in_cluster(ctx, name, folded, key, names[i + 1 :], keys[i + 1 :])
            return  # (it goes on with the other channels once the cluster answered)
        if target is None:  # what JOIN would create (a registered channel keeps its modes)
            new = server.network.new_channel(name, folded, user)
            target = new.channel
        error = join_error(ctx, target, key)
        if error is not None:
            reply.numeric(error[0], target.name, error[1])
            continue
        join(ctx, name, folded, new)


FLOOD_PER_CHANNEL = 0.25
"""What each channel after the first of a JOIN or PART (or JOIN 0) counts for in flood
control, in lines: every member of each hears it, so a line of fifty channels is not one
line's worth of work (ten connections cycling JOIN 0 and fifty channels of 45 members held
the event loop 450 to 730 ms a round). A client joining 50 channels at once (13 lines'
worth) keeps 7 lines of its 20-line burst for what comes next."""


def _charge_channels(ctx: Context, count: int) -> None:
    """Count a JOIN or PART of ``count`` channels in flood control (see
    :data:`FLOOD_PER_CHANNEL`)."""
    ctx.server.charge(ctx.session, max(0, count - 1) * FLOOD_PER_CHANNEL)


CLUSTER_JOIN_FAILED = "Cannot join channel: the network's cluster is unreachable"
"""Why a JOIN that would create a channel fails when the cluster cannot decide who makes
it (never decided on a guess)."""


def join_in_cluster(
    ctx: Context, name: str, folded: Folded, key: str | None, names: list[str], keys: list[str]
) -> None:
    """Cluster mode, a JOIN to a channel this node does not know: one node in the whole
    network makes it (its creator gets what creating gives). Claim it; if another node
    holds it, wait for that node's channel to get here (at most the lease: a claim whose
    channel never comes is stale, and taken over once). The client's next lines wait; the
    JOIN goes on with ``names`` (and ``keys``) afterwards."""
    server, session = ctx.server, ctx.session
    cluster = server.cluster
    assert cluster is not None
    reply = defer_reply(ctx)
    session.checking_password = True

    def go_on() -> None:
        """This channel is done: the other channels of the JOIN, then the next lines."""
        session.checking_password = False
        if session.closed:
            return
        if names:
            rest = Message(
                "JOIN", (",".join(names), ",".join(keys)) if keys else (",".join(names),)
            )
            with server.answering(reply):
                handle_join(Context(server, session, rest, reply))
        if not session.checking_password:  # (else a later channel waits, and resumes)
            reply.flush()
            server.resume(session)

    def enter() -> None:
        """Join the channel as it is now known here (made here, or by another node)."""
        with server.answering(reply):
            more = Context(server, session, ctx.msg, reply)
            target = server.network.channels.get(folded)
            new = None
            if target is None:
                new = server.network.new_channel(name, folded, ctx.user)
                target = new.channel
            error = join_error(more, target, key)
            if error is not None:
                reply.numeric(error[0], target.name, error[1])
            elif folded not in ctx.user.channels:
                join(more, name, folded, new)

    def claim(stale: str | None) -> None:
        def answered(holder: str | None) -> None:
            if session.closed:
                if holder == "":  # (won, but nobody is left to make it)
                    cluster.unclaim_channel(folded)
                return
            if holder is None:
                reply.numeric(n.ERR_UNAVAILRESOURCE, name, CLUSTER_JOIN_FAILED)
            elif holder == "" or folded in server.network.channels:
                enter()
            else:  # made on another node: wait for it to get here
                cluster.when_known(folded, lambda came: arrived(came, holder))
                return
            go_on()

        cluster.claim_channel(folded, stale, answered)

    def arrived(came: bool, holder: str) -> None:
        if session.closed:
            return
        if came:
            enter()
            go_on()
        elif stale_tried:
            reply.numeric(n.ERR_UNAVAILRESOURCE, name, CLUSTER_JOIN_FAILED)
            go_on()
        else:
            stale_tried.append(holder)
            claim(holder)

    stale_tried: list[str] = []
    claim(None)


def join_error(ctx: Context, channel: Channel, key: str | None) -> tuple[str, str] | None:
    """Why ``ctx.user`` may not join ``channel`` (numeric and text), or None."""
    server, user = ctx.server, ctx.user
    mapping = server.casemapping
    invited = channel.folded in user.invited
    if channel.key is not None and key != channel.key:
        return n.ERR_BADCHANNELKEY, "Cannot join channel (+k)"
    if channel.limit is not None and len(channel.members) >= channel.limit and not invited:
        return n.ERR_CHANNELISFULL, "Cannot join channel (+l)"
    if "i" in channel.flags and not invited and not channel.is_invite_excepted(user, mapping):
        return n.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"
    if not invited and channel.is_banned(user, mapping):
        return n.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"
    return None


def join(ctx: Context, name: str, folded: Folded, new: NewChannel | None = None) -> None:
    """Add ``ctx.user`` to the channel ``name`` (made if it does not exist: ``new``, when
    given, is what it is made as) and send it the topic and names."""
    channel = ctx.server.network.join(ctx.user, name, folded, new)
    if channel.topic:
        send_topic(ctx, channel)
    history = ctx.server.history
    if history is not None and ctx.session.caps & Cap.READ_MARKER:
        # (draft/read-marker: before RPL_ENDOFNAMES)
        marker = history.stamp_text(history.marker(ctx.user, channel.folded))
        ctx.reply.add(Message("MARKREAD", (channel.name, marker), ctx.server.name))
    if not ctx.session.caps & Cap.NO_IMPLICIT_NAMES:
        send_names(ctx, channel)


def handle_part(ctx: Context) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    reason = ctx.params[1] if len(ctx.params) > 1 else ""
    names = ctx.params[0].split(",")
    if not any(names):
        reply.numeric(n.ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
        return
    _charge_channels(ctx, sum(1 for name in names if name))
    for name in names:
        if not name:
            continue
        channel = find_channel(ctx, name)
        if channel is None:
            continue
        if user not in channel.members:
            reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        else:
            server.network.part(user, channel, reason[: server.limits.kicklen])


def send_topic(ctx: Context, channel: Channel) -> None:
    """RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC."""
    if not channel.topic:
        ctx.reply.numeric(n.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    ctx.reply.numeric(n.RPL_TOPIC, channel.name, channel.topic)
    ctx.reply.numeric(
        n.RPL_TOPICWHOTIME, channel.name, channel.topic_setter, str(channel.topic_time)
    )


def handle_topic(ctx: Context) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    channel = find_channel(ctx, ctx.params[0])
    if channel is None:
        return
    member = user in channel.members
    if len(ctx.params) < 2:
        send_topic(ctx, channel)
        return
    if not member:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if "t" in channel.flags and not channel.is_op(user):
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    topic = ctx.params[1][: server.limits.topiclen]
    server.network.set_topic(user, channel, topic, user.prefix)


def names_entries(channel: Channel, viewer: Session) -> list[str]:
    """Each member as RPL_NAMREPLY shows them to ``viewer`` (prefixes, maybe hostmasks)."""
    multi = bool(viewer.caps & Cap.MULTI_PREFIX)
    uhnames = bool(viewer.caps & Cap.USERHOST_IN_NAMES)
    show_invisible = viewer.user in channel.members
    out = []
    for member in channel.members:
        if not show_invisible and "i" in member.modes:
            continue
        name = member.prefix if uhnames else member.nick
        out.append(channel.prefix_of(member, multi) + name)
    return out


def send_names(ctx: Context, channel: Channel) -> None:
    """RPL_NAMREPLY lines (as many as it takes to keep each within 512 bytes) and
    RPL_ENDOFNAMES."""
    reply = ctx.reply
    entries = names_entries(channel, ctx.session)
    reply.numeric_items(n.RPL_NAMREPLY, channel.names_symbol, channel.name, items=entries)
    reply.numeric(n.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


def handle_names(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    if not ctx.params or not ctx.params[0]:
        reply.numeric(n.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    name = ctx.params[0].split(",")[0]  # TARGMAX NAMES:1; the rest is dropped
    channel = server.find_channel(name)
    if channel is None or channel.hidden_from(session.user):
        reply.numeric(n.RPL_ENDOFNAMES, name or "*", "End of /NAMES list")
    else:
        send_names(ctx, channel)


def handle_list(ctx: Context) -> None:
    """``LIST [<item>{,<item>}]`` with the ``ELIST`` items: name masks and ``!``-masks that
    leave channels out (N, at most :data:`MAX_LIST_MASKS` masks in all), ``>n``/``<n`` users
    (U), ``C>n``/``C<n`` created more/less than n minutes ago (C) and ``T>n``/``T<n`` topic
    set more/less than n minutes ago (T; a channel without a topic has no topic time)."""
    server, session, reply = ctx.server, ctx.session, ctx.reply
    masks: list[str] = []
    negated: list[str] = []
    users = [0, _NO_LIMIT]  # (at least, at most)
    created = [-1, _NO_LIMIT]  # (seconds ago: more than, less than)
    topic = [-1, _NO_LIMIT]
    for item in ctx.params[0].split(",") if ctx.params else ():
        prefix = item[:2] if item[:1] in ("C", "T") else item[:1]
        count = parse_number(item[len(prefix) :]) if prefix[-1:] in ("<", ">") else None
        if count is not None and prefix in ("<", ">"):
            if prefix == ">":
                users[0] = max(users[0], count + 1)
            else:
                users[1] = min(users[1], count - 1)
        elif count is not None:
            bounds = created if prefix[0] == "C" else topic
            if prefix[1] == ">":
                bounds[0] = max(bounds[0], min(count, _MAX_MINUTES) * 60)
            else:
                bounds[1] = min(bounds[1], min(count, _MAX_MINUTES) * 60)
        elif item and len(masks) + len(negated) < MAX_LIST_MASKS:
            if item[0] == "!" and len(item) > 1:
                negated.append(item[1:])
            else:
                masks.append(item)
    reply.numeric(n.RPL_LISTSTART, "Channel", "Users  Name")
    wanted = [compile_mask(m, server.casemapping) for m in masks]
    unwanted = [compile_mask(m, server.casemapping) for m in negated]
    now = server.network.clock()
    server.scanned(len(server.network.channels))
    for channel in list(server.network.channels.values()):
        if channel.hidden_from(session.user):
            continue
        count = len(channel.members)
        if not users[0] <= count <= users[1]:
            continue
        if not created[0] < now - channel.created < created[1]:
            continue
        if topic != [-1, _NO_LIMIT] and (
            not channel.topic or not topic[0] < now - channel.topic_time < topic[1]
        ):
            continue
        if wanted and not any(m.matches_folded(channel.folded) for m in wanted):
            continue
        if any(m.matches_folded(channel.folded) for m in unwanted):
            continue
        reply.numeric(n.RPL_LIST, channel.name, str(count), channel.topic)
    reply.numeric(n.RPL_LISTEND, "End of /LIST")


_NO_LIMIT = 1 << 62
_MAX_MINUTES = 1 << 40
"""Minutes beyond which a ``C``/``T`` bound means the same (no channel is that old)."""


def handle_invite(ctx: Context) -> None:
    server, user, reply = ctx.server, ctx.user, ctx.reply
    if not ctx.params:
        for folded in sorted(user.invited):
            channel = server.network.channels.get(folded)
            if channel is not None:
                reply.numeric(n.RPL_INVITELIST, channel.name)
        reply.numeric(n.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return
    if len(ctx.params) < 2:
        reply.numeric(n.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, name = ctx.params[0], ctx.params[1]
    channel = find_channel(ctx, name)
    if channel is None:
        return
    if user not in channel.members:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if "i" in channel.flags and not channel.is_op(user):
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    target = find_user(ctx, nick)
    if target is None:
        return
    if target in channel.members:
        reply.numeric(n.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel")
        return
    reply.numeric(n.RPL_INVITING, target.nick, channel.name)
    server.network.invite(user, target, channel)
    if target.away is not None:
        reply.numeric(n.RPL_AWAY, target.nick, target.away)


def find_channel(ctx: Context, name: str) -> Channel | None:
    """The channel called ``name``; otherwise answers 403, as it does for a secret channel
    the client is not in (see :meth:`Channel.hidden_from`)."""
    channel = ctx.server.find_channel(name)
    if channel is None or channel.hidden_from(ctx.user):
        ctx.reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
        return None
    return channel


def find_user(ctx: Context, nick: str) -> User | None:
    """The user called ``nick``; otherwise answers 401."""
    target = ctx.server.find_user(nick)
    if target is None:
        ctx.reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
    return target


def find_member(ctx: Context, channel: Channel, nick: str) -> User | None:
    """The member of ``channel`` called ``nick``; otherwise answers 401 or 441."""
    target = find_user(ctx, nick)
    if target is None:
        return None
    if target not in channel.members:
        ctx.reply.numeric(
            n.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel"
        )
        return None
    return target


def handle_kick(ctx: Context) -> None:
    """``KICK <channel> <nick>{,<nick>} [<reason>]``, and RFC 2812's pairs
    ``KICK <channel>{,<channel>} <nick>{,<nick>}`` (as many channels as nicks): at most
    ``TARGMAX`` ``KICK`` (``[limits] max_targets``) users a line."""
    server, reply = ctx.server, ctx.reply
    names, nicks = ctx.params[0].split(","), ctx.params[1].split(",")
    if len(names) > 1 and len(names) != len(nicks):
        reply.numeric(n.ERR_NEEDMOREPARAMS, "KICK", "One channel, or one channel per user")
        return
    if len(nicks) > server.limits.max_targets:
        reply.numeric(n.ERR_TOOMANYTARGETS, ctx.params[1], "Too many users to kick at once")
        return
    reason = ctx.params[2] if len(ctx.params) > 2 and ctx.params[2] else ctx.user.nick
    reason = reason[: server.limits.kicklen]
    if len(names) == 1:
        _kick(ctx, names[0], nicks, reason)
    else:
        for name, nick in zip(names, nicks, strict=True):
            _kick(ctx, name, [nick], reason)


def _kick(ctx: Context, name: str, nicks: list[str], reason: str) -> None:
    """``ctx.user`` kicks ``nicks`` out of the channel ``name``, if it may."""
    server, user, reply = ctx.server, ctx.user, ctx.reply
    channel = find_channel(ctx, name)
    if channel is None:
        return
    if user not in channel.members:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not channel.is_op(user):
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    for nick in nicks:
        target = find_member(ctx, channel, nick)
        if target is None:
            continue
        server.network.kick(user, channel, target, reason)
        if channel.folded not in server.network.channels:
            break


COMMANDS = {
    "JOIN": Command(
        handle_join,
        min_params=1,
        help=Help("<channel>{,<channel>} [<key>{,<key>}]", "Joins channels; JOIN 0 parts all."),
    ),
    "PART": Command(
        handle_part, min_params=1, help=Help("<channel>{,<channel>} [<reason>]", "Leaves channels.")
    ),
    "TOPIC": Command(
        handle_topic,
        min_params=1,
        help=Help("<channel> [<topic>]", "Shows or sets a channel's topic."),
    ),
    "NAMES": Command(
        handle_names, help=Help("<channel>{,<channel>}", "Lists the members of channels.")
    ),
    "LIST": Command(
        handle_list,
        help=Help("[<mask>|>n|<n{,...}]", "Lists channels, by name mask or number of users."),
    ),
    "INVITE": Command(
        handle_invite,
        help=Help("[<nick> <channel>]", "Invites a user to a channel; alone, lists your invites."),
    ),
    "KICK": Command(
        handle_kick,
        min_params=2,
        help=Help(
            "<channel>{,<channel>} <nick>{,<nick>} [<reason>]",
            "Removes users from a channel (ops).",
        ),
    ),
}
