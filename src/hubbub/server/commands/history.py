"""Reading history back: CHATHISTORY (IRCv3 ``draft/chathistory``), SEARCH
(``soju.im/search``), MARKREAD (``draft/read-marker``) and REDACT
(``draft/message-redaction``).

Each query runs off the event loop (``server.offload``); meanwhile the client's next lines
wait (as during a password check), so its replies stay in order and one client runs one
query at a time. Access is checked before anything is read: what a client may not read
gets the spec's ``FAIL`` and never a line (see :mod:`hubbub.server.history`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import is_channel_name
from hubbub.protocol.message import Message
from hubbub.protocol.tags import parse_tags
from hubbub.server.channel import Channel
from hubbub.server.commands.dispatch import (
    Command,
    Context,
    Help,
    defer_reply,
    finish_deferred,
    hold_input,
)
from hubbub.server.core import Lane, Server
from hubbub.server.delivery import format_time
from hubbub.server.history import (
    MESSAGE_COMMANDS,
    History,
    fit_lines,
    guarded,
    ms,
    replay_message,
    wire_lines,
)
from hubbub.server.multiline import MultilineMessage
from hubbub.server.response import Batch, Response
from hubbub.storage.base import Anchor, StorageError, StorageTimeout, StoredMessage

__all__ = ["COMMANDS", "parse_anchor", "parse_timestamp"]

log = logging.getLogger("hubbub.history")

T = TypeVar("T")

_SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")
_EVENT_COMMANDS = frozenset(("TAGMSG", "JOIN", "PART", "KICK", "QUIT", "NICK", "MODE", "TOPIC"))
MAX_MARKERS = 2000
"""The most targets one account (or connection) keeps a read marker on."""
SEARCHES_PER_ADDRESS = 4
"""The most searches one address block (IPv6: its /64) may have waiting or running at once
(not counting those of clients per-address allowances spare, :meth:`Server.spared`): more
get ``FAIL SEARCH INTERNAL_ERROR busy``. Turns keep others' searches from waiting behind
them; this keeps the queue short."""
SEARCH_PAGES = 8
"""The most pages one SEARCH reads past matches the client may not read (each of up to its
limit, all within ``search_timeout``)."""
MAX_MSGID = 100
"""The longest msgid accepted in a reference (ours are far shorter)."""
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")
"""The ``server-time`` format (no backtracking: every part has a fixed alphabet and end)."""


def parse_timestamp(text: str) -> float | None:
    """A ``server-time`` timestamp (``2026-12-03T10:15:00.123Z``, the fraction of 1 to 6
    digits or none) as Unix time; None if it is not one (another ISO 8601 form, an offset,
    a date that does not exist)."""
    if _TIMESTAMP.fullmatch(text) is None:
        return None
    try:
        when = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(when.timestamp() * 1000) / 1000  # (exactly the millisecond it names)


def parse_anchor(text: str, star: bool = False) -> Anchor | None | str:
    """A message reference (``timestamp=...``, ``msgid=...``, or ``*`` when ``star``); the
    string ``"bad"`` when it is not one (None stands for ``*``)."""
    if star and text == "*":
        return None
    kind, _, value = text.partition("=")
    if kind == "timestamp":
        when = parse_timestamp(value)
        return "bad" if when is None else Anchor(time=when)
    if kind == "msgid":
        if not value or len(value) > MAX_MSGID:
            return "bad"
        return Anchor(msgid=value)
    return "bad"


class NotStarted(StorageTimeout):
    """Work waited for its thread until it was too late to start it."""


def _history(ctx: Context) -> History:
    history = ctx.server.history
    assert history is not None  # (the commands are in the table only with history)
    return history


def _run(
    ctx: Context,
    work: Callable[[], T],
    answer: Callable[[Response, T | Exception], None],
    lane: Lane = "storage",
    within: float | None = None,
    ended: Callable[[], None] | None = None,
) -> None:
    """Run ``work`` off the event loop (in ``lane``), holding the client's next lines;
    ``answer`` adds the reply (given the result, or the StorageError raised). Work that
    cannot start ``within`` seconds never runs: ``answer`` is given :class:`NotStarted`.
    ``ended`` is called once it is answered, either way."""
    server, session = ctx.server, ctx.session
    later = defer_reply(ctx)
    hold_input(ctx)

    def done(result: T | Exception) -> None:
        if ended is not None:
            ended()
        if not session.closed:
            answer(later, result)
        finish_deferred(ctx, later)

    def late() -> None:
        done(NotStarted(f"not started within {within:g}s"))

    server.offload(guarded(work), done, lane, within, late)


# -- CHATHISTORY -----------------------------------------------------------------------------


def _limit(text: str, most: int) -> int | None:
    """A limit as asked (ASCII digits), at most ``most``; None if it is not a number > 0."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        return None
    value = int(text)
    return min(value, most) if value > 0 else None


def handle_chathistory(ctx: Context) -> None:
    history = _history(ctx)
    reply, params = ctx.reply, ctx.params
    sub = params[0].upper()
    if sub not in _SUBCOMMANDS:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", params[0], "Unknown command")
        return
    if sub == "TARGETS":
        _targets(ctx, history)
        return
    wanted = 5 if sub == "BETWEEN" else 4
    if len(params) < wanted:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, "Insufficient parameters")
        return
    if len(params) > wanted:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, "Too many parameters")
        return
    target_name = params[1]
    anchors = []
    for text in params[2 : wanted - 1]:
        anchor = parse_anchor(text, star=sub == "LATEST")
        if anchor == "bad":
            reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, text, "Invalid message reference")
            return
        assert not isinstance(anchor, str)
        anchors.append(anchor)
    limit = _limit(params[wanted - 1], history.config.request_limit)
    if limit is None:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, params[wanted - 1], "Invalid limit")
        return
    found = _buffer(ctx, history, target_name)
    if found is None:
        reply.fail(
            "CHATHISTORY", "INVALID_TARGET", sub, target_name, "Messages could not be retrieved"
        )
        return
    key, peer, floor, shown = found
    events = bool(ctx.session.caps & Cap.EVENT_PLAYBACK)
    store = history.store
    budget = history.config.request_limit

    def find(msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of this buffer, if the client may read it."""
        assert key is not None
        row = store.find(key, peer, msgid)
        return None if row is None or row.time < floor else row

    def query(
        after: Anchor | None, before: Anchor | None, count: int, newest: bool
    ) -> list[StoredMessage] | None:
        assert key is not None
        return store.query(
            key,
            peer,
            after=after,
            before=before,
            limit=count,
            newest=newest,
            not_before=floor,
            messages_only=not events,
        )

    unknown: list[str] = []
    """The msgid (of those the client named) that named no message it may read, if any."""

    def when(anchor: Anchor) -> float | None:
        """The time of the message an anchor names (None: no such message)."""
        if anchor.time is not None:
            return anchor.time
        assert anchor.msgid is not None
        row = find(anchor.msgid)
        if row is None:
            unknown.append(anchor.msgid)
            return None
        return row.time

    def fit(rows: list[StoredMessage] | None, newest: bool) -> list[StoredMessage] | None:
        return None if rows is None else fit_lines(rows, budget, newest)

    def work() -> list[StoredMessage] | None:
        if key is None:
            return []  # (a channel whose history is off)
        first = anchors[0] if anchors else None
        named = first.msgid if first is not None else None
        if sub in ("LATEST", "BEFORE", "AFTER") and named is not None and find(named) is None:
            unknown.append(named)
            return None  # (a message from before the client may read is no message)
        if sub == "LATEST":
            return fit(query(first, None, limit, True), True)
        if sub == "BEFORE":
            return fit(query(None, first, limit, True), True)
        if sub == "AFTER":
            return fit(query(first, None, limit, False), False)
        assert first is not None
        if sub == "AROUND":
            middle: list[StoredMessage] = []
            if first.msgid is not None:
                row = find(first.msgid)
                if row is None:
                    unknown.append(first.msgid)
                    return None
                if events or row.command in MESSAGE_COMMANDS:
                    middle = [row]
            older = query(None, first, (limit - len(middle)) // 2, True) if limit > 1 else []
            if older is None:
                return None
            room = limit - len(middle) - len(older)
            # (around a time, the lines of that very millisecond are on the newer side)
            from_ = first if first.time is None else Anchor(time=first.time - 0.001)
            newer = query(from_, None, room, False) if room > 0 else []
            if not middle:  # (around a time: the nearest message is kept, whatever its size)
                if newer:
                    middle, newer = newer[:1], newer[1:]
                elif older:
                    older, middle = older[:-1], older[-1:]
            used = sum(map(wire_lines, middle))
            older = fit_lines(older, (budget - used) // 2, True, at_least_one=False)
            used += sum(map(wire_lines, older))
            newer = fit_lines(newer or [], budget - used, False, at_least_one=False)
            return older + middle + newer
        second = anchors[1]  # BETWEEN: counted from the first reference, either way
        assert second is not None
        start, end = when(first), when(second)
        if start is None or end is None:
            return None
        if start > end:
            return fit(query(second, first, limit, True), True)
        return fit(query(first, second, limit, False), False)

    def answer(later: Response, result: list[StoredMessage] | None | Exception) -> None:
        if isinstance(result, Exception):
            log.warning("CHATHISTORY failed: %s", result)
            later.fail(
                "CHATHISTORY", "MESSAGE_ERROR", sub, target_name, "Messages could not be retrieved"
            )
            return
        if result is None:
            named = f"msgid={unknown[0]}" if unknown else target_name
            later.fail("CHATHISTORY", "INVALID_PARAMS", sub, named, "No such message to count from")
            return
        later.add(Batch("chathistory", (shown,), _messages(result, events)))

    _run(ctx, work, answer)


def _messages(rows: list[StoredMessage], events: bool) -> list[Message | MultilineMessage]:
    return [replay_message(row) for row in rows if events or row.command in MESSAGE_COMMANDS]


def _buffer(ctx: Context, history: History, name: str) -> tuple[str | None, str, float, str] | None:
    """Where ``name``'s history is for the client, and from when it may read it:
    (key, peer, oldest time, canonical name); the key is None for a channel that keeps no
    history. None when it may not read it."""
    server, user = ctx.server, ctx.user
    if is_channel_name(name):
        channel = server.find_channel(name)
        if channel is None:
            return None
        floor = history.channel_access(user, channel)
        if floor is None:
            return None
        key = channel.folded if history.keeps(channel) else None
        return key, "", floor, channel.name
    if not _peer_name(server, name):
        return None
    # (the batch names the nick as the client asked for it, as ergo does and irctest
    # checks: the conversation outlives the nick's owner)
    return history.key_of(user), server.fold(name), history.private_floor(user), name


def _peer_name(server: Server, name: str) -> bool:
    """True if ``name`` could be the other party of a private conversation (who may have
    left: it is not looked up)."""
    return (
        bool(name)
        and name.isprintable()
        and not any(c in name for c in "*, :")
        and len(name) <= server.limits.nicklen * 4
    )


def _targets(ctx: Context, history: History) -> None:
    reply, params, server, user = ctx.reply, ctx.params, ctx.server, ctx.user
    if len(params) != 4:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", "Insufficient parameters")
        return
    times = []
    for text in params[1:3]:
        anchor = parse_anchor(text)
        if isinstance(anchor, str) or anchor is None or anchor.time is None:
            reply.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", text, "Invalid timestamp")
            return
        times.append(anchor.time)
    limit = _limit(params[3], history.config.request_limit)
    if limit is None:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", params[3], "Invalid limit")
        return
    names: dict[str, str] = {}
    keys: list[tuple[str, str]] = []
    floors: dict[str, float] = {}
    for channel in user.channels.values():
        if history.keeps(channel):
            keys.append((channel.folded, ""))
            names[channel.folded] = channel.name
            floors[channel.folded] = history.channel_access(user, channel) or 0.0
    own = [(history.key_of(user), "")]
    start, end = times
    # A conversation whose last line is older than what the client may read in its
    # private history (a deleted account's of the same name) is not its own.
    oldest = history.private_floor(user) - 0.001
    own_start, own_end = (max(start, oldest), end) if start <= end else (start, max(end, oldest))
    if (own_start > own_end) != (start > end):
        own = []  # (the whole window is older: none of it is the client's)
    store = history.store

    def work() -> list[tuple[str, str, float]]:
        found = store.targets(keys, start, end, limit) if keys else []
        # (a channel whose latest line the client may not read: made since, say)
        found = [each for each in found if each[2] >= floors.get(each[0], 0.0)]
        if own:
            found += store.targets(own, own_start, own_end, limit)
        found.sort(key=lambda each: each[2])
        return found[:limit] if start <= end else found[-limit:]

    def answer(later: Response, result: list[tuple[str, str, float]] | Exception) -> None:
        if isinstance(result, Exception):
            later.fail(
                "CHATHISTORY", "MESSAGE_ERROR", "TARGETS", "*", "Messages could not be retrieved"
            )
            return
        lines = [
            Message(
                "CHATHISTORY",
                ("TARGETS", peer or names.get(target, target), format_time(when)),
                server.name,
            )
            for target, peer, when in result
        ]
        later.add(Batch("draft/chathistory-targets", (), lines))

    _run(ctx, work, answer)


# -- SEARCH ----------------------------------------------------------------------------------


def handle_search(ctx: Context) -> None:
    began = time.monotonic()  # (the search's time counts from here, its wait for a turn too)
    history = _history(ctx)
    reply, server, user = ctx.reply, ctx.server, ctx.user
    try:
        attrs = parse_tags(ctx.params[0])
    except ValueError:
        reply.fail("SEARCH", "INVALID_PARAMS", ctx.params[0], "Invalid parameters")
        return
    known = {"in", "from", "after", "before", "text", "limit"}
    unknown = [k for k in attrs if k not in known]
    if unknown:
        reply.fail("SEARCH", "INVALID_PARAMS", unknown[0], "Unknown search attribute")
        return
    limit = history.config.search_limit
    if "limit" in attrs:
        asked = _limit(attrs["limit"], limit)
        if asked is None:
            reply.fail("SEARCH", "INVALID_PARAMS", "limit", "Invalid limit")
            return
        limit = asked
    bounds: dict[str, float] = {}
    for name in ("after", "before"):
        if name in attrs:
            when = parse_timestamp(attrs[name])
            if when is None:
                reply.fail("SEARCH", "INVALID_PARAMS", name, "Invalid timestamp")
                return
            # (soju.im/search: at or after, at or before; the store's bounds are strict)
            bounds[name] = when - 0.001 if name == "after" else when + 0.001
    floors: dict[tuple[str, str], float] = {}
    if "in" in attrs:
        found = _buffer(ctx, history, attrs["in"])
        if found is None:
            reply.fail("SEARCH", "INVALID_PARAMS", "in", "No such target, or you may not read it")
            return
        key, peer, floor, _ = found
        if key is not None:
            floors[(key, peer)] = floor
    else:
        for channel in user.channels.values():
            readable = history.channel_access(user, channel)
            if readable is not None and history.keeps(channel):
                floors[(channel.folded, "")] = readable
        floors[(history.key_of(user), "")] = history.private_floor(user)
    text = attrs.get("text", "")
    sender = server.fold(attrs["from"]) if attrs.get("from") else ""
    after = bounds.get("after")
    if floors:
        oldest = min(floors.values()) - 0.001  # (a floor is inclusive, ``after`` is not)
        after = oldest if after is None else max(after, oldest)
    timeout = history.config.search_timeout
    budget = history.config.request_limit
    store = history.store
    keys = list(floors)

    def work() -> list[StoredMessage] | Exception:
        try:
            return search()
        except StorageError:
            raise
        except Exception as exc:  # (answered, so that its address's count goes down)
            log.exception("SEARCH failed")
            return exc

    def search() -> list[StoredMessage]:
        if not keys:
            return []
        # The store takes one lower bound, the oldest of the buffers' floors: what it finds
        # below a buffer's own floor is dropped here, and the next page asked for, so that
        # hidden matches never push readable ones out (whether a planted line came back
        # had told whether a word was in a past the client may not read).
        deadline = began + timeout
        found: list[StoredMessage] = []
        upper = bounds.get("before")
        for page in range(SEARCH_PAGES):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageTimeout("the search took too long") if page else NotStarted()
            rows = store.search(
                keys,
                text=text,
                sender=sender,
                after=after,
                before=upper,
                limit=limit,
                timeout=left,
            )
            found = [r for r in rows if r.time >= _floor_of(floors, r)] + found
            if len(rows) < limit or len(found) >= limit:
                break
            upper = min(r.time for r in rows)  # (strictly before the oldest of this page)
        found.sort(key=lambda r: r.time)
        return fit_lines(found[-limit:], budget, True)

    def answer(later: Response, result: list[StoredMessage] | Exception) -> None:
        if isinstance(result, NotStarted):
            busy = "The server is busy searching; try again later"
            later.fail("SEARCH", "INTERNAL_ERROR", "timeout", busy)
        elif isinstance(result, StorageTimeout):
            later.fail("SEARCH", "INTERNAL_ERROR", "timeout", "The search took too long; narrow it")
        elif isinstance(result, Exception):
            if isinstance(result, StorageError):
                log.warning("SEARCH failed: %s", result)
            later.fail("SEARCH", "INTERNAL_ERROR", "The search could not be run")
        else:
            later.add(Batch("soju.im/search", (), _messages(result, False)))

    searching = history.searching
    address = server.asker()
    counted = not server.spared(ctx.session)
    if counted:
        if searching.get(address, 0) >= SEARCHES_PER_ADDRESS:
            reply.fail(
                "SEARCH",
                "INTERNAL_ERROR",
                "busy",
                "Too many searches from your address; try again later",
            )
            return
        searching[address] = searching.get(address, 0) + 1

    def ended() -> None:
        if counted:
            left = searching[address] - 1
            if left:
                searching[address] = left
            else:
                del searching[address]

    _run(ctx, work, answer, "search", max(timeout - (time.monotonic() - began), 0.0), ended)


def _floor_of(floors: dict[tuple[str, str], float], row: StoredMessage) -> float:
    """The oldest time the client may read in ``row``'s buffer."""
    floor = floors.get((row.target, ""))
    if floor is None:
        floor = floors.get((row.target, row.peer), 0.0)
    return floor


# -- MARKREAD --------------------------------------------------------------------------------


def markread_line(server_name: str, target: str, text: str) -> Message:
    """The server's MARKREAD for ``target``."""
    return Message("MARKREAD", (target, text), server_name)


def handle_markread(ctx: Context) -> None:
    history = _history(ctx)
    reply, server, user, params = ctx.reply, ctx.server, ctx.user, ctx.params
    if not params:  # (the extension's own error, not 461)
        reply.fail("MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")
        return
    target = params[0]
    getting = len(params) < 2
    if " " in target or target[:1] == ":" or not target.isprintable():
        reply.fail("MARKREAD", "INVALID_PARAMS", target, "Invalid target")
        return
    if is_channel_name(target):
        # A marker may be read back for a channel that is gone (``*`` when none was set),
        # and set only on one that exists or that the user is in.
        channel = server.find_channel(target)
        gone = channel is None or channel.hidden_from(user)
        if gone and not getting:
            reply.fail("MARKREAD", "INVALID_PARAMS", target, "No such channel")
            return
    elif not target or "*" in target or "," in target:
        reply.fail("MARKREAD", "INVALID_PARAMS", target, "Invalid target")
        return
    folded = server.fold(target)
    if getting:
        reply.add(
            markread_line(server.name, target, history.stamp_text(history.marker(user, folded)))
        )
        return
    text = params[1]
    when = parse_timestamp(text[len("timestamp=") :]) if text.startswith("timestamp=") else None
    if when is None:
        reply.fail("MARKREAD", "INVALID_PARAMS", text, "Invalid timestamp")
        return
    when = ms(min(when, server.clock()))
    before = history.marker(user, folded)
    if before is None and history.marker_count(user) >= MAX_MARKERS:
        reply.fail("MARKREAD", "INTERNAL_ERROR", target, "Too many read markers")
        return
    now = history.remember_marker(user, folded, when)
    line = markread_line(server.name, target, history.stamp_text(now))
    reply.add(line)
    if before == now:
        return
    for session in history.sessions_of(user):
        if session is not ctx.session and session.caps & Cap.READ_MARKER:
            server.send(session, line)
    account = user.account
    if account is not None:  # (the reply acknowledges it: it waits for the write)
        saved = server.hold_until(ctx.session, "markers")
        owner, since = server.fold(account), history.account_since(user)
        history.save_marker(owner, since, folded, target, now, saved)


# -- REDACT ----------------------------------------------------------------------------------


def handle_redact(ctx: Context) -> None:
    history = _history(ctx)
    reply, server, user, params = ctx.reply, ctx.server, ctx.user, ctx.params
    target_name, msgid = params[0], params[1]
    reason = params[2] if len(params) > 2 else ""
    channel: Channel | None = None
    if is_channel_name(target_name):
        channel = server.find_channel(target_name)
        if channel is None or user not in channel.members:
            reply.fail(
                "REDACT", "INVALID_TARGET", target_name, "You cannot delete messages from there"
            )
            return
        key: str = channel.folded
        peer: str = ""
        floor = history.channel_access(user, channel) or 0.0
    else:
        # (the other party may have left: the conversation is the client's own)
        if not _peer_name(server, target_name):
            reply.fail("REDACT", "INVALID_TARGET", target_name, "No such nick")
            return
        key, peer = history.key_of(user), server.fold(target_name)
        floor = history.private_floor(user)
    if len(msgid) > MAX_MSGID:
        reply.fail("REDACT", "UNKNOWN_MSGID", target_name, msgid[:MAX_MSGID], "No such message")
        return
    store = history.store
    operator = "o" in user.modes
    moderator = channel is not None and channel.is_op(user)
    account = user.account
    since = history.account_since(user)
    named = ms(user.named)  # (without an account, what this user said since it took its nick)

    def work() -> tuple[StoredMessage | None, bool]:
        row = store.find(key, peer, msgid)
        if row is None or row.command not in ("PRIVMSG", "NOTICE", "TAGMSG") or row.time < floor:
            return None, False  # (what the client may not read is no message to it)
        own = (account is not None and row.account == account and row.time >= since) or (
            account is None
            and not row.account
            and row.time >= named
            and row.line.startswith(":" + user.prefix + " ")
        )
        if not (own or moderator or operator):
            return row, False
        store.redact(msgid)
        return row, True

    def answer(later: Response, result: tuple[StoredMessage | None, bool] | Exception) -> None:
        if isinstance(result, Exception):
            later.fail(
                "REDACT", "UNKNOWN_MSGID", target_name, msgid, "This message could not be deleted"
            )
            return
        row, done = result
        if row is None:
            later.fail(
                "REDACT",
                "UNKNOWN_MSGID",
                target_name,
                msgid,
                "This message does not exist or is too old",
            )
            return
        if not done:
            later.fail(
                "REDACT",
                "REDACT_FORBIDDEN",
                target_name,
                msgid,
                "You are not authorised to delete this message",
            )
            return
        where: Channel | None = channel
        if where is not None and where.folded not in server.network.channels:
            return  # (the channel ended meanwhile: nobody is left to tell)
        recipient = where if where is not None else server.find_user(target_name)
        if recipient is None:  # (the other party left: its copy stays its own)
            if ctx.session.caps & Cap.MESSAGE_REDACTION:
                shown = (target_name, msgid, reason) if reason else (target_name, msgid)
                later.add(Message("REDACT", shown, user.prefix))
            return
        with server.answering(later):
            server.network.redact(user, recipient, msgid, reason)

    _run(ctx, work, answer)


COMMANDS = {
    "CHATHISTORY": Command(
        handle_chathistory,
        min_params=1,
        help=Help(
            "<LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS> <target> <reference>... <limit>",
            "Reads the history of a channel or a private conversation (IRCv3 chathistory).",
        ),
    ),
    "SEARCH": Command(
        handle_search,
        min_params=1,
        help=Help(
            "in=<target>;from=<nick>;after=<time>;before=<time>;text=<words>;limit=<n>",
            "Searches the history you may read (soju.im/search).",
        ),
    ),
    "MARKREAD": Command(
        handle_markread,
        min_params=0,
        help=Help("<target> [timestamp=<time>]", "Gets or sets your read marker on a target."),
    ),
    "REDACT": Command(
        handle_redact,
        min_params=2,
        help=Help("<target> <msgid> [<reason>]", "Deletes a message you sent (or moderate)."),
    ),
}
