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
            return False
        member = channel.members.get(session)
        if member is None and "n" in channel.flags:
            return False
        if not member and ("m" in channel.flags or channel.lists["b"]):
            return False  # the full handler decides (moderation, bans)
        shown, shown_bytes = channel.name, channel.name_bytes
        recipients: Iterable[Session] = channel.members
        plain_only = not channel.tagged
    else:
        user = server.users.get(folded)
        if user is None or user is session or not user.registered or user.away is not None:
            return False
        shown = user.nick
        shown_bytes = shown.encode()
        recipients = (user,)
        plain_only = False
    trailing = text if text[0] != _COLON and b" " not in text else b":" + text
    plain = b":" + session.prefix_bytes + verb + shown_bytes + b" " + trailing + b"\r\n"
    if len(plain) > MAX_LINE_BYTES:
        return False  # the full handler cuts the text to fit
    session.last_active = server.clock()
    msg: Message | None = None
    cache: dict[int, bytes] = {0: plain}
    dirty = server.dirty
    was_idle = not dirty
    if plain_only:
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
