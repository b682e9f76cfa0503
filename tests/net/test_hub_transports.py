"""TLS and WebSocket clients on the epoll hub, over real loopback sockets: what the listener
tests (test_tls.py, test_websocket.py) do not reach through a client library."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import ssl
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import Config, ListenSection
from hubbub.net import certs, epoll
from hubbub.net.app import App
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.net.test_epoll import connection_of, fill_until_buffered
from tests.net.test_wsframes import client_frame, parse_server_frames
from tests.timeouts import TIMEOUT

AppFactory = Callable[[Config], Any]


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    return cert, key


def config(cert: tuple[Path, Path], **limits: Any) -> Config:
    """Plain IRC, TLS IRC, WebSocket and WebSocket over TLS, all on loopback."""
    c, k = str(cert[0]), str(cert[1])
    return make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", tls=True, cert=c, key=k),
            ListenSection(address="127.0.0.1:0", websocket=True),
            ListenSection(address="127.0.0.1:0", websocket=True, tls=True, cert=c, key=k),
        ),
        **limits,
    )


def trusting(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


class RawWS:
    """A WebSocket client made by hand: the tests send frames no library would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending = b""

    @classmethod
    async def connect(cls, app: App, kind: str = "ws", tls: ssl.SSLContext | None = None) -> RawWS:
        host, port = app.address(kind)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls), TIMEOUT
        )
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /irc HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary.ircv3.net\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"Server: hubbub" in head
        return cls(reader, writer)

    def send(self, opcode: int, data: bytes, **kw: Any) -> None:
        self.writer.write(client_frame(opcode, data, **kw))

    def line(self, text: str) -> None:
        self.send(0x2, text.encode())

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server (EOFError at the end)."""
        while True:
            frames = parse_whole(self.pending)
            if frames is not None:
                (first, used), *_ = frames
                self.pending = self.pending[used:]
                return first
            chunk = await asyncio.wait_for(self.reader.read(1 << 16), TIMEOUT)
            if not chunk:
                raise EOFError
            self.pending += chunk

    async def until(self, opcode: int, text: bytes = b"") -> bytes:
        while True:
            op, data = await self.frame()
            if op == opcode and text in data:
                return data

    async def closed(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        return data == b""


def parse_whole(data: bytes) -> list[tuple[tuple[int, bytes], int]] | None:
    """The first whole frame of ``data`` and its length, or None."""
    if len(data) < 2:
        return None
    size, head = data[1] & 0x7F, 2
    if size == 126:
        if len(data) < 4:
            return None
        (size,) = struct.unpack_from("!H", data, 2)
        head = 4
    elif size == 127:
        if len(data) < 10:
            return None
        (size,) = struct.unpack_from("!Q", data, 2)
        head = 10
    if len(data) < head + size:
        return None
    ((op, payload),) = parse_server_frames(data[: head + size])
    return [((op, payload), head + size)]


async def registered(ws: RawWS, nick: str) -> None:
    ws.line(f"NICK {nick}")
    ws.line("USER u 0 * :raw")
    await ws.until(0x2, b" 001 ")


async def test_tls_and_websocket_clients_are_on_the_hub(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    app = await app_factory(config(cert))
    host, port = app.address("ircs")
    tls = await IRCTestClient.connect(host, port, tls=trusting(cert))
    await tls.register("tlsy")
    ws = await RawWS.connect(app)
    await registered(ws, "webby")
    wss = await RawWS.connect(app, "wss", tls=trusting(cert))
    await registered(wss, "secure")
    for nick, kind, secure in [
        ("tlsy", "tls", True),
        ("webby", "ws", False),
        ("secure", "wss", True),
    ]:
        conn = connection_of(app, nick)
        assert conn.setup is None  # (the handshake's state is gone)
        assert (conn.tls is not None) == secure
        assert isinstance(conn, epoll.WSConnection) == kind.startswith("ws")
        assert conn.session is not None
        assert conn.session.peer.transport == kind
    await tls.send("PRIVMSG webby :over TLS", "PRIVMSG secure :to wss")
    assert (await ws.until(0x2, b" PRIVMSG webby ")).endswith(b":over TLS")
    assert (await wss.until(0x2, b" PRIVMSG secure ")).endswith(b":to wss")
    await tls.close()


async def test_tls_output_a_slow_reader_cannot_take_arrives_whole_and_in_order(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    app = await app_factory(config(cert, sendq=64 << 20))
    talker = await IRCTestClient.connect(*app.address("irc"))
    await talker.register("talker")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, app.address("ircs")), 5)
    # A small stream limit: the client's transport stops reading once it holds that much.
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            sock=sock, ssl=trusting(cert), server_hostname="localhost", limit=1024
        ),
        TIMEOUT,
    )
    writer.write(b"NICK slow\r\nUSER u 0 * :slow\r\n")
    while b" 001 " not in await asyncio.wait_for(reader.readline(), TIMEOUT):
        pass
    count = await fill_until_buffered(talker, "slow", connection_of(app, "slow"))
    got: list[list[bytes]] = []
    while len(got) < count:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        assert line, "closed early"
        if b" PRIVMSG slow :" in line:
            got.append(line.split(b" :", 1)[1].split(b":")[:2])
    assert got == [
        [str(b).encode(), str(i).encode()] for b in range(count // 100) for i in range(100)
    ]
    writer.close()
    await talker.close()


async def test_a_set_up_that_never_ends_times_out(
    app_factory: AppFactory,
    cert: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(epoll, "HANDSHAKE_TIMEOUT", 0.2)
    caplog.set_level(logging.INFO, logger="hubbub")
    app = await app_factory(config(cert))
    silent = await asyncio.open_connection(*app.address("ircs"))
    half = await asyncio.open_connection(*app.address("ws"))
    half[1].write(b"GET /irc HTTP/1.1\r\nHost: x\r\n")  # (never finished)
    for reader, writer in (silent, half):
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
    assert app.hub is not None
    assert app.hub.count == 0
    messages = [r.getMessage() for r in caplog.records]
    assert "TLS handshake with 127.0.0.1 failed: timed out" in messages
    assert "WebSocket opening handshake with 127.0.0.1 failed: timed out" in messages


async def test_websocket_ping_keepalive_and_close(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    app = await app_factory(config(cert))
    watcher = await IRCTestClient.connect(*app.address("irc"))
    await watcher.register("watcher")
    ws = await RawWS.connect(app)
    await registered(ws, "pinger")
    for client in (watcher,):
        await client.send("JOIN #room")
    ws.line("JOIN #room")
    await ws.until(0x2, b" 366 ")
    ws.send(0x9, b"are you there")
    assert await ws.until(0xA) == b"are you there"
    # A client silent for the keepalive interval is pinged (proxies drop quiet connections).
    conn = connection_of(app, "pinger")
    assert conn.session is not None
    conn.session.last_recv -= epoll.KEEPALIVE_INTERVAL
    assert app.hub is not None
    app.hub._ping()
    assert await ws.until(0x9) == b""
    ws.send(0x8, struct.pack("!H", 1001) + b"leaving")
    assert await ws.until(0x8) == struct.pack("!H", 1001)  # (the code echoed)
    assert await ws.closed()
    quit_msg = await watcher.expect(lambda m: m.command == "QUIT")
    assert quit_msg.params[-1] == "Connection closed"
    await watcher.close()


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (client_frame(0x1, b"PING x", mask=False), 1002, "unmasked frame from a client"),
        (client_frame(0x1, b"PRIVMSG #room :caf\xe9"), 1007, "invalid UTF-8 in a text message"),
        (client_frame(0x2, b"x" * 5000), 1009, "Message too big"),
        # a close code a peer may not send (1005: "no code", for inside an endpoint) is not
        # echoed: answered as a protocol error
        (client_frame(0x8, struct.pack("!H", 1005)), 1002, "Connection closed"),
        (client_frame(0x8, b"\x03"), 1002, "Connection closed"),  # half a code
        # a reason that is not UTF-8 (RFC 6455 5.5.1): invalid data
        (client_frame(0x8, struct.pack("!H", 1000) + b"bye \xff"), 1007, "Connection closed"),
    ],
)
async def test_a_broken_frame_closes_with_its_code(
    app_factory: AppFactory, cert: tuple[Path, Path], frame: bytes, code: int, reason: str
) -> None:
    app = await app_factory(config(cert, recvq=4096))
    watcher = await IRCTestClient.connect(*app.address("irc"))
    await watcher.register("watcher")
    await watcher.send("JOIN #room")
    ws = await RawWS.connect(app)
    await registered(ws, "breaker")
    ws.line("JOIN #room")
    await ws.until(0x2, b" 366 ")
    ws.writer.write(frame)
    closing = await ws.until(0x8)
    assert struct.unpack_from("!H", closing)[0] == code
    assert await ws.closed()
    quit_msg = await watcher.expect(lambda m: m.command == "QUIT")
    assert quit_msg.params[-1] == reason
    await watcher.close()
