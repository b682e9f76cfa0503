"""A tiny scripted IRC server for what ngircd cannot show: SASL accounts and Unix sockets.

It speaks just enough: ``CAP LS/REQ/END``, ``AUTHENTICATE`` (PLAIN and the server side of
SCRAM-SHA-256, RFC 5802), ``NICK``/``USER`` -> ``001``, ``PING`` -> ``PONG``, ``QUIT``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from hubbub.protocol import Message, parse

NAME = "fake.test"


@dataclass
class _Peer:
    writer: asyncio.StreamWriter
    nick: str = "*"
    user: bool = False
    cap_open: bool = False
    mechanism: str | None = None
    scram: dict[str, str] = field(default_factory=dict)
    account: str | None = None

    def send(self, command: str, *params: str, source: str = NAME) -> None:
        self.writer.write(Message(command, params, source).to_bytes())


class FakeServer:
    """Accounts are ``{name: password}``; every connection is served independently."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts
        self.salt = secrets.token_bytes(16)
        self.iterations = 4096
        self.received: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _Peer(writer)
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                self.received.append(text)
                if not self._handle(peer, parse(text)):
                    break
                await writer.drain()
        finally:
            writer.close()

    def _handle(self, peer: _Peer, msg: Message) -> bool:
        cmd, p = msg.command, msg.params
        if cmd == "CAP" and p[0] == "LS":
            peer.cap_open = True
            peer.send("CAP", "*", "LS", "sasl=PLAIN,SCRAM-SHA-256 server-time")
        elif cmd == "CAP" and p[0] == "REQ":
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
