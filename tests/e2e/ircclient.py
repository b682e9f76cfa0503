"""A small asyncio IRC client for end-to-end tests over real sockets."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from hubbub.protocol.message import Message, parse
from tests.timeouts import TIMEOUT


class MessageReader:
    """Bounded waits for messages, over any transport that can read one message and send
    lines (TCP here, WebSocket in tests/net)."""

    async def send(self, *lines: str) -> None:
        raise NotImplementedError

    async def read_message(self, timeout: float = TIMEOUT) -> Message:
        """The next message; raises TimeoutError (or EOFError when the peer closed)."""
        raise NotImplementedError

    async def collect_until(
        self, pred: Callable[[Message], bool] | str, timeout: float = TIMEOUT
    ) -> list[Message]:
        """Every message up to and including the first that matches (a command name or a
        predicate)."""
        match = (lambda m: m.command == pred) if isinstance(pred, str) else pred
        out: list[Message] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                msg = await self.read_message(remaining)
            except TimeoutError:
                raise TimeoutError(f"no match for {pred!r}; saw {out[-20:]}") from None
            out.append(msg)
            if match(msg):
                return out

    async def expect(
        self, pred: Callable[[Message], bool] | str, timeout: float = TIMEOUT
    ) -> Message:
        """Read until a message matches; skip the rest."""
        return (await self.collect_until(pred, timeout))[-1]

    async def register(
        self, nick: str, caps: str = "", user: str = "user", realname: str = "Test User"
    ) -> list[Message]:
        """Register; returns the welcome burst up to the end of the MOTD."""
        if caps:
            await self.send("CAP LS 302", f"CAP REQ :{caps}")
            await self.expect(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
        await self.send(f"NICK {nick}", f"USER {user} 0 * :{realname}")
        if caps:
            await self.send("CAP END")
        return await self.collect_until(lambda m: m.command in ("376", "422"))


class IRCTestClient(MessageReader):
    """Send raw lines, await parsed messages (with a bounded wait)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = "*"
        self.backlog: list[Message] = []

    @classmethod
    async def connect(
        cls, host: str, port: int, tls: ssl.SSLContext | None = None, source: str | None = None
    ) -> IRCTestClient:
        """A connection to ``host``, from the local address ``source`` if given (another
        loopback address, 127.0.0.2, is another client address to the server)."""
        local = (source, 0) if source is not None else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls, limit=1 << 20, local_addr=local),
            TIMEOUT,
        )
        return cls(reader, writer)

    @classmethod
    async def connect_unix(cls, path: str) -> IRCTestClient:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), TIMEOUT)
        return cls(reader, writer)

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_message(self, timeout: float = TIMEOUT) -> Message:
        """The next message; raises TimeoutError or EOFError."""
        if self.backlog:
            return self.backlog.pop(0)
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("connection closed")
        return parse(line.decode("utf-8", "replace").rstrip("\r\n"))

    async def register(
        self, nick: str, caps: str = "", user: str = "user", realname: str = "Test User"
    ) -> list[Message]:
        burst = await super().register(nick, caps, user, realname)
        self.nick = nick
        return burst

    async def assert_nothing_pending(self) -> None:
        """Nothing was sent to us that we have not read: a PING's PONG comes next."""
        token = "silence-check"
        await self.send(f"PING {token}")
        msg = await self.read_message()
        assert msg.command == "PONG", msg
        assert msg.params[-1] == token, msg

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass
