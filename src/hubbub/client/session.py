"""One connection's protocol logic, without I/O: registration, CAP, SASL, PING, CTCP, batches.

:class:`ClientSession` is the client's h11-style core. Call :meth:`~ClientSession.start`,
then feed each received :class:`~hubbub.protocol.Message` to :meth:`~ClientSession.receive`
(it returns events) and write whatever :meth:`~ClientSession.outgoing` hands back. The
asyncio :class:`~hubbub.client.Client` is a thin loop around it; tests drive it line by line.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hubbub.client import events as ev
from hubbub.client import multiline
from hubbub.client.errors import Unsupported
from hubbub.client.history import (
    Ref,
    format_time,
    ref_param,
    ref_types,
    search_param,
)
from hubbub.client.requests import REPLY_BATCH_TYPES, Expect, Requests
from hubbub.client.sasl import (
    MECHANISMS,
    ChallengeReader,
    Mechanism,
    SaslError,
    make_mechanism,
)
from hubbub.client.state import ClientState
from hubbub.client.text import alternative_nick, ctcp, split_text, text_budget
from hubbub.protocol import MAX_LINE_BYTES, Message, split_source
from hubbub.protocol import numerics as n
from hubbub.protocol.numbers import parse_number
from hubbub.protocol.sasl import chunk

ERR_UNAVAILRESOURCE = "437"
"""Nick or channel temporarily unavailable (RFC 2812); treated like a nick in use."""

DEFAULT_CAPS = frozenset(
    {
        "multi-prefix",
        "server-time",
        "message-tags",
        "echo-message",
        "batch",
        "away-notify",
        "account-notify",
        "extended-join",
        "userhost-in-names",
        "chghost",
        "cap-notify",
        "invite-notify",
        "chathistory",
        "draft/chathistory",
        "draft/event-playback",
        "labeled-response",
        "draft/read-marker",
        "draft/message-redaction",
        "soju.im/search",
        "draft/multiline",
    }
)
"""The capabilities the library handles and requests when offered (``sasl`` is added when
credentials are configured)."""

MAX_MULTILINE_LINES = 10000
"""Lines of one received multiline batch kept (a server that sends more is misbehaving)."""
HISTORY_BATCH_TYPES = ("chathistory", "draft/chathistory")
HISTORY_CAPS = frozenset({"chathistory", "draft/chathistory"})
SEARCH_BATCH_TYPES = ("soju.im/search", "search")
HISTORY_SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN")
_HISTORY_EVENT = "history-event"


CTCP_BURST = 3
"""Automatic CTCP answers at once (see :meth:`ClientSession._answer_ctcp`)."""
CTCP_EVERY = 5.0
"""Seconds per automatic CTCP answer after the burst."""
CTCP_PING_ECHO = 64
"""Characters of a CTCP PING's argument sent back (its sender's time stamp fits)."""


@dataclass(frozen=True)
class SaslConfig:
    """SASL credentials. ``mechanism`` ``None`` picks the best one the server offers
    (SCRAM-SHA-256, then PLAIN). With ``required`` the client quits if SASL fails, or if the
    server does not offer it."""

    username: str
    password: str
    mechanism: str | None = None
    required: bool = False


@dataclass(frozen=True)
class ClientConfig:
    """Who to be on the network. ``channels`` are joined after registration (a channel may
    carry its key after a space: ``"#secret hunter2"``)."""

    nick: str
    user: str | None = None
    realname: str = "hubbub user"
    password: str | None = None
    sasl: SaslConfig | None = None
    caps: frozenset[str] = DEFAULT_CAPS
    channels: tuple[str, ...] = ()
    version: str = "hubbub"


@dataclass
class _Batch:
    type: str
    params: tuple[str, ...]
    messages: list[ev.ChatMessage] = field(default_factory=list)
    start: Message | None = None
    """The opening ``BATCH`` (kept for a multiline batch: its tags are the message's)."""
    lines: list[Message] = field(default_factory=list)
    """The lines of a multiline batch."""


class ClientSession:
    """The protocol state machine of one client connection (no sockets, no asyncio)."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.state = ClientState(config.nick)
        self._out: list[Message] = []
        self._cap_negotiating = False
        self._cap_ls_done = False
        self._cap_pending = 0
        self._sasl_candidates: list[str] = []
        self._sasl: Mechanism | None = None
        self._challenge = ChallengeReader()
        self._batches: dict[str, _Batch] = {}
        self._multiline_refs = 0
        self._requests = Requests(lambda name: self.state.fold(name))
        self.error: str | None = None
        """The text of the server's ``ERROR`` (or the last fatal numeric) once one arrived."""
        self.clock: Callable[[], float] = time.monotonic
        """What :meth:`_answer_ctcp` paces its answers by (a test may set its own)."""
        self._ctcp_tokens = float(CTCP_BURST)
        self._ctcp_time = -1e9

    # -- output -------------------------------------------------------------------------------

    def send(self, *messages: Message) -> None:
        """Queue messages for the wire."""
        self._out.extend(messages)

    def outgoing(self) -> list[Message]:
        """Take the queued messages, oldest first."""
        out, self._out = self._out, []
        return out

    def start(self) -> None:
        """Queue the registration: ``CAP LS 302``, ``PASS``, ``NICK``, ``USER``."""
        cfg = self.config
        self._cap_negotiating = True
        self.send(Message("CAP", ("LS", "302")))
        if cfg.password:
            self.send(Message("PASS", (cfg.password,)))
        self.send(Message("NICK", (cfg.nick,)))
        self.send(Message("USER", (cfg.user or cfg.nick, "0", "*", cfg.realname or cfg.nick)))

    # -- input --------------------------------------------------------------------------------

    def receive(self, msg: Message) -> list[ev.Event]:
        """Handle one line from the server; return the events it means (answers are queued).

        A line that completes the answer to a :meth:`request` adds its
        :class:`~hubbub.client.events.Answer`; lines of history and search batches are never
        applied as live traffic."""
        dispatch, done = self._requests.route(msg)
        out = self._handle(msg) if dispatch else []
        if done is not None:
            out.extend(self._finish(done.answer(msg), done.tag, done.message))
        return out

    def _handle(self, msg: Message) -> list[ev.Event]:
        command = msg.command.upper()
        batch_ref = msg.tags.get("batch")
        if batch_ref is not None and batch_ref in self._batches and command != "BATCH":
            batch = self._batches[batch_ref]
            if batch.type == multiline.BATCH_TYPE:
                if len(batch.lines) < MAX_MULTILINE_LINES:
                    batch.lines.append(msg)
                return []
            if batch.type in REPLY_BATCH_TYPES:
                if batch.type in HISTORY_BATCH_TYPES and command in ("PRIVMSG", "NOTICE"):
                    chat = self.state.chat_message(msg)
                    if isinstance(chat, ev.ChatMessage):
                        batch.messages.append(chat)
                return []
        handler = _SESSION_HANDLERS.get(command)
        if handler is not None:
            return handler(self, msg)
        out = self.state.apply(msg)
        return self._answer_ctcp(out)

    def _answer_ctcp(self, events: list[ev.Event]) -> list[ev.Event]:
        """Answer ``VERSION``, ``PING`` and ``CLIENTINFO``, at most :data:`CTCP_BURST` at
        once and one per :data:`CTCP_EVERY` seconds after: the others are not answered.
        Unpaced, a few users sending CTCPs (or one, to a channel of such clients) made
        each client send more than the server's flood control lets through, and the
        server disconnected it ("Excess Flood")."""
        for event in events:
            if isinstance(event, ev.Ctcp) and not self.state.is_me(event.source):
                reply = {
                    "VERSION": self.config.version,
                    "PING": event.args[:CTCP_PING_ECHO],
                    "CLIENTINFO": "ACTION CLIENTINFO PING VERSION",
                }.get(event.command)
                if reply is not None and self._may_answer_ctcp():
                    self.send(Message("NOTICE", (event.source, ctcp(event.command, reply))))
        return events

    def _may_answer_ctcp(self) -> bool:
        now = self.clock()
        tokens = min(float(CTCP_BURST), self._ctcp_tokens + (now - self._ctcp_time) / CTCP_EVERY)
        self._ctcp_time = now
        if tokens < 1.0:
            self._ctcp_tokens = tokens
            return False
        self._ctcp_tokens = tokens - 1.0
        return True

    def _on_ping(self, msg: Message) -> list[ev.Event]:
        self.send(Message("PONG", msg.params or ("",)))
        return []

    def _on_pong(self, msg: Message) -> list[ev.Event]:
        return [ev.Pong(msg.params[-1] if msg.params else "", message=msg)]

    def _on_error(self, msg: Message) -> list[ev.Event]:
        text = msg.params[0] if msg.params else "closing link"
        if self.error is None:  # keep the more precise reason given before (SASL, 464)
            self.error = text
        return [ev.ServerError(text, message=msg)]

    def _on_welcome(self, msg: Message) -> list[ev.Event]:
        if self._cap_negotiating and self._sasl_required:  # a server that never answered CAP
            return self._sasl_failed("the server does not offer SASL", msg)
        out = self.state.apply(msg)
        if self._cap_negotiating:  # a server that never answered CAP
            self._cap_negotiating = False
        for entry in self.config.channels:
            name, _, key = entry.partition(" ")
            self.send(self.join(name, key or None))
        return out

    def _on_nick_in_use(self, msg: Message) -> list[ev.Event]:
        tried = msg.params[1] if len(msg.params) > 1 else self.state.nick
        alt = alternative_nick(tried, self.state.nicklen)
        if self.state.registered:
            return [ev.NickInUse(tried, alt, False, message=msg), self.state.apply(msg)[0]]
        self.state.nick = alt
        self.send(Message("NICK", (alt,)))
        return [ev.NickInUse(tried, alt, True, message=msg)]

    def _on_erroneous_nick(self, msg: Message) -> list[ev.Event]:
        if self.state.registered:
            return self.state.apply(msg)
        alt = f"hubbub{secrets.randbelow(10000):04d}"
        self.state.nick = alt
        self.send(Message("NICK", (alt,)))
        tried = msg.params[1] if len(msg.params) > 2 else self.config.nick
        reason = msg.params[-1] if len(msg.params) > 2 else "Erroneous nickname"
        return [ev.ErroneousNick(tried, alt, reason, message=msg)]

    def _on_fatal_numeric(self, msg: Message) -> list[ev.Event]:
        # 464 password mismatch, 465 banned: the server closes the connection next.
        self.error = msg.params[-1] if msg.params else msg.command
        return self.state.apply(msg)

    # -- BATCH --------------------------------------------------------------------------------

    def _on_batch(self, msg: Message) -> list[ev.Event]:
        if not msg.params or len(msg.params[0]) < 2:
            return []
        sign, ref = msg.params[0][0], msg.params[0][1:]
        if sign == "+":
            kind = msg.params[1] if len(msg.params) > 1 else ""
            start = msg if kind == multiline.BATCH_TYPE else None
            self._batches[ref] = _Batch(kind, msg.params[2:], start=start)
            return []
        batch = self._batches.pop(ref, None)
        if batch is not None and batch.start is not None:
            return self._multiline_done(batch.start, batch.lines)
        if batch is None or batch.type not in HISTORY_BATCH_TYPES:
            return []
        target = batch.params[0] if batch.params else ""
        chan = self.state.channel(target)
        return [ev.History(chan.name if chan else target, tuple(batch.messages), message=msg)]

    def _multiline_done(self, start: Message, lines: list[Message]) -> list[ev.Event]:
        """A multiline batch ended: one message, live or (nested in a history batch) past."""
        combined = multiline.combine(start, lines)
        if combined is None:
            return []
        outer = self._batches.get(start.tags.get("batch", ""))
        if outer is not None and outer.type in REPLY_BATCH_TYPES:
            if outer.type in HISTORY_BATCH_TYPES:
                chat = self.state.chat_message(combined)
                if isinstance(chat, ev.ChatMessage):
                    outer.messages.append(chat)
            return []
        return self._answer_ctcp(self.state.apply(combined))

    # -- requests -----------------------------------------------------------------------------

    @property
    def labels(self) -> bool:
        """True when the server labels its answers (``labeled-response`` and ``batch``)."""
        return {"labeled-response", "batch"} <= self.state.caps

    def request(self, message: Message, expect: Expect | None = None) -> int:
        """Queue ``message`` as a request and return its id; the line that completes its answer
        also returns an :class:`~hubbub.client.events.Answer` with that id. The request is
        labeled when the server has ``labeled-response``; otherwise ``expect`` says what the
        answer looks like (:class:`Unsupported` without it)."""
        if not self.labels and expect is None:
            raise Unsupported(
                f"the server has no labeled-response, and nothing tells its answer to "
                f"{message.command} apart (pass an Expect)"
            )
        pending = self._requests.add(message, self.labels, expect)
        self.send(pending.message)
        return pending.id

    def cancel(self, request: int) -> None:
        """Stop waiting for ``request`` (it timed out): the rest of its answer is dropped."""
        self._requests.cancel(request)

    @property
    def waiting(self) -> int:
        """How many requests wait for their answer."""
        return self._requests.waiting()

    def _finish(self, answer: ev.Answer, tag: str, request: Message) -> list[ev.Event]:
        if tag != _HISTORY_EVENT:
            return [answer]
        failure = answer.failure
        if failure is not None:  # as before requests were matched: an event like any other
            return self._handle(failure)
        batch = answer.batch(*HISTORY_BATCH_TYPES)
        target = batch.params[0] if batch and batch.params else request.params[1]
        messages = []
        for line in batch.lines if batch else ():
            if line.command.upper() in ("PRIVMSG", "NOTICE"):
                chat = self.state.chat_message(line)
                if isinstance(chat, ev.ChatMessage):
                    messages.append(chat)
        chan = self.state.channel(target)
        return [ev.History(chan.name if chan else target, tuple(messages), message=answer.message)]

    # -- CAP ----------------------------------------------------------------------------------

    def _on_cap(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) < 3:
            return []
        sub = msg.params[1].upper()
        more = len(msg.params) > 3 and msg.params[2] == "*"
        caps = msg.params[-1].split()
        if sub == "LS":
            for item in caps:
                name, sep, value = item.partition("=")
                self.state.available_caps[name] = value if sep else None
            if not more and not self._cap_ls_done:
                self._cap_ls_done = True
                return self._request(list(self.state.available_caps))
            return []
        if sub == "ACK":
            for name in caps:
                if name.startswith("-"):
                    self.state.caps.discard(name[1:])
                else:
                    self.state.caps.add(name)
            return self._answered()
        if sub == "NAK":
            return self._answered()
        if sub == "NEW":
            for item in caps:
                name, sep, value = item.partition("=")
                self.state.available_caps[name] = value if sep else None
            return self._request([c.partition("=")[0] for c in caps])
        if sub == "DEL":
            for name in caps:
                self.state.caps.discard(name)
                self.state.available_caps.pop(name, None)
        return []

    def _wanted(self, name: str) -> bool:
        if name == "sasl":
            return self.config.sasl is not None and not self.state.registered
        return name in self.config.caps

    def _request(self, offered: list[str]) -> list[ev.Event]:
        wanted = [c for c in offered if self._wanted(c) and c not in self.state.caps]
        if not wanted:
            return self._answered() if self._cap_pending == 0 else []
        # One REQ is all-or-nothing; keep each line well under the length limit.
        line: list[str] = []
        for cap in sorted(wanted):
            if len(" ".join([*line, cap])) > MAX_LINE_BYTES - 100:
                self._req(line)
                line = []
            line.append(cap)
        self._req(line)
        return []

    def _req(self, caps: list[str]) -> None:
        self._cap_pending += 1
        self.send(Message("CAP", ("REQ", " ".join(caps))))

    def _answered(self) -> list[ev.Event]:
        self._cap_pending = max(0, self._cap_pending - 1)
        if self._cap_pending or not self._cap_negotiating:
            return []
        if "sasl" in self.state.caps and self.config.sasl is not None and self._sasl is None:
            offered = self.state.available_caps.get("sasl")
            self._sasl_candidates = self._sasl_mechanisms(offered.split(",") if offered else None)
            if self._next_mechanism():
                return []
            return self._sasl_failed("no SASL mechanism in common with the server")
        if self._sasl_required and "sasl" not in self.state.caps:
            return self._sasl_failed("the server does not offer SASL")
        return self._end_caps()

    def _end_caps(self) -> list[ev.Event]:
        if not self._cap_negotiating:
            return []
        self._cap_negotiating = False
        self.send(Message("CAP", ("END",)))
        return [ev.CapsNegotiated(frozenset(self.state.caps))]

    # -- SASL ---------------------------------------------------------------------------------

    def _sasl_mechanisms(self, offered: list[str] | None) -> list[str]:
        sasl = self.config.sasl
        assert sasl is not None
        choices = [sasl.mechanism.upper()] if sasl.mechanism else list(MECHANISMS)
        return [m for m in choices if offered is None or m in offered]

    def _next_mechanism(self) -> bool:
        sasl = self.config.sasl
        if sasl is None or not self._sasl_candidates:
            self._sasl = None
            return False
        name = self._sasl_candidates.pop(0)
        self._sasl = make_mechanism(name, sasl.username, sasl.password)
        self._challenge = ChallengeReader()
        self.send(Message("AUTHENTICATE", (name,)))
        return True

    def _on_authenticate(self, msg: Message) -> list[ev.Event]:
        if self._sasl is None or not msg.params:
            return []
        try:
            challenge = self._challenge.feed(msg.params[0])
            if challenge is None:
                return []
            response = self._sasl.respond(challenge)
        except SaslError as exc:
            self.send(Message("AUTHENTICATE", ("*",)))
            self._sasl_candidates.clear()
            return [ev.SaslFailed(str(exc), message=msg)]
        for part in chunk(response):
            self.send(Message("AUTHENTICATE", (part,)))
        return []

    def _on_sasl_success(self, msg: Message) -> list[ev.Event]:
        out: list[ev.Event] = [ev.SaslSucceeded(self.state.account or "", message=msg)]
        self._sasl = None
        return out + self._end_caps()

    def _on_sasl_mechs(self, msg: Message) -> list[ev.Event]:
        # 908 nick PLAIN,SCRAM-SHA-256 :are available SASL mechanisms (a 904 follows)
        if len(msg.params) >= 2:
            offered = msg.params[1].split(",")
            self._sasl_candidates = [m for m in self._sasl_candidates if m in offered]
        return []

    def _on_sasl_fail(self, msg: Message) -> list[ev.Event]:
        if self._sasl is None:
            return self.state.apply(msg)
        if msg.command != n.ERR_SASLABORTED and self._next_mechanism():
            return []
        self._sasl = None
        return self._sasl_failed(msg.params[-1] if msg.params else "SASL failed", msg)

    @property
    def _sasl_required(self) -> bool:
        return self.config.sasl is not None and self.config.sasl.required

    def _sasl_failed(self, reason: str, msg: Message | None = None) -> list[ev.Event]:
        out: list[ev.Event] = [ev.SaslFailed(reason, message=msg)]
        if self._sasl_required:
            self.error = f"SASL authentication failed: {reason}"
            self.send(Message("QUIT", ("SASL authentication failed",)))
            return out
        return out + self._end_caps()

    # -- commands -----------------------------------------------------------------------------

    def message_lines(
        self, target: str, text: str, *, notice: bool = False, action: bool = False
    ) -> list[Message]:
        """The ``PRIVMSG`` (or ``NOTICE``) lines that carry ``text`` to ``target``: split to
        fit the line limit, one per line of ``text``; ``action`` makes each a CTCP ACTION."""
        command = "NOTICE" if notice else "PRIVMSG"
        budget = text_budget(self.state.nick, target, command)
        if action:
            budget -= len("\x01ACTION \x01")
        out = []
        for piece in split_text(text, budget):
            body = ctcp("ACTION", piece) if action else piece
            out.append(Message(command, (target, body)))
        return out

    @property
    def multiline_limits(self) -> multiline.Limits | None:
        """The server's ``draft/multiline`` limits when the capability (and ``batch``) is
        on, else None."""
        caps = self.state.caps
        if multiline.CAP not in caps or "batch" not in caps:
            return None
        return multiline.parse_limits(self.state.available_caps.get(multiline.CAP))

    def multiline_lines(
        self, target: str, text: str, *, notice: bool = False
    ) -> list[Message] | None:
        """The ``draft/multiline`` batch that sends ``text`` (several lines) as one message,
        or None when it cannot go as one: no capability, one line only, beyond the server's
        limits."""
        limits = self.multiline_limits
        if limits is None or not ("\n" in text or "\r" in text):
            return None
        command = "NOTICE" if notice else "PRIVMSG"
        budget = text_budget(self.state.nick, target, command)
        self._multiline_refs += 1
        ref = f"ml{self._multiline_refs}"
        return multiline.batch_messages(target, text, command, budget, ref, limits)

    def send_message(
        self, target: str, text: str, *, notice: bool = False, action: bool = False
    ) -> list[ev.Event]:
        """Queue a message to ``target``. A text of several lines goes as one
        ``draft/multiline`` message when the server takes it (within its limits), else as
        one message per line. Without ``echo-message`` the server will not echo it back, so
        the returned events stand in for the echo (``from_self`` true)."""
        batch = None if action else self.multiline_lines(target, text, notice=notice)
        if batch is not None:
            self.send(*batch)
            if "echo-message" in self.state.caps:
                return []
            start = Message("BATCH", batch[0].params, self.state.nick)
            combined = multiline.combine(start, batch[1:-1])
            chat = self.state.chat_message(combined) if combined is not None else None
            return [chat] if chat is not None else []
        lines = self.message_lines(target, text, notice=notice, action=action)
        self.send(*lines)
        if "echo-message" in self.state.caps:
            return []
        out: list[ev.Event] = []
        for line in lines:
            chat = self.state.chat_message(Message(line.command, line.params, self.state.nick))
            if chat is not None:
                out.append(chat)
        return out

    def join(self, channel: str, key: str | None = None) -> Message:
        """A ``JOIN`` for ``channel`` (with its key)."""
        return Message("JOIN", (channel, key) if key else (channel,))

    def client_tag_allowed(self, name: str) -> bool:
        """True when the server takes the client-only tag ``+name``: ``message-tags`` is
        enabled and ISUPPORT ``CLIENTTAGDENY`` (``*`` for all, ``-name`` for an exception)
        does not refuse it."""
        if "message-tags" not in self.state.caps:
            return False
        denied = self.state.isupport.get("CLIENTTAGDENY") or ""
        entries = [e for e in denied.split(",") if e]
        if f"-{name}" in entries:
            return True
        return "*" not in entries and name not in entries

    def typing_message(self, target: str, state: str) -> Message | None:
        """The ``TAGMSG`` telling ``target`` we are typing (``active``, ``paused`` or
        ``done``: IRCv3 ``+typing``), or ``None`` when the server does not take the tag."""
        if state not in ev.TYPING_STATES:
            raise ValueError(f"typing state must be one of {ev.TYPING_STATES}, not {state!r}")
        _check_target(target)
        if not self.client_tag_allowed("typing"):
            return None
        return Message("TAGMSG", (target,), tags={"+typing": state})

    def history_request(self, target: str, limit: int = 50) -> Message | None:
        """A ``CHATHISTORY LATEST`` for ``target``, or ``None`` when the server has none."""
        if not (HISTORY_CAPS & self.state.caps):
            return None
        return Message("CHATHISTORY", ("LATEST", target, "*", str(self._history_limit(limit))))

    def fetch_history(self, target: str, limit: int = 50) -> bool:
        """Queue a ``CHATHISTORY LATEST`` for ``target`` whose answer becomes a
        :class:`~hubbub.client.events.History` event. False when the server has no history."""
        message = self.history_request(target, limit)
        if message is None:
            return False
        expect = Expect("CHATHISTORY", HISTORY_BATCH_TYPES, target)
        pending = self._requests.add(message, self.labels, expect, _HISTORY_EVENT)
        self.send(pending.message)
        return True

    def _history_limit(self, limit: int) -> int:
        if limit < 1:
            raise ValueError(f"the limit must be at least 1, not {limit}")
        most = parse_number(self.state.isupport.get("CHATHISTORY") or "", lo=1)
        return min(limit, most) if most is not None else limit

    def _need(self, caps: frozenset[str], what: str) -> None:
        if not (caps & self.state.caps):
            raise Unsupported(f"the server does not offer {what} ({' or '.join(sorted(caps))})")
        if "batch" not in self.state.caps:
            raise Unsupported(f"{what} needs the batch capability, which the server lacks")

    def history_query(
        self, subcommand: str, target: str, refs: Sequence[Ref | None], limit: int
    ) -> tuple[Message, Expect]:
        """A ``CHATHISTORY`` request and what its answer looks like. ``refs`` are the
        subcommand's references (``None`` stands for ``*`` with ``LATEST``).
        Raises :class:`Unsupported` without ``draft/chathistory`` and ValueError for a bad
        reference, target or limit."""
        sub = subcommand.upper()
        if sub not in HISTORY_SUBCOMMANDS:
            raise ValueError(f"unknown CHATHISTORY subcommand {subcommand!r}")
        self._need(HISTORY_CAPS, "history")
        _check_target(target)
        types = ref_types(self.state.isupport)
        params = [
            "*" if ref is None and sub == "LATEST" else ref_param(_given(ref), types)
            for ref in refs
        ]
        message = Message("CHATHISTORY", (sub, target, *params, str(self._history_limit(limit))))
        return message, Expect("CHATHISTORY", HISTORY_BATCH_TYPES, target)

    def targets_query(self, start: datetime, end: datetime, limit: int) -> tuple[Message, Expect]:
        """A ``CHATHISTORY TARGETS`` request (conversations whose latest message is between
        ``start`` and ``end``) and what its answer looks like."""
        self._need(HISTORY_CAPS, "history")
        params = ("timestamp=" + format_time(start), "timestamp=" + format_time(end))
        message = Message("CHATHISTORY", ("TARGETS", *params, str(self._history_limit(limit))))
        return message, Expect("CHATHISTORY", ("draft/chathistory-targets",))

    def search_query(self, attrs: Sequence[tuple[str, str]]) -> tuple[Message, Expect]:
        """A ``SEARCH`` request for these attributes (``in``, ``from``, ``after``, ``before``,
        ``text``, ``limit``; values unescaped) and what its answer looks like."""
        self._need(frozenset({"soju.im/search"}), "search")
        return Message("SEARCH", (search_param(attrs),)), Expect("SEARCH", SEARCH_BATCH_TYPES)

    def markread_query(self, target: str, when: datetime | None) -> tuple[Message, Expect]:
        """A ``MARKREAD`` that sets (``when``) or asks for the read marker of ``target``,
        and what its answer looks like (the server's ``MARKREAD`` for the target)."""
        if "draft/read-marker" not in self.state.caps:
            raise Unsupported("the server does not offer read markers (draft/read-marker)")
        _check_target(target)
        key = self.state.fold(target)

        def answers(line: Message) -> bool:
            p = line.params
            return line.command.upper() == "MARKREAD" and bool(p) and self.state.fold(p[0]) == key

        params = (target, "timestamp=" + format_time(when)) if when is not None else (target,)
        return Message("MARKREAD", params), Expect("MARKREAD", line=answers)

    def redact_query(
        self, target: str, msgid: str, reason: str = ""
    ) -> tuple[Message, Expect | None]:
        """A ``REDACT`` of message ``msgid`` in ``target``, and what its answer looks like:
        the server's relay of it back to us, which needs ``echo-message`` when it cannot label
        its answer (``None`` then: nothing will say it worked)."""
        if "draft/message-redaction" not in self.state.caps:
            raise Unsupported(
                "the server does not offer deleting messages (draft/message-redaction)"
            )
        _check_target(target)
        if not msgid or any(c in msgid for c in " \0\r\n") or msgid[0] == ":":
            raise ValueError(f"invalid msgid {msgid!r}")

        def answers(line: Message) -> bool:
            p = line.params
            return (
                line.command.upper() == "REDACT"
                and len(p) >= 2
                and p[1] == msgid
                and self.state.is_me(self.source_nick(line))
            )

        message = Message("REDACT", (target, msgid, reason) if reason else (target, msgid))
        if self.labels or "echo-message" in self.state.caps:
            return message, Expect("REDACT", line=answers)
        return message, None

    def source_nick(self, msg: Message) -> str:
        """The nick in a message's source (the server's name for a server source)."""
        return split_source(msg.source).nick if msg.source else self.state.server_name


def _given(ref: Ref | None) -> Ref:
    if ref is None:
        raise ValueError("a message reference is needed here")
    return ref


def _check_target(target: str) -> None:
    if not target or any(c in target for c in " ,\0\r\n") or target[0] == ":":
        raise ValueError(f"invalid target {target!r}")


_SESSION_HANDLERS = {
    "PING": ClientSession._on_ping,
    "PONG": ClientSession._on_pong,
    "ERROR": ClientSession._on_error,
    "CAP": ClientSession._on_cap,
    "AUTHENTICATE": ClientSession._on_authenticate,
    "BATCH": ClientSession._on_batch,
    n.RPL_WELCOME: ClientSession._on_welcome,
    n.ERR_NICKNAMEINUSE: ClientSession._on_nick_in_use,
    ERR_UNAVAILRESOURCE: ClientSession._on_nick_in_use,
    n.ERR_ERRONEUSNICKNAME: ClientSession._on_erroneous_nick,
    n.ERR_PASSWDMISMATCH: ClientSession._on_fatal_numeric,
    n.ERR_YOUREBANNEDCREEP: ClientSession._on_fatal_numeric,
    n.RPL_SASLSUCCESS: ClientSession._on_sasl_success,
    n.ERR_SASLFAIL: ClientSession._on_sasl_fail,
    n.ERR_SASLTOOLONG: ClientSession._on_sasl_fail,
    n.ERR_SASLABORTED: ClientSession._on_sasl_fail,
    n.ERR_SASLALREADY: ClientSession._on_sasl_success,
    n.RPL_SASLMECHS: ClientSession._on_sasl_mechs,
}
