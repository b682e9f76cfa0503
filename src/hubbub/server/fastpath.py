"""The fast path for what a busy server mostly does: relay a PRIVMSG or NOTICE.

A plain ``PRIVMSG <target> :<text>`` (one target, no tags, ASCII, from a registered client to a
channel it may speak in or to a user who is not away) is relayed straight from its bytes: no
Message object is built; the line is made once, and once more per render key with the tags
that key sees. :func:`relay_block` does the same for a whole read of such lines to one
target at once. Anything else returns False and goes through the full handler, so the
behaviour, errors included, is the full handler's; the output is byte-for-byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol.caps import Cap, visible_tags
from hubbub.protocol.message import MAX_LINE_BYTES
from hubbub.protocol.tags import serialize_tags

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session

FOLD_CACHE_SIZE = 65536
"""Targets whose folded form is remembered (folding is per character; targets repeat)."""
_HASH = ord("#")


def _route(
    server: Server, session: Session, target: bytes
) -> tuple[bytes, Iterable[Session], int] | None:
    """Where a plain message from ``session`` to ``target`` goes, when no reply is due.

    Returns the target as shown to recipients, the recipients (the sender may be among
    them) and how many of them take tags; None when the full handler must decide (no such
    target, a ban, moderation, an away reply, a message to oneself).
    """
    cache = server.fold_cache
    folded = cache.get(target)
    if folded is None:
        folded = server.fold(target.decode())
        if len(cache) >= FOLD_CACHE_SIZE:
            cache.clear()
        cache[target] = folded
    if target[0] == _HASH:
        channel = server.channels.get(folded)
        if channel is None:
            return None
        member = channel.members.get(session)
        if member is None and ("n" in channel.flags or "s" in channel.flags):
            return None  # (a secret channel is answered as missing: the full handler says so)
        if not member and ("m" in channel.flags or channel.lists["b"]):
            return None  # the full handler decides (moderation, bans)
        return channel.name_bytes, channel.members, channel.tagged
    user = server.users.get(folded)
    if user is None or user is session or not user.registered or user.away is not None:
        return None
    return user.nick.encode(), (user,), 1 if user.render_key else 0


def relay(server: Server, session: Session, line: bytes) -> bool:
    """Relay ``line`` if it is a plain PRIVMSG/NOTICE; False to use the full handler."""
    if line.startswith(b"PRIVMSG "):
        skip, verb = 8, b" PRIVMSG "
    elif line.startswith(b"NOTICE "):
        skip, verb = 7, b" NOTICE "
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
    end = line.find(b" :", skip)
    if end <= skip or end + 2 == len(line):  # no target or no text
        return False
    target = line[skip:end]
    if b" " in target or b"," in target:
        return False
    route = _route(server, session, target)
    if route is None:
        return False
    shown, recipients, tagged = route
    plain = b"".join((b":", session.prefix_bytes, verb, shown, line[end:], b"\r\n"))
    if len(plain) > MAX_LINE_BYTES:
        return False  # the full handler cuts the text to fit
    session.last_active = server.clock()
    _deliver(server, session, recipients, tagged, plain, _Line, 1)
    return True


def _deliver(
    server: Server,
    session: Session,
    recipients: Iterable[Session],
    tagged: int,
    plain: bytes,
    renderings: type[_Line | _Blocks],
    lines: int,
) -> None:
    """Queue ``plain`` (``lines`` lines) for every recipient but the sender, or, for those
    that take tags (``tagged`` of them), what ``renderings`` makes of it for their render
    key, counting it against their SendQ; echo it to the sender if it asked for
    echo-message."""
    dirty = server.dirty
    was_idle = not dirty
    made: _Line | _Blocks | None = None
    if not tagged:
        # Nobody here takes tags: the same bytes for all, no per-member lookups. The sender
        # is marked dirty too, which costs nothing (it has nothing queued from this).
        dirty.update(recipients)
        size = len(plain)
        for recipient in recipients:
            if recipient is not session:
                recipient.outbuf.append(plain)
                room = recipient.room = recipient.room - size
                if room < 0:
                    recipient.overflow()
    else:
        made = renderings(server, session, plain, lines)
        add = dirty.add
        for recipient in recipients:
            if recipient is not session:
                data = made.get(recipient.render_key)
                recipient.outbuf.append(data)
                room = recipient.room = recipient.room - len(data)
                if room < 0:
                    recipient.overflow()
                add(recipient)
    if was_idle and dirty:
        server.wake()
    if session.caps & Cap.ECHO_MESSAGE:
        key = session.render_key
        if key and made is None:
            made = renderings(server, session, plain, lines)
        session.write(made.get(key) if made is not None else plain)


class _Line:
    """One relayed line as each render key sees it: made once per key, with one time and
    msgid for all of them (taken when the first key that sees tags asks). Made like
    :class:`_Blocks`, whose line count it takes and ignores (it is always one)."""

    __slots__ = ("_by_key", "_plain", "_server", "_session", "_tags")

    def __init__(self, server: Server, session: Session, plain: bytes, count: int = 1) -> None:
        self._by_key: dict[int, bytes] = {0: plain}
        self._plain = plain
        self._server = server
        self._session = session
        self._tags: dict[str, str] | None = None

    def get(self, key: int) -> bytes:
        data = self._by_key.get(key)
        if data is None:
            if self._tags is None:
                self._tags = self._server.tags(self._session)
            data = self._by_key[key] = _tagged(self._tags, key, self._plain)
        return data


def _tagged(tags: dict[str, str], key: int, plain: bytes) -> bytes:
    """``plain`` with the ``tags`` a client with render key ``key`` may see (what
    :func:`~hubbub.server.response.render` makes of the same message)."""
    section = serialize_tags(visible_tags(tags, key))
    return b"@" + section.encode() + b" " + plain if section else plain


def relay_block(server: Server, session: Session, data: bytes, now: float) -> bool:
    """Relay a block of complete lines at once when they are all plain messages of one
    kind to one target.

    This is what a busy conversation looks like from one socket read: a client that sends
    faster than it is answered has several lines in each read, all to the same place. Each
    line gets the bytes :func:`relay` would give it, made for the whole block by two
    C-level ``replace`` calls instead of a dozen Python operations per line; recipients that
    take tags get one more copy per render key, with a time and a msgid per line. Returns
    False (having done nothing) for anything else: the caller splits the block into lines.
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
    shown_bytes, recipients, tagged = route
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
    _deliver(server, session, recipients, tagged, out, _Blocks, lines)
    return True


_MARK = "\x01msgid\x01"
"""Stands for a line's msgid in a tag template (no msgid can contain it)."""


class _Blocks:
    """A relayed block as each render key sees it: the tags :func:`relay` would give each
    line (one time, one msgid per line), made once per key and shared by every recipient."""

    __slots__ = ("_by_key", "_ids", "_lines", "_template")

    def __init__(self, server: Server, session: Session, out: bytes, count: int) -> None:
        self._by_key: dict[int, bytes] = {0: out}
        template = server.tags(session)
        first = template["msgid"]
        template["msgid"] = _MARK
        self._template = template
        self._ids = [first.encode()] + [server.msgid().encode() for _ in range(count - 1)]
        self._lines = out.split(b"\r\n")
        self._lines.pop()  # (what follows the last CR LF)

    def get(self, key: int) -> bytes:
        data = self._by_key.get(key)
        if data is None:
            data = self._by_key[key] = self._render(key)
        return data

    def _render(self, key: int) -> bytes:
        tags = serialize_tags(visible_tags(self._template, key))
        if not tags:
            return self._by_key[0]
        if _MARK not in tags:
            start = b"@" + tags.encode() + b" "
            return b"".join([start + line + b"\r\n" for line in self._lines])
        before, after = tags.split(_MARK)
        start, end = b"@" + before.encode(), after.encode() + b" "
        return b"".join(
            [
                start + msgid + end + line + b"\r\n"
                for msgid, line in zip(self._ids, self._lines, strict=True)
            ]
        )
