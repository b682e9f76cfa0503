"""The fast path for what a busy server mostly does: relay a PRIVMSG or NOTICE.

A plain ``PRIVMSG <target> :<text>`` (one target, no tags, ASCII, from a registered client to a
channel it may speak in or to a user who is not away) is read straight from its bytes: no
Message object is built; the relayed line is made at once and handed to the network's relay
(:meth:`~hubbub.server.network.Network.relay_wire`), which gives it a msgid and a time and
emits it like any other message; local delivery adds the tags each render key sees.
:func:`relay_block` does the same for a whole read of such lines to one target at once.
Anything else returns False and goes through the full handler, so the behaviour, errors
included, is the full handler's; the output is byte-for-byte the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol.message import MAX_LINE_BYTES
from hubbub.server.channel import NO_CTCP, Channel
from hubbub.server.network import may_speak
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session

FOLD_CACHE_SIZE = 65536
"""Targets whose folded form is remembered (folding is per character; targets repeat)."""
_HASH = ord("#")


def _route(server: Server, session: Session, target: bytes) -> Channel | User | None:
    """Where a plain message from ``session`` to ``target`` goes, when no reply is due.

    Returns the channel or the user; None when the full handler must decide and answer
    (no such target, a secret channel, a message it may not send there (see
    :func:`~hubbub.server.network.may_speak`), an away reply, a message to oneself).
    """
    cache = server.fold_cache
    folded = cache.get(target)
    if folded is None:
        folded = server.fold(target.decode())
        if len(cache) >= FOLD_CACHE_SIZE:
            cache.clear()
        cache[target] = folded
    network = server.network
    if target[0] == _HASH:
        channel = network.channels.get(folded)
        if channel is None:
            return None
        if session.user not in channel.members and "s" in channel.flags:
            return None  # (answered as missing: the full handler says so)
        if not may_speak(channel, session.user, network.casemapping):
            return None
        if NO_CTCP in channel.flags:
            return None  # (the full handler looks for CTCP)
        return channel
    user = network.users.get(folded)
    if user is None or user is session.user or user.away is not None:
        return None
    other = user.session
    if other is None or not other.registered:
        return None  # (a service answers: the full handler holds what follows meanwhile)
    return user


def _shown(target: Channel | User) -> tuple[str, bytes]:
    """The target as written in the relayed line, as text and as bytes."""
    if isinstance(target, Channel):
        return target.name, target.name_bytes
    return target.nick, target.nick.encode()


def relay(server: Server, session: Session, line: bytes) -> bool:
    """Relay ``line`` if it is a plain PRIVMSG/NOTICE; False to use the full handler."""
    if line.startswith(b"PRIVMSG "):
        skip, verb, command = 8, b" PRIVMSG ", "PRIVMSG"
    elif line.startswith(b"NOTICE "):
        skip, verb, command = 7, b" NOTICE ", "NOTICE"
    else:
        return False
    if (
        not session.registered
        or session.multiline is not None  # (the full handler drops the open batch)
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
    found = _route(server, session, target)
    if found is None:
        return False
    user = session.user
    shown, shown_bytes = _shown(found)
    plain = b"".join((b":", user.prefix_bytes, verb, shown_bytes, line[end:], b"\r\n"))
    if len(plain) > MAX_LINE_BYTES:
        return False  # the full handler cuts the text to fit
    user.last_active = server.clock()
    server.network.relay_wire(user, command, found, shown, "", plain, 1)
    return True


def scan_block_py(
    data: bytes, head_len: int, new_head: bytes, room: int
) -> tuple[bytes, int] | None:
    """The lines of ``data`` with their first ``head_len`` bytes (``PRIVMSG <target> :``,
    the same on every line) replaced by ``new_head``, each ending with CR LF, and how many
    there are; None unless ``data`` is a plain block: complete lines (it ends with LF) that
    all start with that head, each with a text that is not empty, ending with LF or CR LF,
    no other CR, no NUL, nothing beyond ASCII, and no line (CR included) longer than
    ``room`` bytes.

    The reference for :mod:`hubbub._speedups`'s ``scan_block``, which does the same in one
    pass of C and is used when it could be built; the tests check that both agree."""
    if not data.endswith(b"\n") or not 0 < head_len < len(data):
        return None
    head = b"\n" + data[:head_len]  # "\nPRIVMSG target :" starts every line
    framed = b"\n" + data
    lines = data.count(b"\n")
    carriage_returns = data.count(b"\r")
    if (
        framed.count(head) != lines
        or not data.isascii()
        or b"\x00" in data
        or (carriage_returns and data.count(b"\r\n") != carriage_returns)  # a CR in a text
        or head + b"\n" in framed
        or head + b"\r" in framed  # an empty text
    ):
        return None
    if len(data) > room and max(map(len, data.split(b"\n"))) > room:
        return None
    body = data
    if carriage_returns != lines:  # some lines end with a bare LF
        body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return (b"\n" + body).replace(head, b"\n" + new_head)[1:], lines


scan_block: Callable[[bytes, int, bytes, int], tuple[bytes, int] | None] = scan_block_py
"""What :func:`relay_block` uses: the C twin when it was built, unless the environment sets
``HUBBUB_PURE_PYTHON`` (to run, or test, the pure-Python one)."""
if not os.environ.get("HUBBUB_PURE_PYTHON"):
    try:
        from hubbub._speedups import scan_block
    except ImportError:  # (no compiler where it was installed: the Python twin does)
        pass


def relay_block(server: Server, session: Session, data: bytes, now: float) -> bool:
    """Relay a block of complete lines at once when they are all plain messages of one
    kind to one target.

    This is what a busy conversation looks like from one socket read: a client that sends
    faster than it is answered has several lines in each read, all to the same place. Each
    line gets the bytes :func:`relay` would give it, made for the whole block at once by
    :data:`scan_block`, and its own msgid (local delivery adds the tags per render key).
    Returns False (having done nothing) for anything else: the caller splits the block into
    lines.
    """
    if data.startswith(b"PRIVMSG "):
        skip, command = 8, "PRIVMSG"
    elif data.startswith(b"NOTICE "):
        skip, command = 7, "NOTICE"
    else:
        return False
    end = data.find(b" :", skip)
    if end < 0 or not session.registered or session.multiline is not None:
        return False
    target = data[skip:end]
    if not target or not target.isascii() or b" " in target or b"," in target:
        return False
    if b"\n" in target or b"\r" in target or b"\x00" in target:
        return False  # (scan_block refuses these too; _route must not see them)
    found = _route(server, session, target)
    if found is None:
        return False
    user = session.user
    shown, shown_bytes = _shown(found)
    # Every line must fit once prefixed; the room counts a line's CR, which errs on the short
    # side by one byte (such a line takes the per-line path, with the same result).
    room = MAX_LINE_BYTES - 4 - len(user.prefix_bytes) - len(shown_bytes) + len(target)
    new_head = b":" + user.prefix_bytes + b" " + data[:skip] + shown_bytes + b" :"
    scanned = scan_block(data, end + 2, new_head, room)
    if scanned is None:
        return False
    out, lines = scanned
    user.last_active = now
    server.network.relay_wire(user, command, found, shown, "", out, lines)
    return True
