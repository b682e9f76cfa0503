"""Rendering messages for one client, and the reply buffer of one command.

Handlers never write replies to the origin client directly: they add them to a
:class:`Response`, which on flush applies IRCv3 labeled-response (a label on one reply, an
``ACK`` for none, a ``labeled-response`` batch for several).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from hubbub.protocol.caps import Cap, CapBits, visible_tags
from hubbub.protocol.message import MAX_BODY_BYTES, Message, cut_utf8, fit_body
from hubbub.protocol.tags import serialize_tags

if TYPE_CHECKING:
    from hubbub.server.session import Session

_batch_ids = itertools.count(1)


def _too_long(line: str) -> bool:
    """True if ``line`` is over :data:`MAX_BODY_BYTES` in UTF-8 (a short line, or a long one
    all ASCII, has its size known without encoding it)."""
    size = len(line)
    if size <= MAX_BODY_BYTES // 4 or (size <= MAX_BODY_BYTES and line.isascii()):
        return False
    return len(line.encode("utf-8", "replace")) > MAX_BODY_BYTES


def render(msg: Message, caps: CapBits, extra: dict[str, str] | None = None) -> bytes:
    """Serialise ``msg`` for a client with ``caps``: only the tags it may see.

    Every line the server makes goes through here, so this is where the 512-byte limit of
    a line (tags excluded) is kept: a longer one is cut to fit (see
    :func:`~hubbub.protocol.message.fit_body`).
    """
    tags = visible_tags(dict(msg.tags), caps) if msg.tags else {}
    if extra:
        tags = {**tags, **extra}
    line = msg.serialize_without_tags()
    if _too_long(line):
        line = fit_body(msg).decode()
    if tags:
        line = "@" + serialize_tags(tags) + " " + line
    return (line + "\r\n").encode("utf-8", "replace")


def pack(items: Iterable[str], sep: str, room: int) -> list[str]:
    """``items`` joined by ``sep`` into strings of at most ``room`` bytes each, in order (an
    item longer than ``room`` goes alone, to be cut when it is sent)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    step = len(sep.encode())
    for item in items:
        length = len(item.encode("utf-8", "replace"))
        if current and size + step + length > room:
            chunks.append(sep.join(current))
            current, size = [], 0
        size += (step if current else 0) + length
        current.append(item)
    if current:
        chunks.append(sep.join(current))
    return chunks


def wrap(text: str, room: int) -> list[str]:
    """``text`` in pieces of at most ``room`` bytes, cut between characters (and between
    words where there is a space in the second half of a piece)."""
    data = text.encode("utf-8", "replace")
    pieces: list[str] = []
    while len(data) > room > 0:
        piece = cut_utf8(data, room)
        if not piece:  # a character longer than the room goes alone
            piece = data.decode()[0].encode()
        space = piece.rfind(b" ", len(piece) // 2)
        if space > 0:
            piece = piece[: space + 1]
        pieces.append(piece.decode().rstrip(" ") or piece.decode())
        data = data[len(piece) :]
    pieces.append(data.decode("utf-8", "replace"))
    return pieces


def safe_middle(param: str) -> str:
    """A form of ``param`` that is valid as a middle parameter: cut at the first space,
    without a leading ``:``, ``*`` when nothing is left."""
    if param and " " not in param and param[0] != ":":
        return param
    return param.lstrip(":").split(" ", 1)[0] or "*"


def new_batch_id() -> str:
    """A batch reference unique on this server."""
    return f"b{next(_batch_ids):x}"


class Item(Protocol):
    """Something a reply holds that is not one message (a batch, a multiline message):
    it renders itself for each client."""

    def render(self, caps: CapBits, server_name: str, outer: dict[str, str]) -> bytes:
        """Its lines for a client with ``caps``; ``outer`` tags (a label, an enclosing
        batch) go on its first line (and an enclosing batch's on each line outside its
        own batch)."""
        ...


class Batch:
    """A batch of messages inside a reply (``chathistory``, ``soju.im/search``...): one
    item of a :class:`Response`, so that labeled-response puts the label on its start.
    Its messages may be items themselves (a nested multiline batch)."""

    __slots__ = ("kind", "messages", "params")

    def __init__(
        self, kind: str, params: tuple[str, ...], messages: Sequence[Message | Item]
    ) -> None:
        self.kind = kind
        self.params = params
        self.messages = messages

    def render(self, caps: CapBits, server_name: str, outer: dict[str, str]) -> bytes:
        """The batch for a client with ``caps``: its lines without a batch when the client
        takes none; ``outer`` tags (a label, an enclosing batch) go on the start line, and
        an enclosing batch's tag on the end line too."""
        if not caps & Cap.BATCH:
            return b"".join(_render(m, caps, server_name, None) for m in self.messages)
        ref = new_batch_id()
        start = Message("BATCH", ("+" + ref, self.kind, *self.params), server_name)
        end = Message("BATCH", ("-" + ref,), server_name)
        parts = [render(start, caps, outer)]
        inner = {"batch": ref}
        parts.extend(_render(m, caps, server_name, inner) for m in self.messages)
        enclosing = {"batch": outer["batch"]} if "batch" in outer else None
        parts.append(render(end, caps, enclosing))
        return b"".join(parts)


class Response:
    """The replies to one command from one client, sent together on :meth:`flush`."""

    __slots__ = ("label", "messages", "server_name", "session")

    def __init__(self, session: Session, server_name: str, label: str | None) -> None:
        self.session = session
        self.server_name = server_name
        self.label = label
        self.messages: list[Message | Item] = []

    def add(self, msg: Message | Item) -> None:
        """Queue a message (or a batch of them) for the origin client."""
        self.messages.append(msg)

    def numeric(self, code: str, *params: str) -> None:
        """Queue a numeric reply; the client's nick (or ``*``) is the first parameter.

        Parameters often echo what the client sent; one that cannot be a middle parameter
        (empty, with a space, or starting with ``:``) is made safe rather than refused.
        """
        self.messages.append(self._numeric(code, params))

    def _numeric(self, code: str, params: tuple[str, ...]) -> Message:
        middle = tuple(safe_middle(p) for p in params[:-1])
        return Message(code, (self.session.user.nick, *middle, *params[-1:]), self.server_name)

    def _room(self, code: str, before: tuple[str, ...], after: tuple[str, ...]) -> int:
        """The bytes left for one more parameter between ``before`` and ``after`` in a
        ``code`` numeric (one kept for the ``:`` it may need)."""
        line = self._numeric(code, (*before, "x", *after)).serialize_without_tags()
        return MAX_BODY_BYTES - (len(line.encode("utf-8", "replace")) - 1) - 1

    def numeric_items(
        self,
        code: str,
        *params: str,
        items: Iterable[str],
        sep: str = " ",
        text: str | None = None,
        max_lines: int | None = None,
    ) -> None:
        """Queue ``code`` numerics carrying ``items`` joined by ``sep`` (after ``params``,
        and before the trailing ``text`` if there is one): as many lines as it takes for
        each to fit in 512 bytes, or at most ``max_lines`` of them, the items that do not
        fit left out. No items, no line."""
        after = () if text is None else (text,)
        chunks = pack(items, sep, self._room(code, params, after))
        for chunk in chunks[:max_lines]:
            self.numeric(code, *params, chunk, *after)

    def numeric_wrapped(self, code: str, *params: str, text: str, lead: str = "") -> None:
        """Queue ``code`` numerics with ``lead`` and ``text`` as their last parameter, in as
        many lines as it takes for each to fit in 512 bytes (``text`` wrapped, each piece
        after ``lead``: a long MOTD line, say)."""
        room = self._room(code, params, ()) - len(lead.encode())
        for piece in wrap(text, room):
            self.numeric(code, *params, lead + piece)

    def fail(self, command: str, code: str, *context_and_text: str) -> None:
        """Queue an IRCv3 standard reply ``FAIL <command> <code> [<context>...] :<text>``.
        Context often echoes what the client sent: made safe as :meth:`numeric` does."""
        middle = tuple(safe_middle(p) for p in (command, code, *context_and_text[:-1]))
        self.messages.append(Message("FAIL", (*middle, *context_and_text[-1:]), self.server_name))

    def flush(self) -> None:
        """Write everything queued, labelled when the client asked for labels."""
        session = self.session
        caps = session.caps
        msgs = self.messages
        self.messages = []
        label = self.label
        name = self.server_name
        if label is None or not caps & Cap.LABELED_RESPONSE:
            if msgs:
                session.write(b"".join(_render(m, caps, name, None) for m in msgs))
            return
        if not msgs:
            ack = Message("ACK", (), name)
            session.write(render(ack, caps, {"label": label}))
        elif len(msgs) == 1:
            session.write(_render(msgs[0], caps, name, {"label": label}))
        elif not caps & Cap.BATCH:
            session.write(b"".join(_render(m, caps, name, None) for m in msgs))
        else:
            ref = new_batch_id()
            start = Message("BATCH", ("+" + ref, "labeled-response"), name)
            end = Message("BATCH", ("-" + ref,), name)
            parts = [render(start, caps, {"label": label})]
            parts.extend(_render(m, caps, name, {"batch": ref}) for m in msgs)
            parts.append(render(end, caps))
            session.write(b"".join(parts))


def _render(
    item: Message | Item, caps: CapBits, server_name: str, extra: dict[str, str] | None
) -> bytes:
    if type(item) is Message:
        return render(item, caps, extra)
    assert not isinstance(item, Message)
    return item.render(caps, server_name, extra or {})
