"""Matching the server's answers to our requests, without I/O.

With ``labeled-response`` each request carries a ``label`` tag and the server puts the same
label on its answer: one line (an ``ACK``, a ``FAIL``, a ``MARKREAD``...) or a batch whose
opening line is labeled (of the answer's own type, or a ``labeled-response`` batch holding
several). Without it, a request says how its answer looks (:class:`Expect`): a batch of some
type for some target, or a line; and errors are ``FAIL <command>`` or an error numeric naming
the command. Servers answer a connection's commands in order, so the oldest waiting request
that fits takes an unlabeled answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hubbub.client import events as ev
from hubbub.client import multiline
from hubbub.protocol import Folded, Message

REPLY_BATCH_TYPES = frozenset(
    {
        "chathistory",
        "draft/chathistory",
        "draft/chathistory-targets",
        "soju.im/search",
        "search",
    }
)
"""Batches that hold an answer rather than live traffic: their lines are never applied to the
state nor reported as live events (history is not happening now)."""

MAX_ABANDONED = 64
"""How many timed-out labeled requests are remembered, so that their late answers are
dropped quietly instead of being taken for live traffic."""


@dataclass(frozen=True)
class Expect:
    """What the answer to a request looks like when the server cannot label it.

    ``command`` is the request's command (its errors are ``FAIL <command> ...`` or an error
    numeric whose first parameter after our nick is the command). The answer itself is a
    batch of one of ``batch_types`` (whose first parameter is ``batch_target``, compared under
    the server's casemapping, when that is given), or one line for which ``line`` is true.
    """

    command: str
    batch_types: tuple[str, ...] = ()
    batch_target: str | None = None
    line: Callable[[Message], bool] | None = None


@dataclass(eq=False)
class _Open:
    type: str
    params: tuple[str, ...]
    lines: list[Message] = field(default_factory=list)
    live: bool = True
    """Its lines are also live traffic (not history, not search results)."""
    start: Message | None = None
    """The opening line of a multiline batch nested in the answer."""
    parent: str | None = None


@dataclass(eq=False)
class Pending:
    """A request waiting for its answer (see :meth:`Requests.add`)."""

    id: int
    message: Message
    label: str | None
    expect: Expect | None
    tag: str = ""
    """Free for the owner: what to make of the answer."""
    root: str | None = None
    lines: list[Message] = field(default_factory=list)
    batches: dict[str, _Open] = field(default_factory=dict)
    abandoned: bool = False

    def answer(self, last: Message | None) -> ev.Answer:
        """The :class:`~hubbub.client.events.Answer` made of what was collected."""
        batches = tuple(
            ev.AnswerBatch(b.type, b.params, tuple(b.lines)) for b in self.batches.values()
        )
        return ev.Answer(self.id, tuple(self.lines), batches, message=last)


class Requests:
    """The requests of one connection that wait for an answer, and the routing of lines."""

    def __init__(self, fold: Callable[[str], Folded]) -> None:
        self.fold = fold
        self._next = 0
        self._pending: list[Pending] = []  # unlabeled, oldest first
        self._labels: dict[str, Pending] = {}
        self._batches: dict[str, Pending] = {}
        self._abandoned: list[str] = []

    def add(self, message: Message, label: bool, expect: Expect | None, tag: str = "") -> Pending:
        """Track ``message``; with ``label`` it gets a fresh ``label`` tag (send
        ``pending.message``), else ``expect`` says how to recognise its answer."""
        self._next += 1
        if label:
            name = f"hb{self._next}"
            message = message.with_tags({**message.tags, "label": name})
            pending = Pending(self._next, message, name, expect, tag)
            self._labels[name] = pending
        else:
            if expect is None:
                raise ValueError("a request without a label needs an Expect")
            pending = Pending(self._next, message, None, expect, tag)
            self._pending.append(pending)
        return pending

    def cancel(self, request: int) -> None:
        """Stop waiting for ``request`` (timed out). The rest of an answer already begun, and
        a late labeled answer, are then dropped; a late unlabeled answer can no longer be told
        apart and is treated as unasked for."""
        for pending in [*self._pending, *self._batches.values(), *self._labels.values()]:
            if pending.id == request:
                break
        else:
            return
        pending.abandoned = True
        if pending in self._pending:
            self._pending.remove(pending)
        if pending.label is not None and pending.label in self._labels:
            self._abandoned.append(pending.label)
            while len(self._abandoned) > MAX_ABANDONED:
                old = self._labels.pop(self._abandoned.pop(0), None)
                for ref in old.batches if old is not None else ():
                    self._batches.pop(ref, None)

    def waiting(self) -> int:
        """How many requests still wait for their answer (abandoned ones left out)."""
        pending = {*self._pending, *self._labels.values(), *self._batches.values()}
        return sum(1 for p in pending if not p.abandoned)

    # -- routing ------------------------------------------------------------------------------

    def route(self, msg: Message) -> tuple[bool, Pending | None]:
        """Take ``msg`` into the answer it belongs to, if any. Returns whether the line is
        also to be handled as usual (false for lines of history and search batches, and for
        the errors and ``ACK`` a request takes), and the request it completed, if it did."""
        command = msg.command.upper()
        label = msg.tags.get("label")
        parent = msg.tags.get("batch")
        if command == "BATCH" and msg.params and len(msg.params[0]) >= 2:
            return self._batch_line(msg, label, parent)
        if parent is not None and (owner := self._batches.get(parent)) is not None:
            owner.lines.append(msg)
            owner.batches[parent].lines.append(msg)
            return owner.batches[parent].live and not ev.is_failure(msg), None
        if label is not None:
            owner = self._labels.pop(label, None)
            if owner is None:
                return True, None
            owner.lines.append(msg)
            return not (ev.is_failure(msg) or command == "ACK"), self._done(owner)
        owner = self._claim_line(msg, command)
        if owner is None:
            return True, None
        self._pending.remove(owner)
        owner.lines.append(msg)
        return not ev.is_failure(msg), owner

    def _done(self, owner: Pending) -> Pending | None:
        if owner.label is not None and owner.label in self._abandoned:
            self._abandoned.remove(owner.label)
        return None if owner.abandoned else owner

    def _batch_line(
        self, msg: Message, label: str | None, parent: str | None
    ) -> tuple[bool, Pending | None]:
        sign, ref = msg.params[0][0], msg.params[0][1:]
        if sign == "-":
            owner = self._batches.pop(ref, None)
            if owner is None:
                return True, None
            if ref != owner.root:
                inner = owner.batches.get(ref)
                if inner is None or inner.start is None or inner.parent is None:
                    return False, None
                if inner.live:  # (the session makes it one message, as any live batch)
                    return True, None
                # A multiline message in a history or search batch: one line of the batch
                # around it, where it came.
                combined = multiline.combine(inner.start, inner.lines)
                outer = owner.batches.get(inner.parent)
                if combined is not None and outer is not None:
                    outer.lines.append(combined)
                return False, None
            if owner.label is not None:
                self._labels.pop(owner.label, None)
            return False, self._done(owner)
        if sign != "+":
            return True, None
        kind = msg.params[1] if len(msg.params) > 1 else ""
        params = msg.params[2:]
        owner = None
        if parent is not None:
            owner = self._batches.get(parent)
        elif label is not None:
            owner = self._labels.get(label)
        else:
            owner = self._claim_batch(kind, params)
            if owner is not None:
                self._pending.remove(owner)
        if owner is None:
            return True, None
        if owner.root is None:
            owner.root = ref
        around = owner.batches.get(parent) if parent is not None else None
        live = kind not in REPLY_BATCH_TYPES and (around is None or around.live)
        nested = kind == multiline.BATCH_TYPE and around is not None
        owner.batches[ref] = _Open(
            kind,
            params,
            live=live,
            start=msg if nested else None,
            parent=parent if nested else None,
        )
        self._batches[ref] = owner
        return nested and live, None

    def _claim_batch(self, kind: str, params: tuple[str, ...]) -> Pending | None:
        for pending in self._pending:
            expect = pending.expect
            if expect is None or kind not in expect.batch_types:
                continue
            if expect.batch_target is None or (
                params and self.fold(params[0]) == self.fold(expect.batch_target)
            ):
                return pending
        return None

    def _claim_line(self, msg: Message, command: str) -> Pending | None:
        p = msg.params
        for pending in self._pending:
            expect = pending.expect
            if expect is None:
                continue
            if command == "FAIL":
                if p and p[0].upper() == expect.command:
                    return pending
            elif ev.is_failure(msg):
                if len(p) >= 2 and p[1].upper() == expect.command:
                    return pending
            elif expect.line is not None and expect.line(msg):
                return pending
        return None
