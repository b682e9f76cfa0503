"""Helpers shared by the conformance tests: a set of clients on one server, and assertions.

The conformance tests are written from the Modern IRC documents (https://modern.ircdocs.horse)
and the IRCv3 specifications (https://ircv3.net/irc/), not from hubbub's code: they check exact
numerics and parameters the way an outside conformance suite (irctest) does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from types import TracebackType

from hubbub.net.app import App
from hubbub.protocol.message import Message
from tests.cloaks import HOST as CLOAKED_LOOPBACK
from tests.e2e.ircclient import IRCTestClient

SERVER_NAME = "hubbub.local"
"""The server name of the default config."""
HOST = CLOAKED_LOOPBACK
"""Every test client connects from loopback: its cloak is the host part of their masks."""

_tokens = itertools.count(1)


class Net:
    """The clients of one test on one server; closes them all on exit."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.clients: list[IRCTestClient] = []

    async def __aenter__(self) -> Net:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def raw(self) -> IRCTestClient:
        """A connected, unregistered client."""
        host, port = self.app.address()
        client = await IRCTestClient.connect(host, port)
        self.clients.append(client)
        return client

    async def client(self, nick: str, caps: str = "") -> IRCTestClient:
        """A registered client (``caps`` requested with CAP LS 302 / CAP REQ)."""
        client = await self.raw()
        await client.register(nick, caps)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        self.clients.clear()


def mask(nick: str) -> str:
    """The ``nick!user@host`` source of a test client (``USER user ...`` from loopback)."""
    return f"{nick}!~user@{HOST}"


async def drain(client: IRCTestClient) -> list[Message]:
    """Everything the server sent ``client`` so far (a PING/PONG round trip marks the end)."""
    token = f"drain-{next(_tokens)}"
    await client.send(f"PING {token}")
    got = await client.collect_until(lambda m: m.command == "PONG" and m.params[-1] == token)
    return got[:-1]


async def drain_all(*clients: IRCTestClient) -> None:
    """Read and discard what every client has pending."""
    for client in clients:
        await drain(client)


async def join(channel: str, *clients: IRCTestClient) -> None:
    """Each client joins ``channel`` in turn (the first creates it and is its operator);
    every pending message of every client is then read and discarded."""
    for client in clients:
        await client.send(f"JOIN {channel}")
        await client.expect(lambda m: m.command == "366")
    await drain_all(*clients)


async def reply_to(client: IRCTestClient, line: str) -> list[Message]:
    """Send ``line`` and return every message received up to a PING/PONG round trip after it."""
    await client.send(line)
    return await drain(client)


def only(messages: Iterable[Message], command: str) -> list[Message]:
    """The messages with this command (or numeric)."""
    return [m for m in messages if m.command == command]


def first(messages: Sequence[Message], command: str) -> Message:
    """The first message with this command; fails the test, showing what came, if none."""
    for m in messages:
        if m.command == command:
            return m
    raise AssertionError(f"no {command} in {[str(m) for m in messages]}")


def commands(messages: Iterable[Message]) -> list[str]:
    """The commands of ``messages``, in order."""
    return [m.command for m in messages]


def names_in(messages: Iterable[Message]) -> set[str]:
    """Every entry of the RPL_NAMREPLY (353) lines among ``messages``, prefixes included."""
    return {name for m in messages if m.command == "353" for name in m.params[-1].split()}


def isupport(burst: Iterable[Message]) -> dict[str, str | None]:
    """The ISUPPORT tokens of a welcome burst (``None`` for a token without a value)."""
    tokens: dict[str, str | None] = {}
    for m in burst:
        if m.command != "005":
            continue
        for token in m.params[1:-1]:
            name, sep, value = token.partition("=")
            tokens[name] = value if sep else None
    return tokens
