"""Idle registered clients over TLS or WebSocket: the ``connections`` scenario's generator for
the transports the C generator (``hbload``) does not speak.

``python -m hubbub.bench.idleclients --transport tls|ws|wss|tcp ...`` opens ``--clients``
connections (at most ``--connect-window`` registering at once), registers each (NICK, USER,
until 001), answers PINGs, and speaks to its driver (:func:`hubbub.bench.loadgen.run_load`) as
``hbload`` does: it prints ``ready {json}`` once every client is registered, waits for ``go``,
stays idle ``--seconds``, prints ``result {json}`` and keeps the connections open until told
``quit`` (or its standard input closes). The server's memory is what is measured, so this
side is written for correctness, not frugality: an asyncio protocol per connection, TLS
through the event loop, WebSocket framing through the sans-I/O ``websockets`` protocol.

Clients are spread over ``--sources`` local addresses, round robin, so that more connections
than one address has ephemeral ports (about 28,000 on Linux) can reach one server port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

TRANSPORTS = ("tcp", "tls", "ws", "wss")
"""What the generator speaks: plain TCP, TLS, WebSocket (text.ircv3.net) and WebSocket over TLS."""

IP_BIND_ADDRESS_NO_PORT = 24
"""Linux's socket option (``linux/in.h``) that defers the choice of a local port from
``bind`` to ``connect``, where the kernel may reuse a port for other destinations."""


class Stats:
    """What the clients of this process have seen."""

    def __init__(self) -> None:
        self.ready = 0
        self.errors = 0
        self.disconnects = 0
        self.first_error = ""
        self.all_ready = asyncio.Event()
        self.target = 0

    def error(self, what: str) -> None:
        """Count a failure; the first one is reported."""
        self.errors += 1
        if not self.first_error:
            self.first_error = what[:200]


class IdleClient(asyncio.Protocol):
    """One connection: register, then answer PINGs and say nothing else."""

    def __init__(self, nick: str, ws: ClientProtocol | None, stats: Stats) -> None:
        self.nick = nick
        self.ws = ws
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.registered = asyncio.get_running_loop().create_future()
        self.open = ws is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.ws is not None:
            self.ws.send_request(self.ws.connect())
            self._flush_ws()
        else:
            self._register()

    def _register(self) -> None:
        self.send_line(f"NICK {self.nick}")
        self.send_line("USER hb 0 * :hubbub bench")

    def send_line(self, line: str) -> None:
        """Send one IRC line (as one WebSocket text frame over WebSocket)."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.ws is None:
            self.transport.write(line.encode() + b"\r\n")
        else:
            self.ws.send_text(line.encode())
            self._flush_ws()

    def _flush_ws(self) -> None:
        assert self.ws is not None
        assert self.transport is not None
        out = self.ws.data_to_send()
        if out:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        if self.ws is None:
            self._lines(data)
            return
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.handshake_exc is not None:
                    self._fail(f"WebSocket handshake refused: {self.ws.handshake_exc}")
                    return
                self.open = True
                self._register()
            elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._lines(bytes(event.data) + b"\n")
        self._flush_ws()  # (pongs to the server's pings)

    def _lines(self, data: bytes) -> None:
        data = self.pending + data
        *lines, self.pending = data.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode(errors="replace")
            words = line.split(" ")
            if words[0].startswith(":"):
                words = words[1:]
            if not words:
                continue
            command = words[0]
            if command == "PING":
                self.send_line("PONG" + line[len("PING") :])
            elif command == "001" and not self.registered.done():
                self.registered.set_result(None)
            elif command in ("432", "433", "436", "465") and not self.registered.done():
                self._fail(f"registration of {self.nick} refused: {line}")
            elif command == "ERROR":
                self.stats.error(f"{self.nick} got {line}")

    def _fail(self, why: str) -> None:
        if not self.registered.done():
            self.registered.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.registered.done():
            self.registered.set_exception(
                ConnectionError(f"{self.nick}: connection closed by server ({exc or 'EOF'})")
            )
        else:
            self.stats.disconnects += 1
            self.stats.error(f"client {self.nick} closed: {exc or 'connection closed by server'}")


class Generator:
    """The clients of one process and how they connect."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.clients: list[IdleClient] = []
        self.sources: list[str] = [s for s in args.sources.split(",") if s] or [""]
        self.tls: ssl.SSLContext | None = None
        if args.transport in ("tls", "wss"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # (a benchmark's self-signed certificate)
            self.tls = ctx
        self.family = socket.AF_INET6 if ":" in args.host else socket.AF_INET

    async def one(self, index: int) -> None:
        """Connect, register and keep client ``index``."""
        args = self.args
        loop = asyncio.get_running_loop()
        nick = f"{args.prefix}{args.first + index}"
        ws = None
        if args.transport in ("ws", "wss"):
            scheme = "wss" if args.transport == "wss" else "ws"
            host = f"[{args.host}]" if ":" in args.host else args.host
            ws = ClientProtocol(
                parse_uri(f"{scheme}://{host}:{args.port}/irc"),
                subprotocols=[Subprotocol("text.ircv3.net")],
            )
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            source = self.sources[index % len(self.sources)]
            if source:
                if sys.platform == "linux":
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((source, 0))
            await loop.sock_connect(sock, (args.host, args.port))
        except BaseException:
            sock.close()
            raise
        client = IdleClient(nick, ws, self.stats)
        await loop.create_connection(
            lambda: client,
            sock=sock,
            ssl=self.tls,
            server_hostname=args.host if self.tls is not None else None,
            ssl_handshake_timeout=args.setup_timeout if self.tls is not None else None,
        )
        self.clients.append(client)
        await client.registered

    async def setup(self) -> float:
        """Register every client; the seconds it took."""
        args = self.args
        window = asyncio.Semaphore(max(1, args.connect_window))
        start = time.monotonic()

        async def run(index: int) -> None:
            async with window:
                await self.one(index)
                self.stats.ready += 1

        tasks = [asyncio.create_task(run(i)) for i in range(args.clients)]
        done, pending = await asyncio.wait(
            tasks, timeout=args.setup_timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for task in pending:
            task.cancel()
        failed = [t for t in done if t.exception() is not None]
        if failed or pending:
            exc = failed[0].exception() if failed else None
            what = f"{exc}" if exc is not None else f"setup timed out after {args.setup_timeout} s"
            raise RuntimeError(
                f"only {self.stats.ready} of {args.clients} clients registered: {what}"
            )
        return time.monotonic() - start


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _read_word(reader: asyncio.StreamReader) -> str:
    line = await reader.readline()
    return line.decode(errors="replace").strip() if line else "quit"


async def main_async(args: argparse.Namespace) -> int:
    """Run the generator; what it prints is read by :func:`hubbub.bench.loadgen.run_load`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gen = Generator(args)
    try:
        register_s = await gen.setup()
    except (OSError, RuntimeError, ssl.SSLError) as exc:
        print(f"error {exc}", flush=True)
        return 1
    ready = {"clients": args.clients, "register_s": register_s, "retries": 0}
    print(f"ready {json.dumps(ready)}", flush=True)
    while (word := await _read_word(reader)) not in ("go", "quit"):
        pass
    if word == "quit":
        return 0
    cpu0, t0 = _cpu(), time.monotonic()
    await asyncio.sleep(args.seconds)
    result = {
        "clients": args.clients,
        "ready": gen.stats.ready,
        "register_s": register_s,
        "window_s": time.monotonic() - t0,
        "gen_cpu_s": _cpu() - cpu0,
        "server_cpu_s": -1.0,
        "machine_busy_s": -1.0,
        "disconnects": gen.stats.disconnects,
        "errors": gen.stats.errors,
        "retries": 0,
        "first_error": gen.stats.first_error,
        "min_client_recv": 0,
        "max_client_recv": 0,
        "hist": [],
        "lat_max_us": 0.0,
    }
    print(f"result {json.dumps(result)}", flush=True)
    while await _read_word(reader) != "quit":
        pass
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The generator's options (those of ``hbload`` that the idle scenario uses)."""
    p = argparse.ArgumentParser(prog="python -m hubbub.bench.idleclients", description=__doc__)
    p.add_argument("--transport", choices=TRANSPORTS, default="tls")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6697)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--first", type=int, default=0, help="number of the first nick")
    p.add_argument("--prefix", default="hb")
    p.add_argument("--connect-window", type=int, default=64)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--setup-timeout", type=float, default=120.0)
    p.add_argument("--sources", default="", help="comma-separated local addresses to bind")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hubbub.bench.idleclients``."""
    args = parse_args(argv)
    if args.clients < 1:
        print("error --clients must be at least 1", flush=True)
        return 2
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
