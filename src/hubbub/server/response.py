"""Rendering messages for one client, and the reply buffer of one command.

Handlers never write replies to the origin client directly: they add them to a
:class:`Response`, which on flush applies IRCv3 labeled-response (a label on one reply, an
``ACK`` for none, a ``labeled-response`` batch for several).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from hubbub.protocol.caps import Cap, CapBits, visible_tags
from hubbub.protocol.message import Message
from hubbub.protocol.tags import serialize_tags

if TYPE_CHECKING:
    from hubbub.server.session import Session

_batch_ids = itertools.count(1)


def render(msg: Message, caps: CapBits, extra: dict[str, str] | None = None) -> bytes:
    """Serialise ``msg`` for a client with ``caps``: only the tags it may see."""
    tags = visible_tags(dict(msg.tags), caps) if msg.tags else {}
    if extra:
        tags = {**tags, **extra}
    line = msg.serialize_without_tags()
    if tags:
        line = "@" + serialize_tags(tags) + " " + line
    return (line + "\r\n").encode("utf-8", "replace")


def safe_middle(param: str) -> str:
    """A form of ``param`` that is valid as a middle parameter: cut at the first space,
    without a leading ``:``, ``*`` when nothing is left."""
    if param and " " not in param and param[0] != ":":
        return param
    return param.lstrip(":").split(" ", 1)[0] or "*"


def new_batch_id() -> str:
    """A batch reference unique on this server."""
    return f"b{next(_batch_ids):x}"


class Response:
    """The replies to one command from one client, sent together on :meth:`flush`."""

    __slots__ = ("label", "messages", "server_name", "session")

    def __init__(self, session: Session, server_name: str, label: str | None) -> None:
        self.session = session
        self.server_name = server_name
        self.label = label
        self.messages: list[Message] = []

    def add(self, msg: Message) -> None:
        """Queue a message for the origin client."""
        self.messages.append(msg)

    def numeric(self, code: str, *params: str) -> None:
        """Queue a numeric reply; the client's nick (or ``*``) is the first parameter.

        Parameters often echo what the client sent; one that cannot be a middle parameter
        (empty, with a space, or starting with ``:``) is made safe rather than refused.
        """
        middle = tuple(safe_middle(p) for p in params[:-1])
        self.messages.append(
            Message(code, (self.session.nick, *middle, *params[-1:]), self.server_name)
        )

    def fail(self, command: str, code: str, *context_and_text: str) -> None:
        """Queue an IRCv3 standard reply ``FAIL <command> <code> [<context>...] :<text>``."""
        self.messages.append(Message("FAIL", (command, code, *context_and_text), self.server_name))

    def flush(self) -> None:
        """Write everything queued, labelled when the client asked for labels."""
        session = self.session
        caps = session.caps
        msgs = self.messages
        self.messages = []
        label = self.label
        if label is None or not caps & Cap.LABELED_RESPONSE:
            if msgs:
                session.write(b"".join(render(m, caps) for m in msgs))
            return
        if not msgs:
            ack = Message("ACK", (), self.server_name)
            session.write(render(ack, caps, {"label": label}))
        elif len(msgs) == 1:
            session.write(render(msgs[0], caps, {"label": label}))
        elif not caps & Cap.BATCH:
            session.write(b"".join(render(m, caps) for m in msgs))
        else:
            ref = new_batch_id()
            start = Message("BATCH", ("+" + ref, "labeled-response"), self.server_name)
            end = Message("BATCH", ("-" + ref,), self.server_name)
            parts = [render(start, caps, {"label": label})]
            parts.extend(render(m, caps, {"batch": ref}) for m in msgs)
            parts.append(render(end, caps))
            session.write(b"".join(parts))
