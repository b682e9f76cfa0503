"""A tiny IRC-shaped relay for the generator's tests, run on its own event loop in a thread.

NICK and USER get a 001, JOIN joins the one channel and gets a 366, PRIVMSG goes to the other
channel members or to the named nick, PONG is counted. Options add noise the generator must
ignore (PINGs and NOTICEs among the messages) and split lines across TCP segments.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Stats:
    """What the relay saw."""

    privmsgs: int = 0
    pongs: int = 0
    clients: int = 0
    addresses: set[str] = field(default_factory=set)
    """The addresses the clients connected from."""


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    nick: str = ""
    relayed: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class IrcishRelay:
    """The relay; ``noise`` adds PING/NOTICE lines, ``split`` writes each line in two parts."""

    def __init__(self, *, noise: bool = False, split: bool = False) -> None:
        self.noise = noise
        self.split = split
        self.stats = Stats()
        self.port = 0
        self._nicks: dict[str, _Client] = {}
        self._members: list[_Client] = []

    async def _send(self, client: _Client, data: bytes) -> None:
        if not self.split:
            client.writer.write(data)
            return
        async with client.lock:
            # Two segments per line, so the receiver reads partial lines.
            for line in data.splitlines(keepends=True):
                half = len(line) // 2
                client.writer.write(line[:half])
                await client.writer.drain()
                await asyncio.sleep(0.0005)
                client.writer.write(line[half:])
                await client.writer.drain()

    async def _deliver(self, client: _Client, line: bytes) -> None:
        client.relayed += 1
        if self.noise and client.relayed % 5 == 0:
            await self._send(client, b":srv NOTICE " + client.nick.encode() + b" :noise\r\n")
        if self.noise and client.relayed % 7 == 0:
            await self._send(client, b"PING :noise\r\n")
        await self._send(client, line)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = _Client(writer)
        self.stats.clients += 1
        peer = writer.get_extra_info("peername")
        if peer:
            self.stats.addresses.add(str(peer[0]))
        try:
            while line := await reader.readline():
                await self._line(client, line.rstrip(b"\r\n"))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._nicks.pop(client.nick, None)
            if client in self._members:
                self._members.remove(client)
            writer.close()

    async def _line(self, client: _Client, line: bytes) -> None:
        command, _, rest = line.partition(b" ")
        if command == b"NICK":
            client.nick = rest.decode()
            self._nicks[client.nick] = client
        elif command == b"USER":
            welcome = f":srv 001 {client.nick} :welcome\r\n".encode()
            if self.noise:
                welcome += b"PING :hello\r\n:srv 002 x :noise\r\n"
            await self._send(client, welcome)
        elif command == b"JOIN":
            self._members.append(client)
            await self._send(client, f":srv 366 {client.nick} {rest.decode()} :end\r\n".encode())
        elif command == b"PONG":
            self.stats.pongs += 1
        elif command == b"PRIVMSG":
            self.stats.privmsgs += 1
            target = rest.split(b" ", 1)[0].decode()
            out = b":" + client.nick.encode() + b"!u@h " + line + b"\r\n"
            if target.startswith("#"):
                for member in list(self._members):
                    if member is not client:
                        await self._deliver(member, out)
            elif target in self._nicks:
                await self._deliver(self._nicks[target], out)


@contextmanager
def running(relay: IrcishRelay) -> Iterator[IrcishRelay]:
    """Run ``relay`` on 127.0.0.1 in a thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: list[asyncio.Server] = []

    async def start() -> None:
        srv = await asyncio.start_server(relay._handle, "127.0.0.1", 0)
        relay.port = srv.sockets[0].getsockname()[1]
        server.append(srv)
        started.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        server[0].close()  # here, on the loop's own thread: asyncio.Server is not thread-safe
        for task in asyncio.all_tasks(loop):
            task.cancel()
        with suppress(Exception):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the test relay did not start")
    try:
        yield relay
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
