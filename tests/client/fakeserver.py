"""A tiny scripted IRC server for what ngircd cannot show: SASL accounts, Unix sockets, and
history (until hubbub's own server has it).

It speaks just enough: ``CAP LS/REQ/END``, ``AUTHENTICATE`` (PLAIN and the server side of
SCRAM-SHA-256, RFC 5802), ``NICK``/``USER`` -> ``001``, ``PING`` -> ``PONG``, ``QUIT``; and,
with :class:`HistoryOptions`, ``JOIN``, ``CHATHISTORY`` (IRCv3 ``draft/chathistory``, from
canned messages), ``SEARCH`` (``soju.im/search``), ``MARKREAD`` (``draft/read-marker``) and
``REDACT`` (``draft/message-redaction``), answered with labels when the client negotiated
``labeled-response``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hubbub.protocol import Message, parse
from hubbub.protocol.tags import parse_tags

NAME = "fake.test"

HISTORY_CAPS = (
    "batch message-tags server-time echo-message draft/chathistory draft/read-marker "
    "draft/message-redaction soju.im/search"
)


def stamp(when: datetime) -> str:
    """``when`` as server-time."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def when(text: str) -> datetime:
    """A server-time timestamp as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def line(time: str, msgid: str, source: str, command: str, *params: str) -> Message:
    """A stored line of history with its ``time`` and ``msgid`` tags."""
    return Message(command, params, source, {"time": time, "msgid": msgid})


@dataclass
class HistoryOptions:
    """What the fake's history looks like, and how it answers.

    ``messages`` maps a target (as the client names it, lower case) to its stored lines,
    oldest first; a target not in it is ``INVALID_TARGET``. ``silent`` commands get no answer
    at all (to test timeouts), ``hang_up`` ones close the connection instead. ``wrap`` puts
    even a lone line or batch inside a ``labeled-response`` batch; ``reftypes`` is
    ``MSGREFTYPES`` (``None``: not sent).
    """

    messages: dict[str, list[Message]] = field(default_factory=dict)
    caps: str = HISTORY_CAPS
    max_limit: int = 100
    reftypes: str | None = "timestamp,msgid"
    markers: dict[str, str] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    hang_up: set[str] = field(default_factory=set)
    wrap: bool = False


@dataclass
class _Peer:
    writer: asyncio.StreamWriter
    nick: str = "*"
    user: bool = False
    cap_open: bool = False
    mechanism: str | None = None
    scram: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    caps: set[str] = field(default_factory=set)

    def send(self, command: str, *params: str, source: str = NAME) -> None:
        self.writer.write(Message(command, params, source).to_bytes())

    def write(self, *messages: Message) -> None:
        self.writer.write(b"".join(m.to_bytes() for m in messages))

    @property
    def prefix(self) -> str:
        return f"{self.nick}!u@fake"


class FakeServer:
    """Accounts are ``{name: password}``; every connection is served independently."""

    def __init__(self, accounts: dict[str, str], history: HistoryOptions | None = None) -> None:
        self.accounts = accounts
        self.history = history
        self.salt = secrets.token_bytes(16)
        self.iterations = 4096
        self.received: list[str] = []
        self.peers: list[_Peer] = []
        self.searches: list[dict[str, str]] = []
        """The attributes of each SEARCH, as the server parsed them."""
        self._batch = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _Peer(writer)
        self.peers.append(peer)
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                self.received.append(text)
                if not self._handle(peer, parse(text)):
                    break
                await writer.drain()
        finally:
            self.peers.remove(peer)
            writer.close()

    def push(self, text: str) -> None:
        """Send a raw line to every connected client."""
        for peer in self.peers:
            peer.write(parse(text))

    def _handle(self, peer: _Peer, msg: Message) -> bool:
        cmd, p = msg.command, msg.params
        if self.history is not None and cmd in _HISTORY_HANDLERS:
            if cmd in self.history.hang_up:
                return False
            if cmd not in self.history.silent:
                _HISTORY_HANDLERS[cmd](self, self.history, peer, msg)
            return True
        if cmd == "CAP" and p[0] == "LS":
            peer.cap_open = True
            extra = f" {self.history.caps}" if self.history is not None else ""
            peer.send("CAP", "*", "LS", "sasl=PLAIN,SCRAM-SHA-256 server-time" + extra)
        elif cmd == "CAP" and p[0] == "REQ":
            peer.caps.update(p[1].split())
            peer.send("CAP", "*", "ACK", p[1])
        elif cmd == "CAP" and p[0] == "END":
            peer.cap_open = False
            self._welcome(peer)
        elif cmd == "AUTHENTICATE":
            self._authenticate(peer, p[0])
        elif cmd == "NICK":
            peer.nick = p[0]
            self._welcome(peer)
        elif cmd == "USER":
            peer.user = True
            self._welcome(peer)
        elif cmd == "PING":
            peer.send("PONG", NAME, p[0])
        elif cmd == "QUIT":
            peer.send("ERROR", "Closing link")
            return False
        return True

    def _welcome(self, peer: _Peer) -> None:
        if peer.user and peer.nick != "*" and not peer.cap_open:
            peer.send("001", peer.nick, f"Welcome {peer.nick}")
            peer.user = False  # only once
            if self.history is not None:
                tokens = [f"CHATHISTORY={self.history.max_limit}"]
                if self.history.reftypes is not None:
                    tokens.append(f"MSGREFTYPES={self.history.reftypes}")
                peer.send("005", peer.nick, *tokens, "are supported by this server")

    def _fail(self, peer: _Peer) -> None:
        peer.mechanism = None
        peer.send("904", peer.nick, "SASL authentication failed")

    def _success(self, peer: _Peer, account: str) -> None:
        peer.mechanism = None
        peer.account = account
        peer.send(
            "900", peer.nick, f"{peer.nick}!u@h", account, f"You are now logged in as {account}"
        )
        peer.send("903", peer.nick, "SASL authentication successful")

    def _authenticate(self, peer: _Peer, param: str) -> None:
        if peer.mechanism is None:
            if param in ("PLAIN", "SCRAM-SHA-256"):
                peer.mechanism = param
                peer.send("AUTHENTICATE", "+", source="")
            else:
                peer.send("908", peer.nick, "PLAIN,SCRAM-SHA-256", "are available SASL mechanisms")
                self._fail(peer)
            return
        if param == "*":
            peer.mechanism = None
            peer.send("906", peer.nick, "SASL authentication aborted")
            return
        data = b"" if param == "+" else base64.b64decode(param)
        if peer.mechanism == "PLAIN":
            _, user, password = data.decode().split("\0")
            if self.accounts.get(user) == password:
                self._success(peer, user)
            else:
                self._fail(peer)
            return
        self._scram(peer, data.decode())

    def _scram(self, peer: _Peer, text: str) -> None:
        state = peer.scram
        if "nonce" not in state:
            bare = text[3:]  # drop the "n,," GS2 header
            attrs = dict(a.split("=", 1) for a in bare.split(","))
            user = attrs["n"]
            if user not in self.accounts:
                self._fail(peer)
                return
            nonce = attrs["r"] + secrets.token_urlsafe(12)
            salt = base64.b64encode(self.salt).decode()
            first = f"r={nonce},s={salt},i={self.iterations}"
            state.update(user=user, bare=bare, first=first, nonce=nonce)
            peer.send("AUTHENTICATE", base64.b64encode(first.encode()).decode(), source="")
            return
        if "done" in state:
            self._success(peer, state["user"])
            return
        without_proof, _, proof = text.rpartition(",p=")
        salted = hashlib.pbkdf2_hmac(
            "sha256", self.accounts[state["user"]].encode(), self.salt, self.iterations
        )
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        auth = f"{state['bare']},{state['first']},{without_proof}".encode()
        signature = hmac.new(stored, auth, "sha256").digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        if not hmac.compare_digest(base64.b64decode(proof), expected):
            peer.scram.clear()
            self._fail(peer)
            return
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        verifier = base64.b64encode(hmac.new(server_key, auth, "sha256").digest()).decode()
        state["done"] = "1"
        peer.send("AUTHENTICATE", base64.b64encode(f"v={verifier}".encode()).decode(), source="")

    # -- history ------------------------------------------------------------------------------

    def _answer(self, peer: _Peer, request: Message, lines: list[Message]) -> None:
        """Send ``lines`` as the answer to ``request``: labeled as labeled-response says (the
        label on a lone line or batch, a ``labeled-response`` batch around several, an ``ACK``
        for none)."""
        label = request.tags.get("label")
        if label is None or "labeled-response" not in peer.caps:
            peer.write(*lines)
            return
        single = len(lines) == 1 or (
            lines and lines[0].command == "BATCH" and _closes(lines[0], lines[-1])
        )
        if not lines:
            peer.write(Message("ACK", (), NAME, {"label": label}))
        elif single and not (self.history is not None and self.history.wrap):
            first = lines[0]
            peer.write(first.with_tags({**first.tags, "label": label}), *lines[1:])
        else:
            ref = self._ref()
            # (lines of a nested batch keep its tag; everything else, its BATCH lines too, ours)
            inner = [
                m if "batch" in m.tags else m.with_tags({**m.tags, "batch": ref}) for m in lines
            ]
            peer.write(
                Message("BATCH", (f"+{ref}", "labeled-response"), NAME, {"label": label}),
                *inner,
                Message("BATCH", (f"-{ref}",), NAME),
            )

    def _ref(self) -> str:
        self._batch += 1
        return f"b{self._batch}"

    def _batch_of(
        self, kind: str, params: Iterable[str], lines: Iterable[Message]
    ) -> list[Message]:
        ref = self._ref()
        return [
            Message("BATCH", (f"+{ref}", kind, *params), NAME),
            *(m.with_tags({**m.tags, "batch": ref}) for m in lines),
            Message("BATCH", (f"-{ref}",), NAME),
        ]

    def _failure(self, command: str, code: str, *rest: str) -> Message:
        return Message("FAIL", (command, code, *rest), NAME)

    def _join(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        channel = msg.params[0]
        lines = [Message("JOIN", (channel,), peer.prefix)]
        if "draft/read-marker" in peer.caps:
            lines.append(
                Message("MARKREAD", (channel, opts.markers.get(channel.lower(), "*")), NAME)
            )
        lines.append(Message("353", (peer.nick, "=", channel, peer.nick), NAME))
        lines.append(Message("366", (peer.nick, channel, "End of /NAMES list"), NAME))
        peer.write(*lines)

    def _chathistory(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        p = msg.params
        sub = p[0].upper() if p else ""
        if sub == "TARGETS":
            self._targets(opts, peer, msg)
            return
        wanted = 5 if sub == "BETWEEN" else 4
        if sub not in ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN") or len(p) != wanted:
            fail = self._failure("CHATHISTORY", "INVALID_PARAMS", sub or "*", "Invalid parameters")
            self._answer(peer, msg, [fail])
            return
        target = p[1]
        stored = opts.messages.get(target.lower())
        if stored is None:
            fail = self._failure(
                "CHATHISTORY", "INVALID_TARGET", sub, target, "Messages could not be retrieved"
            )
            self._answer(peer, msg, [fail])
            return
        limit = min(int(p[-1]), opts.max_limit)
        keyed = [((when(m.tags["time"]), i), m) for i, m in enumerate(stored)]
        refs = [_key(stored, r) for r in p[2:-1]]
        if any(r is None for r in refs) and not (sub == "LATEST" and p[2] == "*"):
            fail = self._failure("CHATHISTORY", "INVALID_PARAMS", sub, "Invalid message reference")
            self._answer(peer, msg, [fail])
            return
        first = refs[0]
        if sub == "LATEST":
            found = [m for k, m in keyed if first is None or k > first[1]][-limit:]
        elif sub == "BEFORE":
            assert first is not None
            found = [m for k, m in keyed if k < first[0]][-limit:]
        elif sub == "AFTER":
            assert first is not None
            found = [m for k, m in keyed if k > first[1]][:limit]
        elif sub == "AROUND":
            assert first is not None
            older = [m for k, m in keyed if k < first[0]][-(limit // 2) :] if limit > 1 else []
            rest = [m for k, m in keyed if k >= first[0]]
            found = older + rest[: limit - len(older)]
        else:
            a, b = refs
            assert a is not None
            assert b is not None
            if a[0] <= b[0]:
                found = [m for k, m in keyed if a[1] < k < b[0]][:limit]
            else:
                found = [m for k, m in keyed if b[1] < k < a[0]][-limit:]
        self._answer(peer, msg, self._batch_of("chathistory", (target,), found))

    def _targets(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        p = msg.params
        start, end = when(p[1].removeprefix("timestamp=")), when(p[2].removeprefix("timestamp="))
        low, high = min(start, end), max(start, end)
        found = []
        for name, stored in opts.messages.items():
            if stored:
                latest = when(stored[-1].tags["time"])
                if low < latest < high:
                    found.append((latest, name))
        found.sort()
        limit = int(p[3])
        chosen = found[:limit] if start <= end else found[-limit:]  # (counted from the first)
        lines = [
            Message("CHATHISTORY", ("TARGETS", name, stamp(latest)), NAME)
            for latest, name in chosen
        ]
        self._answer(peer, msg, self._batch_of("draft/chathistory-targets", (), lines))

    def _search(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        attrs = parse_tags(msg.params[0]) if msg.params else {}
        unknown = [k for k in attrs if k not in ("in", "from", "after", "before", "text", "limit")]
        if unknown:
            fail = self._failure("SEARCH", "INVALID_PARAMS", unknown[0], "Unknown search attribute")
            self._answer(peer, msg, [fail])
            return
        self.searches.append(attrs)
        found = []
        for name, stored in opts.messages.items():
            if "in" in attrs and attrs["in"].lower() != name:
                continue
            for m in stored:
                nick = (m.source or "").split("!")[0]
                if "from" in attrs and attrs["from"].lower() != nick.lower():
                    continue
                if "text" in attrs and attrs["text"].lower() not in m.params[-1].lower():
                    continue
                time = when(m.tags["time"])
                if "after" in attrs and time < when(attrs["after"]):
                    continue
                if "before" in attrs and time > when(attrs["before"]):
                    continue
                found.append((time, m))
        found.sort(key=lambda item: item[0])
        limit = int(attrs.get("limit", "100"))
        lines = [m for _, m in found[:limit]]
        self._answer(peer, msg, self._batch_of("soju.im/search", (), lines))

    def _markread(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        p = msg.params
        if not p:
            self._answer(
                peer, msg, [self._failure("MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")]
            )
            return
        target = p[0]
        current = opts.markers.get(target.lower(), "*")
        if len(p) > 1:
            if not p[1].startswith("timestamp="):
                fail = self._failure("MARKREAD", "INVALID_PARAMS", p[1], "Invalid parameters")
                self._answer(peer, msg, [fail])
                return
            if current == "*" or when(p[1][10:]) > when(current[10:]):
                current = opts.markers[target.lower()] = p[1]
                for other in self.peers:  # the user's other clients
                    if other is not peer and "draft/read-marker" in other.caps:
                        other.write(Message("MARKREAD", (target, current), NAME))
        self._answer(peer, msg, [Message("MARKREAD", (target, current), NAME)])

    def _redact(self, opts: HistoryOptions, peer: _Peer, msg: Message) -> None:
        target, msgid = msg.params[0], msg.params[1]
        stored = opts.messages.get(target.lower(), [])
        if not any(m.tags.get("msgid") == msgid for m in stored):
            fail = self._failure(
                "REDACT",
                "UNKNOWN_MSGID",
                target,
                msgid,
                "This message does not exist or is too old",
            )
            self._answer(peer, msg, [fail])
            return
        relay = Message("REDACT", msg.params, peer.prefix)
        for other in self.peers:
            if other is not peer and "draft/message-redaction" in other.caps:
                other.write(relay)
        self._answer(peer, msg, [relay] if "echo-message" in peer.caps else [])


def _closes(first: Message, last: Message) -> bool:
    """True when ``last`` ends the batch ``first`` opens."""
    return last.command == "BATCH" and last.params[0] == "-" + first.params[0][1:]


def _key(
    stored: list[Message], ref: str
) -> tuple[tuple[datetime, int], tuple[datetime, int]] | None:
    """The bounds a reference stands for: (the first key at or after it, the last key at or
    before it); for a msgid both are that message's key. None for ``*`` or an unknown one."""
    kind, _, value = ref.partition("=")
    if kind == "timestamp":
        at = when(value)
        return (at, -1), (at, len(stored))
    if kind == "msgid":
        for i, m in enumerate(stored):
            if m.tags.get("msgid") == value:
                key = (when(m.tags["time"]), i)
                return key, key
    return None


_HISTORY_HANDLERS = {
    "JOIN": FakeServer._join,
    "CHATHISTORY": FakeServer._chathistory,
    "SEARCH": FakeServer._search,
    "MARKREAD": FakeServer._markread,
    "REDACT": FakeServer._redact,
}


@asynccontextmanager
async def running(fake: FakeServer) -> AsyncIterator[str]:
    """Serve ``fake`` on a loopback port; yields its address."""
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
