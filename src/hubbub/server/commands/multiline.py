"""Client batches of IRCv3 ``draft/multiline``: ``BATCH +ref draft/multiline <target>``, the
lines tagged ``batch=ref``, ``BATCH -ref``.

A client has at most one batch open (:attr:`Session.multiline`). Its lines are collected as
they come (flood control counts each, as any line), bounded by ``[limits]
multiline_max_lines`` and ``multiline_max_bytes``: past a limit nothing more is kept, and
the batch fails when it closes. On ``BATCH -ref`` the batch is checked (the spec's
``FAIL BATCH MULTILINE_*``), then its target exactly as PRIVMSG checks it, and it is relayed
as one message (:meth:`Network.relay_multiline`). The label of the opening ``BATCH`` (or
else of the closing one) goes on the answer: the echo, an error, or ``ACK``.

A batch left open is dropped, with a ``FAIL``, at the client's next line that is neither
one of its lines nor its end (``PING`` and ``PONG`` excepted), or when nothing of it has
come for ``multiline_timeout`` seconds (``FAIL BATCH TIMEOUT``). A line tagged with a batch
that is not open (it failed, was dropped or never opened: answered then) is ignored, as the
client-batch spec says.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap
from hubbub.protocol.message import Message
from hubbub.protocol.tags import client_tags as only_client_tags
from hubbub.server.commands.dispatch import Command, Context, Help
from hubbub.server.commands.messaging import is_ctcp, resolve_target
from hubbub.server.multiline import BATCH_TYPE, CONCAT_TAG
from hubbub.server.response import Response
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.config import LimitsSection
    from hubbub.server.core import Server
    from hubbub.server.session import Session

__all__ = ["COMMANDS", "OpenBatch", "cap_value", "expire", "take_line"]

MAX_REF = 64
"""The longest batch reference a client may use."""
_REF = re.compile(r"[A-Za-z0-9-]+")
_MESSAGES = ("PRIVMSG", "NOTICE")
_KEEP_OPEN = ("PING", "PONG")
"""Lines that do not drop an open batch: a client may answer a PING while it sends."""


def cap_value(limits: LimitsSection) -> str:
    """The value of ``draft/multiline`` in CAP LS 302."""
    return f"max-bytes={limits.multiline_max_bytes},max-lines={limits.multiline_max_lines}"


class OpenBatch:
    """A client's multiline batch being received: what is kept of it is bounded by the
    limits (past one, only the error)."""

    __slots__ = (
        "client_tags",
        "command",
        "concat",
        "count",
        "error",
        "label",
        "last",
        "lines",
        "ref",
        "size",
        "target",
    )

    def __init__(
        self,
        ref: str,
        target: str,
        label: str | None,
        client_tags: dict[str, str] | None,
        now: float,
    ) -> None:
        self.ref = ref
        self.target = target
        self.label = label
        """The label of the opening BATCH: the answer at its end carries it."""
        self.client_tags = client_tags
        """The client-only tags of the opening BATCH: the message carries them."""
        self.command: str | None = None
        self.lines: list[str] = []
        self.concat: list[bool] = []
        self.count = 0
        self.size = 0
        """Bytes counted toward ``max-bytes``: the texts and a line feed between lines
        that are not concatenated."""
        self.error: tuple[str, ...] | None = None
        """The FAIL code, context and text the batch ends with, once it broke a rule."""
        self.last = now
        """When the last line of it was handled."""

    def add(self, msg: Message, command: str, server: Server) -> None:
        """Take one line tagged with this batch (or note why the batch is invalid)."""
        self.last = server.clock()
        if self.error is not None:
            return
        limits = server.limits
        params = msg.params
        if command not in _MESSAGES or len(params) < 2:
            self._fail("MULTILINE_INVALID", "Invalid multiline batch")
            return
        if self.command is None:
            self.command = command
        elif command != self.command:
            self._fail("MULTILINE_INVALID", "Invalid multiline batch: PRIVMSG and NOTICE mixed")
            return
        if server.fold(params[0]) != server.fold(self.target):
            self._fail(
                "MULTILINE_INVALID_TARGET", self.target, params[0], "Invalid multiline target"
            )
            return
        self.count += 1
        if self.count > limits.multiline_max_lines:
            self._fail(
                "MULTILINE_MAX_LINES",
                str(limits.multiline_max_lines),
                "Multiline batch max-lines exceeded",
            )
            return
        text = params[1]
        concat = bool(self.lines) and CONCAT_TAG in msg.tags
        if concat and not text:
            self._fail("MULTILINE_INVALID", "Invalid multiline batch with concatenated blank line")
            return
        self.size += len(text.encode()) + (1 if self.lines and not concat else 0)
        if self.size > limits.multiline_max_bytes:
            self._fail(
                "MULTILINE_MAX_BYTES",
                str(limits.multiline_max_bytes),
                "Multiline batch max-bytes exceeded",
            )
            return
        self.lines.append(text)
        self.concat.append(concat)

    def _fail(self, *code_context_text: str) -> None:
        self.error = code_context_text
        self.lines, self.concat = [], []  # (nothing more is kept)


def _drop(server: Server, session: Session, code: str, *context_and_text: str) -> None:
    """Drop ``session``'s open batch with a FAIL (labelled as its answer would have been)."""
    batch = session.multiline
    assert batch is not None
    session.multiline = None
    reply = Response(session, server.name, batch.label)
    reply.fail("BATCH", code, *context_and_text)
    reply.flush()


def take_line(
    server: Server, session: Session, msg: Message, command: str, reply: Response
) -> bool:
    """Called by the core for each line of a client that has a batch open, or that tags
    a line with a batch: True when the line was taken (a line of the open batch, or of one
    that is not open: ignored, but for the ``ACK`` a labelled line must get); False when it
    is a command to run as usual (having dropped the open batch first when it is unrelated
    to it)."""
    if not session.registered:
        return False
    batch = session.multiline
    ref = msg.tags.get("batch") if msg.tags else None
    if ref is not None:
        if batch is not None and ref == batch.ref:
            batch.add(msg, command, server)
            return True
        if command in _MESSAGES:
            # (the rest of a batch already dropped, and told: nothing more to say, but a
            # labelled line is answered, as labeled-response requires)
            reply.flush()
            return True
    if batch is None:
        return False
    if command == "BATCH" and msg.params[:1] == ("-" + batch.ref,):
        return False
    if command in _KEEP_OPEN:
        return False
    _drop(
        server,
        session,
        "MULTILINE_INVALID",
        f"Multiline batch {batch.ref} dropped: {command} was sent before it was closed",
    )
    return False


def expire(server: Server, session: Session, now: float) -> None:
    """Drop ``session``'s open batch if nothing of it came for ``multiline_timeout``
    seconds and nothing of the client waits to be handled (flood control)."""
    batch = session.multiline
    if batch is None or session.pending:
        return
    if now - batch.last > server.limits.multiline_timeout:
        _drop(server, session, "TIMEOUT", batch.ref, "Multiline batch timed out")


def handle_batch(ctx: Context) -> None:
    reply, params = ctx.reply, ctx.params
    param = params[0]
    ref = param[1:]
    if param[:1] == "-":
        _close(ctx, ref)
        return
    if param[:1] != "+" or not _REF.fullmatch(ref) or len(ref) > MAX_REF:
        reply.fail("BATCH", "INVALID_REFTAG", param, "Invalid batch reference tag")
        return
    if len(params) < 2:
        reply.numeric(n.ERR_NEEDMOREPARAMS, "BATCH", "Not enough parameters")
        return
    if params[1] != BATCH_TYPE:
        reply.fail("BATCH", "UNKNOWN_TYPE", ref, params[1], "Unknown batch type")
        return
    if not ctx.session.caps & Cap.MULTILINE:
        reply.fail("BATCH", "MULTILINE_INVALID", "Enable the draft/multiline capability first")
        return
    if len(params) < 3 or not params[2]:
        reply.numeric(n.ERR_NEEDMOREPARAMS, "BATCH", "Not enough parameters")
        return
    target = params[2]
    if "," in target:
        reply.fail("BATCH", "MULTILINE_INVALID", "A multiline batch has one target")
        return
    client_tags = only_client_tags(ctx.msg.tags)
    ctx.session.multiline = OpenBatch(ref, target, reply.label, client_tags, ctx.server.clock())
    reply.label = None  # (no ACK now: the batch's answer carries the label)


def _close(ctx: Context, ref: str) -> None:
    server, session, user, reply = ctx.server, ctx.session, ctx.user, ctx.reply
    batch = session.multiline
    if batch is None or batch.ref != ref:
        reply.fail("BATCH", "MULTILINE_INVALID", f"No multiline batch {ref} is open")
        return
    session.multiline = None
    if batch.label is not None:
        reply.label = batch.label
    if batch.error is not None:
        reply.fail("BATCH", *batch.error)
        return
    lines, concat, command = batch.lines, batch.concat, batch.command
    if command is None:
        reply.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch without lines")
        return
    if not any(lines):
        reply.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch with blank lines only")
        return
    ctcp = any(is_ctcp(text) for text in lines)  # (each is a line of its own to some)
    found = resolve_target(ctx, batch.target, quiet=command == "NOTICE", ctcp=ctcp)
    if found is None:
        return
    where, status = found
    network = server.network
    user.last_active = server.clock()
    if isinstance(where, User) and where.service is not None:
        # A service takes commands line by line: it hears the lines as a client without
        # the capability would.
        for text in lines:
            if text:
                network.relay(user, command, where, text, client_tags=batch.client_tags)
        return
    network.relay_multiline(
        user, command, where, lines, concat, status=status, client_tags=batch.client_tags
    )
    if command == "PRIVMSG" and isinstance(where, User) and where.away is not None:
        reply.numeric(n.RPL_AWAY, where.nick, where.away)


COMMANDS = {
    "BATCH": Command(
        handle_batch,
        min_params=1,
        help=Help(
            "+<ref> draft/multiline <target> | -<ref>",
            "Opens or closes a multiline message (IRCv3 draft/multiline): the lines between "
            "are PRIVMSGs or NOTICEs tagged batch=<ref>.",
        ),
    ),
}
