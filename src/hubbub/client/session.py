"""One connection's protocol logic, without I/O: registration, CAP, SASL, PING, CTCP, batches.

:class:`ClientSession` is the client's h11-style core. Call :meth:`~ClientSession.start`,
then feed each received :class:`~hubbub.protocol.Message` to :meth:`~ClientSession.receive`
(it returns events) and write whatever :meth:`~ClientSession.outgoing` hands back. The
asyncio :class:`~hubbub.client.Client` is a thin loop around it; tests drive it line by line.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from hubbub.client import events as ev
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
    }
)
"""The capabilities the library handles and requests when offered (``sasl`` is added when
credentials are configured)."""

HISTORY_BATCH_TYPES = ("chathistory", "draft/chathistory")


@dataclass(frozen=True)
class SaslConfig:
    """SASL credentials. ``mechanism`` ``None`` picks the best one the server offers
    (SCRAM-SHA-256, then PLAIN). With ``required`` the client quits if SASL fails."""

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
        self.error: str | None = None
        """The text of the server's ``ERROR`` (or the last fatal numeric) once one arrived."""

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
        """Handle one line from the server; return the events it means (answers are queued)."""
        command = msg.command.upper()
        batch_ref = msg.tags.get("batch")
        if batch_ref is not None and batch_ref in self._batches and command != "BATCH":
            batch = self._batches[batch_ref]
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
        for event in events:
            if isinstance(event, ev.Ctcp) and not self.state.is_me(event.source):
                reply = {
                    "VERSION": self.config.version,
                    "PING": event.args,
                    "CLIENTINFO": "ACTION CLIENTINFO PING VERSION",
                }.get(event.command)
                if reply is not None:
                    self.send(Message("NOTICE", (event.source, ctcp(event.command, reply))))
        return events

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
        out = self.state.apply(msg)
        if not self.state.registered:
            alt = f"hubbub{secrets.randbelow(10000):04d}"
            self.state.nick = alt
            self.send(Message("NICK", (alt,)))
            tried = msg.params[1] if len(msg.params) > 1 else ""
            out.append(ev.NickInUse(tried, alt, True, message=msg))
        return out

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
            self._batches[ref] = _Batch(kind, msg.params[2:])
            return []
        batch = self._batches.pop(ref, None)
        if batch is None or batch.type not in HISTORY_BATCH_TYPES:
            return []
        target = batch.params[0] if batch.params else ""
        chan = self.state.channel(target)
        return [ev.History(chan.name if chan else target, tuple(batch.messages), message=msg)]

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

    def _sasl_failed(self, reason: str, msg: Message | None = None) -> list[ev.Event]:
        out: list[ev.Event] = [ev.SaslFailed(reason, message=msg)]
        if self.config.sasl is not None and self.config.sasl.required:
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

    def send_message(
        self, target: str, text: str, *, notice: bool = False, action: bool = False
    ) -> list[ev.Event]:
        """Queue a message to ``target``. Without ``echo-message`` the server will not echo
        it back, so the returned events stand in for the echo (``from_self`` true)."""
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

    def history_request(self, target: str, limit: int = 50) -> Message | None:
        """A ``CHATHISTORY LATEST`` for ``target``, or ``None`` when the server has none."""
        if not ({"chathistory", "draft/chathistory"} & self.state.caps):
            return None
        cap = parse_number(self.state.isupport.get("CHATHISTORY") or "", lo=1)
        if cap is not None:
            limit = min(limit, cap)
        return Message("CHATHISTORY", ("LATEST", target, "*", str(limit)))

    def source_nick(self, msg: Message) -> str:
        """The nick in a message's source (the server's name for a server source)."""
        return split_source(msg.source).nick if msg.source else self.state.server_name


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
