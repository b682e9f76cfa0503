"""IRCv3 ``draft/multiline``: a message of several lines, as each client is shown it.

A multiline message (:class:`~hubbub.server.events.MultilineRelayed`, or a row of history)
is one message with one msgid. A client that negotiated ``draft/multiline`` and ``batch``
gets it as the batch the sender made::

    @msgid=..;time=.. :nick!user@host BATCH +b1 draft/multiline #chan
    @batch=b1 :nick!user@host PRIVMSG #chan :first line
    @batch=b1;draft/multiline-concat :nick!user@host PRIVMSG #chan :continued
    :nick!user@host BATCH -b1

Any other gets its lines that are not blank as separate messages (the spec's fallback):
the msgid on the first only; the time, the account and the client-only tags on each.

:class:`MultilineMessage` renders both; it is an item of a reply (the sender's echo, which
labeled-response labels on its opening ``BATCH``) or of a batch (history replays it nested
in the ``chathistory`` batch). The command side (collecting a client's batch) is
:mod:`hubbub.server.commands.multiline`.

History keeps a multiline message as one row (see ``docs/history.md``): ``text`` is the
combined text (searchable as a whole), ``line`` the first line, and the tag
:data:`ROW_TAG` (never sent) marks it, its value the offsets in ``text`` where a
concatenated line starts, so that the lines are rebuilt as they were sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hubbub.protocol.caps import RENDER_CAPS, Cap, CapBits
from hubbub.protocol.message import Message
from hubbub.server.events import join_lines
from hubbub.server.response import new_batch_id, render

__all__ = [
    "BATCH_TYPE",
    "CONCAT_TAG",
    "RENDER_KEY",
    "ROW_TAG",
    "MultilineMessage",
    "lines_of_row",
    "row_marker",
]

BATCH_TYPE = "draft/multiline"
"""The batch type (and capability name) of a multiline message."""
CONCAT_TAG = "draft/multiline-concat"
"""The tag of a line that continues the line before it without a line break."""
ROW_TAG = "hubbub/multiline"
"""The tag that marks a history row as a multiline message (stripped when it is replayed)."""
RENDER_KEY = RENDER_CAPS | Cap.MULTILINE | Cap.BATCH
"""The capabilities that change how a multiline message is shown to a client."""
_EVERY_LINE = ("time", "account", "bot")
"""The server's tags each fallback line carries, with the client-only tags (the first line
carries every tag, the msgid too; the spec allows tags on the other lines, and ergo and
irctest expect the client-only ones there)."""


class MultilineMessage:
    """A multiline message as a reply or batch item (see the module's docstring).

    ``tags`` are the message's: time, msgid, the sender's account and bot tags, and the
    client-only tags sent with it.
    """

    __slots__ = ("command", "concat", "lines", "shown", "source", "tags")

    def __init__(
        self,
        source: str,
        command: str,
        shown: str,
        lines: Sequence[str],
        concat: Sequence[bool],
        tags: Mapping[str, str],
    ) -> None:
        self.source = source
        self.command = command
        self.shown = shown
        self.lines = tuple(lines)
        self.concat = tuple(concat)
        self.tags = tags

    @property
    def text(self) -> str:
        """The combined text."""
        return join_lines(self.lines, self.concat)

    def render(self, caps: CapBits, server_name: str, outer: dict[str, str]) -> bytes:
        """The batch for a client with ``draft/multiline`` and ``batch``, the fallback
        lines for any other."""
        if caps & Cap.MULTILINE and caps & Cap.BATCH:
            return self._batch(caps, outer)
        return self._fallback(caps, server_name, outer)

    def _batch(self, caps: CapBits, outer: dict[str, str]) -> bytes:
        ref = new_batch_id()
        source, command, shown = self.source, self.command, self.shown
        start = Message("BATCH", ("+" + ref, BATCH_TYPE, shown), source, self.tags)
        parts = [render(start, caps, outer)]
        plain = {"batch": ref}
        joined = {"batch": ref, CONCAT_TAG: ""}
        for text, concat in zip(self.lines, self.concat, strict=True):
            line = Message(command, (shown, text), source)
            parts.append(render(line, caps, joined if concat else plain))
        enclosing = {"batch": outer["batch"]} if "batch" in outer else None
        parts.append(render(Message("BATCH", ("-" + ref,), source), caps, enclosing))
        return b"".join(parts)

    def _fallback(self, caps: CapBits, server_name: str, outer: dict[str, str]) -> bytes:
        tags = self.tags
        rest = {k: v for k, v in tags.items() if k in _EVERY_LINE or k[:1] == "+"}
        messages = [
            Message(self.command, (self.shown, text), self.source, rest)
            for text in self.lines
            if text
        ]
        if not messages:  # (a batch of blank lines is refused: history only, if ever)
            return b""
        messages[0] = messages[0].with_tags(tags)
        label = outer.get("label") or None
        if label is None or len(messages) == 1:
            return b"".join(render(m, caps, outer or None) for m in messages)
        # An echo of several lines, labelled: one labelled batch holds them (without
        # batch, the client takes no labelled batch, and gets the lines unlabelled).
        lines = {k: v for k, v in outer.items() if k != "label"} or None
        if not caps & Cap.BATCH:
            return b"".join(render(m, caps, lines) for m in messages)
        ref = new_batch_id()
        start = Message("BATCH", ("+" + ref, "labeled-response"), server_name)
        parts = [render(start, caps, outer)]
        parts.extend(render(m, caps, {"batch": ref}) for m in messages)
        parts.append(render(Message("BATCH", ("-" + ref,), server_name), caps, lines))
        return b"".join(parts)


def row_marker(text: str, lines: Sequence[str], concat: Sequence[bool]) -> str:
    """The value of :data:`ROW_TAG` for a message of ``lines`` whose text is ``text``:
    the offsets (in characters) where a concatenated line starts, comma-separated."""
    offsets: list[str] = []
    at = 0
    for i, (line, joined) in enumerate(zip(lines, concat, strict=True)):
        if i and not joined:
            at += 1  # (the line feed)
        if i and joined:
            offsets.append(str(at))
        at += len(line)
    assert at == len(text)
    return ",".join(offsets)


def lines_of_row(text: str, marker: str) -> tuple[list[str], list[bool]]:
    """The lines (and their concatenation marks) of a multiline message kept as ``text``
    with the :data:`ROW_TAG` value ``marker``; offsets that make no sense (a damaged row)
    are ignored, so that the text is never lost."""
    cuts: set[int] = set()
    for part in marker.split(","):
        if part.isdigit():
            at = int(part)
            if 0 < at < len(text) and text[at] != "\n":
                cuts.add(at)
    bounds = sorted([(i, False) for i, ch in enumerate(text) if ch == "\n"])
    bounds.extend((at, True) for at in cuts)
    bounds.sort()
    lines: list[str] = []
    concat = [False]
    start = 0
    for at, joined in bounds:
        if at < start:
            continue
        lines.append(text[start:at])
        concat.append(joined)
        start = at if joined else at + 1
    lines.append(text[start:])
    return lines, concat
