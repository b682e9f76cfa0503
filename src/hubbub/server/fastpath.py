"""The fast path for what a busy server mostly does: relay a PRIVMSG or NOTICE.

A plain ``PRIVMSG <target> :<text>`` (one target, no tags, ASCII, from a registered client to a
channel it may speak in or to a user who is not away) is relayed straight from its bytes: no
Message object is built for recipients whose capabilities add no tags, and the line they get
is made once. Anything else returns False and goes through the full handler, so the
behaviour, errors included, is the full handler's; the output is byte-for-byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol.caps import Cap
from hubbub.protocol.message import MAX_LINE_BYTES, Message
from hubbub.server.response import render

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session

FOLD_CACHE_SIZE = 65536
"""Targets whose folded form is remembered (folding is per character; targets repeat)."""
_HASH = ord("#")
_COLON = ord(":")


def _route(
    server: Server, session: Session, target: bytes
) -> tuple[str, bytes, Iterable[Session], int] | None:
    """Where a plain message from ``session`` to ``target`` goes, when no reply is due.

    Returns the target as shown to recipients (str and bytes), the recipients (the sender
    may be among them) and how many of them take tags; None when the full handler must
    decide (no such target, a ban, moderation, an away reply, a message to oneself).
    """
    name = target.decode()
    cache_ = server.fold_cache
    folded = cache_.get(name)
    if folded is None:
        folded = server.fold(name)
        if len(cache_) >= FOLD_CACHE_SIZE:
            cache_.clear()
        cache_[name] = folded
    if target[0] == _HASH:
        channel = server.channels.get(folded)
        if channel is None:
            return None
        member = channel.members.get(session)
        if member is None and "n" in channel.flags:
            return None
        if not member and ("m" in channel.flags or channel.lists["b"]):
            return None  # the full handler decides (moderation, bans)
        return channel.name, channel.name_bytes, channel.members, channel.tagged
    user = server.users.get(folded)
    if user is None or user is session or not user.registered or user.away is not None:
        return None
    return user.nick, user.nick.encode(), (user,), 1 if user.render_key else 0


def relay(server: Server, session: Session, line: bytes) -> bool:
    """Relay ``line`` if it is a plain PRIVMSG/NOTICE; False to use the full handler."""
    if line.startswith(b"PRIVMSG "):
        command, verb, rest = "PRIVMSG", b" PRIVMSG ", line[8:]
    elif line.startswith(b"NOTICE "):
        command, verb, rest = "NOTICE", b" NOTICE ", line[7:]
    else:
        return False
    if (
        not session.registered
        or len(line) > MAX_LINE_BYTES - 2
        or not line.isascii()
        or b"\x00" in line
        or b"\r" in line
    ):
        return False
    target, sep, text = rest.partition(b" :")
    if not sep or not text or not target or b" " in target or b"," in target:
        return False
    route = _route(server, session, target)
    if route is None:
        return False
    shown, shown_bytes, recipients, tagged = route
    plain = b":" + session.prefix_bytes + verb + shown_bytes + b" :" + text + b"\r\n"
    if len(plain) > MAX_LINE_BYTES:
        return False  # the full handler cuts the text to fit
    session.last_active = server.clock()
    msg: Message | None = None
    cache: dict[int, bytes] = {0: plain}
    dirty = server.dirty
    was_idle = not dirty
    if not tagged:
        # Nobody here takes tags: the same bytes for all, no per-member lookups. The sender
        # is marked dirty too, which costs nothing (it has nothing queued from this).
        dirty.update(recipients)
        for recipient in recipients:
            if recipient is not session:
                recipient.outbuf.append(plain)
        recipients = ()
    add = dirty.add
    for recipient in recipients:
        if recipient is session:
            continue
        key = recipient.render_key
        data = cache.get(key)
        if data is None:
            if msg is None:
                msg = Message(command, (shown, text.decode()), session.prefix, server.tags(session))
            data = cache[key] = render(msg, key)
        recipient.outbuf.append(data)
        add(recipient)
    if was_idle and dirty:
        server.wake()
    if session.caps & Cap.ECHO_MESSAGE:
        if msg is None:
            msg = Message(command, (shown, text.decode()), session.prefix, server.tags(session))
        session.write(render(msg, session.caps))
    return True


def relay_block(server: Server, session: Session, data: bytes, now: float) -> bool:
    """Relay a block of complete lines at once when they are all plain messages of one
    kind to one target, and no recipient takes tags.

    This is what a busy conversation looks like from one socket read: a client that sends
    faster than it is answered has several lines in each read, all to the same place. Each
    line gets the bytes :func:`relay` would give it, made for the whole block by two
    C-level ``replace`` calls instead of a dozen Python operations per line. Returns False
    (having done nothing) for anything else: the caller splits the block into lines.
    """
    if data.startswith(b"PRIVMSG "):
        skip = 8
    elif data.startswith(b"NOTICE "):
        skip = 7
    else:
        return False
    end = data.find(b" :", skip)
    if end < 0 or not session.registered:
        return False
    target = data[skip:end]
    head = b"\n" + data[: end + 2]  # "\nPRIVMSG target :" starts every line
    framed = b"\n" + data
    lines = data.count(b"\n")
    carriage_returns = data.count(b"\r")
    if (
        framed.count(head) != lines
        or not target
        or b" " in target
        or b"," in target
        or not data.isascii()
        or b"\x00" in data
        or (carriage_returns and data.count(b"\r\n") != carriage_returns)  # a CR in a text
        or head + b"\n" in framed
        or head + b"\r" in framed  # an empty text
    ):
        return False
    route = _route(server, session, target)
    if route is None:
        return False
    _, shown_bytes, recipients, tagged = route
    echo = session.caps & Cap.ECHO_MESSAGE
    if tagged or (echo and session.render_key):
        return False
    # Every line must fit once prefixed; split pieces keep their CR, which errs on the short
    # side by one byte (such a line takes the per-line path, with the same result).
    room = MAX_LINE_BYTES - 4 - len(session.prefix_bytes) - len(shown_bytes) + len(target)
    if len(data) > room and max(map(len, data.split(b"\n"))) > room:
        return False
    body = data
    if carriage_returns != lines:  # some lines end with a bare LF
        body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    out = (b"\n" + body).replace(
        head, b"\n:" + session.prefix_bytes + b" " + data[:skip] + shown_bytes + b" :"
    )[1:]
    session.last_active = now
    dirty = server.dirty
    was_idle = not dirty
    dirty.update(recipients)  # the sender too, when it is a member: it has nothing queued
    for recipient in recipients:
        if recipient is not session:
            recipient.outbuf.append(out)
    if was_idle and dirty:
        server.wake()
    if echo:
        session.write(out)
    return True
