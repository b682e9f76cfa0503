"""IRCv3 ``draft/multiline`` for the client: a text of several lines sent as one batch, and a
batch received as one message (pure helpers; :class:`~hubbub.client.ClientSession` uses
them).

Sending: :func:`batch_messages` makes ``BATCH +ref draft/multiline <target>``, one
``PRIVMSG`` (or ``NOTICE``) per line of the text tagged ``batch=ref`` (a line too long for
one message is split, its pieces after the first tagged ``draft/multiline-concat`` so that
they join without a break), and ``BATCH -ref``, or None when the text is beyond the limits
the server advertised (the caller then sends separate messages).

Receiving: :func:`combine` makes one ``PRIVMSG``/``NOTICE`` out of a received batch: its
text is the lines joined by ``\\n`` (concatenated lines joined without one), its tags those
of the opening ``BATCH`` (msgid, time, account). What handles a single message handles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from hubbub.protocol import Message

__all__ = [
    "BATCH_TYPE",
    "CAP",
    "CONCAT_TAG",
    "Limits",
    "batch_messages",
    "combine",
    "parse_limits",
    "split_keeping_spaces",
]

CAP = "draft/multiline"
BATCH_TYPE = "draft/multiline"
CONCAT_TAG = "draft/multiline-concat"


class Limits(NamedTuple):
    """What the server takes in one multiline message (``max-bytes``, ``max-lines``; None:
    not said)."""

    max_bytes: int | None
    max_lines: int | None


def parse_limits(value: str | None) -> Limits:
    """The limits in a ``draft/multiline`` capability value (``max-bytes=4096,max-lines=
    100``); tokens not understood are ignored, as the spec asks."""
    found: dict[str, int] = {}
    for token in (value or "").split(","):
        key, _, number = token.partition("=")
        if key in ("max-bytes", "max-lines") and number.isdigit():
            found[key] = int(number)
    return Limits(found.get("max-bytes"), found.get("max-lines"))


def split_keeping_spaces(line: str, budget: int) -> list[str]:
    """``line`` in pieces of at most ``budget`` UTF-8 bytes that give ``line`` back when
    concatenated: cut after a space near the end of a piece (the space stays at the end, as
    the spec advises), else between two characters."""
    budget = max(budget, 4)
    pieces: list[str] = []
    rest = line
    while len(rest.encode()) > budget:
        cut = _fit(rest, budget)
        space = rest.rfind(" ", 0, cut)
        if space >= cut // 2:
            cut = space + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def _fit(text: str, max_bytes: int) -> int:
    """How many characters of ``text`` fit in ``max_bytes`` bytes (at least one)."""
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode())
        if size > max_bytes:
            return max(i, 1)
    return len(text)


def batch_messages(
    target: str, text: str, command: str, budget: int, ref: str, limits: Limits
) -> list[Message] | None:
    """The lines that send ``text`` as one multiline message, or None when it breaks the
    server's limits or is blank (see the module's docstring). ``budget`` is the bytes of
    text one line may carry."""
    pieces: list[tuple[str, bool]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        for i, piece in enumerate(split_keeping_spaces(line, budget)):
            pieces.append((piece, i > 0))
    if not any(piece for piece, _ in pieces):
        return None
    breaks = sum(1 for i, (_, concat) in enumerate(pieces) if i and not concat)
    size = sum(len(piece.encode()) for piece, _ in pieces) + breaks
    if limits.max_bytes is not None and size > limits.max_bytes:
        return None
    if limits.max_lines is not None and len(pieces) > limits.max_lines:
        return None
    out = [Message("BATCH", ("+" + ref, BATCH_TYPE, target))]
    for piece, concat in pieces:
        tags = {"batch": ref, CONCAT_TAG: ""} if concat else {"batch": ref}
        out.append(Message(command, (target, piece), tags=tags))
    out.append(Message("BATCH", ("-" + ref,)))
    return out


def combine(start: Message, lines: Sequence[Message]) -> Message | None:
    """One message made of a received multiline batch (``start`` its opening ``BATCH``,
    ``lines`` the lines tagged with it); None when it holds no message."""
    texts: list[str] = []
    command = ""
    target = start.params[2] if len(start.params) > 2 else ""
    source = start.source
    for line in lines:
        if line.command.upper() not in ("PRIVMSG", "NOTICE") or len(line.params) < 2:
            continue
        command = command or line.command.upper()
        if texts and CONCAT_TAG not in line.tags:
            texts.append("\n")
        texts.append(line.params[1])
        target = target or line.params[0]
        source = source or line.source
    if not command:
        return None
    tags = {k: v for k, v in start.tags.items() if k != "batch"}
    return Message(command, (target, "".join(texts)), source, tags)
