"""Attacks on the epoll hub over real loopback sockets, each while a bystander chats: every one
is answered as RFC 6455 or the IRC limits say, holds bounded memory, and never keeps the
server from answering the bystander's PING. (What test_hub_transports.py and
test_websocket.py already cover is not repeated here: unmasked frames, invalid UTF-8, one
frame over the RecvQ, bad close codes, a set-up that sends nothing.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import ssl
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import Config
from hubbub.net import epoll, wsframes
from hubbub.net.app import App
from hubbub.protocol.message import MAX_INPUT_BYTES
from tests.e2e.ircclient import IRCTestClient
from tests.net.test_epoll import connection_of
from tests.net.test_hub_transports import RawWS, cert, config, registered
from tests.net.test_wsframes import client_frame
from tests.timeouts import TIMEOUT

__all__ = ["cert"]  # (the fixture, used by name)

AppFactory = Callable[[Config], Any]

TEXT, BINARY, CONTINUATION, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9


async def bystander(app: App) -> IRCTestClient:
    """A plain client whose PING must keep getting its PONG while an attack goes on."""
    client = await IRCTestClient.connect(*app.address("irc"))
    await client.register("bystander")
    return client


async def still_served(client: IRCTestClient, token: str = "alive") -> None:
    """The server answers ``client``'s PING (within the test timeout)."""
    await client.send(f"PING :{token}")
    pong = await client.expect(lambda m: m.command == "PONG")
    assert pong.params[-1] == token


async def close_code(ws: RawWS) -> int:
    """The code of the close frame the server sends next (other frames skipped)."""
    closing = await ws.until(CLOSE)
    code: int = struct.unpack_from("!H", closing)[0]
    return code


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> RawWS:
    """The WebSocket opening handshake on a connection the test made itself."""
    writer.write(
        b"GET /irc HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: "
        + base64.b64encode(os.urandom(16))
        + b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary.ircv3.net\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101"), head
    return RawWS(reader, writer)


# --- WebSocket frames -------------------------------------------------------------------------


async def test_an_endless_run_of_empty_fragments_costs_nothing_held(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # Empty continuation frames never reach the message size limit: each must cost the same
    # little time and nothing held (they were once kept in a tuple copied at every one).
    app = await app_factory(config(cert))
    other = await bystander(app)
    ws = await RawWS.connect(app)
    await registered(ws, "fragger")
    ws.send(BINARY, b"", fin=False)
    empty = client_frame(CONTINUATION, b"", fin=False)
    for _ in range(20):
        ws.writer.write(empty * 10_000)
        await ws.writer.drain()
        await still_served(other)
    conn = connection_of(app, "fragger")
    assert isinstance(conn, epoll.WSConnection)
    assert conn.partial is not None
    assert len(conn.partial.fragments) == 0
    ws.send(CONTINUATION, b"PING :after")  # (the message ends: all of it is that line)
    assert b"after" in await ws.until(BINARY, b"PONG")
    await other.close()


async def test_fragments_past_the_recvq_close_with_1009(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    app = await app_factory(config(cert, recvq=4096))
    other = await bystander(app)
    ws = await RawWS.connect(app)
    await registered(ws, "fragger")
    ws.send(TEXT, b"PRIVMSG bystander :", fin=False)
    for _ in range(100):  # (each fits; together they do not)
        ws.send(CONTINUATION, b"x" * 100, fin=False)
    assert await close_code(ws) == wsframes.CLOSE_TOO_BIG
    assert await ws.closed()
    await still_served(other)
    await other.close()


@pytest.mark.parametrize(
    "frame",
    [
        client_frame(PING, b"x" * 126),  # a control frame over 125 bytes
        client_frame(PING, b"x", fin=False),  # a fragmented control frame
        client_frame(CLOSE, b"x" * 200),
        client_frame(CONTINUATION, b"x"),  # a continuation of nothing
        client_frame(0x3, b"x"),  # an opcode that is reserved
        bytes([0x80 | 0x40 | TEXT, 0x80]) + b"\0\0\0\0",  # RSV1 without an extension
    ],
)
async def test_a_frame_rfc_6455_forbids_closes_with_1002(
    app_factory: AppFactory, cert: tuple[Path, Path], frame: bytes
) -> None:
    app = await app_factory(config(cert))
    other = await bystander(app)
    ws = await RawWS.connect(app)
    await registered(ws, "breaker")
    ws.writer.write(frame)
    assert await close_code(ws) == wsframes.CLOSE_PROTOCOL_ERROR
    assert await ws.closed()
    await still_served(other)
    await other.close()


async def test_a_64_bit_length_is_refused_from_the_header_alone(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # (2**63 - 1 bytes announced: nothing is allocated or waited for)
    app = await app_factory(config(cert))
    ws = await RawWS.connect(app)
    await registered(ws, "bomber")
    ws.writer.write(bytes([0x80 | BINARY, 0x80 | 127]) + struct.pack("!Q", 2**63 - 1))
    assert await close_code(ws) == wsframes.CLOSE_TOO_BIG
    assert await ws.closed()


async def test_a_ping_flood_from_a_client_that_reads_nothing_ends_at_the_sendq(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # Each ping is answered with a pong; one that reads none of them must not make the
    # server hold pongs beyond the SendQ (they were once buffered without limit).
    sendq = 65536
    app = await app_factory(config(cert, sendq=sendq))
    other = await bystander(app)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, app.address("ws")), TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock)
        ws = await handshake(reader, writer)
        await registered(ws, "pinger")
        conn = connection_of(app, "pinger")
        ping = client_frame(PING, b"p" * 125)
        dropped = False
        for _ in range(1000):
            try:
                writer.write(ping * 100)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
            except ConnectionError:
                pass
            assert conn._buffered() <= sendq + len(ping)
            await still_served(other)
            if all(s.user.nick != "pinger" for s in app.server.sessions):
                dropped = True
                break
        assert dropped, "a client that never reads its pongs must be dropped"
        assert conn._closing
        writer.close()
    finally:
        sock.close()
    await still_served(other)
    await other.close()


# --- the HTTP upgrade -------------------------------------------------------------------------


async def test_a_header_bomb_is_refused_without_waiting_for_its_end(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    app = await app_factory(config(cert))
    other = await bystander(app)
    reader, writer = await asyncio.open_connection(*app.address("ws"))
    writer.write(b"GET /irc HTTP/1.1\r\nHost: x\r\n")
    for i in range(1000):  # (about 40 KB of headers, never ended)
        writer.write(f"X-Bomb-{i}: {'b' * 30}\r\n".encode())
    reply = await asyncio.wait_for(reader.read(), TIMEOUT)
    assert reply.startswith(b"HTTP/1.1 4"), reply[:80]
    writer.close()
    await still_served(other)
    await other.close()


async def test_a_trickled_handshake_is_cut_at_the_set_up_timeout(
    app_factory: AppFactory, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slowloris client keeps sending: the timeout counts from the connection, not from
    # the last byte.
    monkeypatch.setattr(epoll, "HANDSHAKE_TIMEOUT", 0.5)
    app = await app_factory(config(cert))
    other = await bystander(app)
    reader, writer = await asyncio.open_connection(*app.address("ws"))
    writer.write(b"GET /irc HTTP/1.1\r\n")
    closed = False
    for i in range(int(TIMEOUT / 0.05)):
        try:
            writer.write(f"X-{i}: y\r\n".encode())
            await writer.drain()
        except ConnectionError:
            closed = True
            break
        try:
            if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                closed = True
                break
        except TimeoutError:
            continue
    assert closed, "a handshake trickled for longer than the set-up timeout must be cut"
    writer.close()
    await still_served(other)
    await other.close()


# --- TLS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage", [b"\x00" * 64, b"\xff\xfe\x16\x03\x01", b"GET / HTTP/1.0\r\n\r\n"]
)
async def test_garbage_before_a_client_hello_is_closed(
    app_factory: AppFactory, cert: tuple[Path, Path], garbage: bytes
) -> None:
    app = await app_factory(config(cert))
    other = await bystander(app)
    for kind in ("ircs", "wss"):
        reader, writer = await asyncio.open_connection(*app.address(kind))
        writer.write(garbage + b"\x16\x03\x01\x00\x05hello")
        with contextlib.suppress(ConnectionResetError):  # (closed with input unread)
            await asyncio.wait_for(reader.read(), TIMEOUT)  # (whatever it says, then the end)
        writer.close()
    await still_served(other)
    assert app.hub is not None
    assert app.hub.count == 1  # (the bystander)
    await other.close()


async def test_a_tls_handshake_that_stalls_is_cut(
    app_factory: AppFactory, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half a ClientHello record: the handshake has begun and waits for the rest.
    monkeypatch.setattr(epoll, "HANDSHAKE_TIMEOUT", 0.5)
    app = await app_factory(config(cert))
    other = await bystander(app)
    stalled = []
    for kind in ("ircs", "wss"):
        reader, writer = await asyncio.open_connection(*app.address(kind))
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        stalled.append((reader, writer))
    await still_served(other)
    for reader, writer in stalled:
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
    assert app.hub is not None
    assert app.hub.count == 1
    await other.close()


async def test_a_tls_client_that_completes_no_record_keeps_nothing_from_others(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # An established TLS client that sends a record header announcing 16 KiB and then
    # nothing: the hub is not blocked waiting for it.
    app = await app_factory(config(cert))
    other = await bystander(app)
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    host, port = app.address("ircs")
    tls = await IRCTestClient.connect(host, port, tls=ctx)
    await tls.register("tlsy")
    raw = tls.writer.transport.get_extra_info("socket")
    assert raw is not None
    os.write(raw.fileno(), b"\x17\x03\x03\x40\x00" + b"\x00" * 100)  # (half a record)
    await still_served(other)
    conn = connection_of(app, "tlsy")
    assert conn.fd >= 0  # (it waits for the rest of the record, holding the connection)
    tls.writer.transport.abort()
    await other.close()


# --- plain TCP --------------------------------------------------------------------------------


LONG_LINE = 32 * 1024 * 1024
"""Bytes of the line without an end (a hundred million take long on a shared machine; the
server holds at most one line's worth of them either way)."""


async def test_a_line_of_many_megabytes_without_lf_holds_at_most_one_line(
    hubbub_app: App,
) -> None:
    app = hubbub_app
    other = await bystander(app)
    attacker = await IRCTestClient.connect(*app.address())
    await attacker.register("flooder")
    conn = connection_of(app, "flooder")
    chunk = b"PRIVMSG bystander :" + b"x" * (1 << 20)
    attacker.writer.write(chunk)
    sent = len(chunk)
    block = b"y" * (1 << 20)
    while sent < LONG_LINE:
        attacker.writer.write(block)
        await asyncio.wait_for(attacker.writer.drain(), TIMEOUT)
        sent += len(block)
        held = conn.lines.pending if conn.lines is not None else 0
        assert held <= MAX_INPUT_BYTES
    await still_served(other)
    attacker.writer.write(b"\r\n")
    refused = await attacker.expect(lambda m: m.command == "417")
    assert refused.params[0] == "flooder"
    await still_served(attacker, "after")
    await other.close()
    await attacker.close()


async def test_a_stream_of_empty_lines_ends_in_excess_flood(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # Empty lines are ignored, but each costs the loop a turn: flood control counts them, so
    # an endless stream of LFs (or of empty WebSocket messages) is closed as a flood, which
    # the bystander sharing a channel with the attacker sees as its QUIT.
    app = await app_factory(config(cert, flood=True))
    other = await bystander(app)
    await other.send("JOIN #blank")
    attacker = await IRCTestClient.connect(*app.address())
    await attacker.register("blank")
    await attacker.send("JOIN #blank")
    await attacker.expect(lambda m: m.command == "366")
    attacker.writer.write(b"\r\n\n")
    await still_served(attacker, "ignored")
    with contextlib.suppress(ConnectionError):
        for _ in range(100):
            attacker.writer.write(b"\n" * 65536)
            await asyncio.wait_for(attacker.writer.drain(), TIMEOUT)
    quit_ = await other.expect(lambda m: m.command == "QUIT")
    assert (quit_.source or "").startswith("blank!")
    assert quit_.params == ("Excess Flood",)
    ws = await RawWS.connect(app)
    await registered(ws, "wsblank")
    ws.send(BINARY, b"JOIN #blank")
    await other.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("wsblank!"))
    with contextlib.suppress(ConnectionError):
        for _ in range(1000):
            ws.send(BINARY, b"")
        await asyncio.wait_for(ws.writer.drain(), TIMEOUT)
    quit_ = await other.expect(lambda m: m.command == "QUIT")
    assert (quit_.source or "").startswith("wsblank!")
    assert quit_.params == ("Excess Flood",)
    await still_served(other)
    await other.close()


@pytest.mark.parametrize(
    "frame",
    [client_frame(CONTINUATION, b"", fin=False), client_frame(PING, b"p" * 125)],
    ids=["empty fragments", "pings"],
)
async def test_a_stream_of_frames_that_bring_no_line_ends_in_excess_flood(
    app_factory: AppFactory, cert: tuple[Path, Path], frame: bytes
) -> None:
    # Each costs the loop a turn as a line does, and completes none: flood control counts
    # them as empty lines (an attack audit held another user's echo 118 ms, and history
    # 341 ms, with two connections streaming empty fragments). A few pings in a burst are
    # fine, and answered.
    app = await app_factory(config(cert, flood=True))
    other = await bystander(app)
    await other.send("JOIN #frames")
    ws = await RawWS.connect(app)
    await registered(ws, "framer")
    ws.send(BINARY, b"JOIN #frames")
    await other.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("framer!"))
    ws.send(PING, b"hello")
    assert await ws.until(0xA) == b"hello"
    ws.send(BINARY, b"", fin=False)
    with contextlib.suppress(ConnectionError):
        for _ in range(100):
            ws.writer.write(frame * 1000)
            await asyncio.wait_for(ws.writer.drain(), TIMEOUT)
    quit_ = await other.expect(lambda m: m.command == "QUIT")
    assert (quit_.source or "").startswith("framer!")
    assert quit_.params == ("Excess Flood",)
    await still_served(other)
    await other.close()


async def test_connections_being_set_up_are_limited_per_address(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # Before the core sees a connection (and counts it against max_clients_per_ip), a
    # stalled handshake still holds memory: one address may hold as many as it may clients.
    app = await app_factory(config(cert, max_clients_per_ip=3))
    other = await bystander(app)
    assert app.hub is not None
    stalled = []
    for kind in ("ircs", "wss", "ws"):
        reader, writer = await asyncio.open_connection(*app.address(kind))
        writer.write(b"\x16\x03\x01\x02\x00\x01" if kind != "ws" else b"GET / HTTP/1.1\r\n")
        stalled.append((reader, writer))
    await still_served(other)
    assert app.hub.setting_up["127.0.0.1"] == 3
    for kind in ("ircs", "ws"):
        reader, writer = await asyncio.open_connection(*app.address(kind))
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
    assert app.hub.setting_up["127.0.0.1"] == 3  # (the three still wait)
    for _, writer in stalled:
        writer.close()
    for reader, _ in stalled:
        with contextlib.suppress(ConnectionResetError):
            await asyncio.wait_for(reader.read(), TIMEOUT)
    await still_served(other)
    ws = await RawWS.connect(app)  # (room again: the three are gone)
    await registered(ws, "webby")
    assert not app.hub.setting_up
    await other.close()


async def test_frames_sent_right_behind_the_upgrade_request_are_read(
    app_factory: AppFactory, cert: tuple[Path, Path]
) -> None:
    # (they arrive in the read that completes the request; they were once dropped with it)
    app = await app_factory(config(cert))
    reader, writer = await asyncio.open_connection(*app.address("ws"))
    writer.write(
        b"GET /irc HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary.ircv3.net\r\n\r\n"
        + client_frame(BINARY, b"PING :pipelined")
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101")
    ws = RawWS(reader, writer)
    assert b"pipelined" in await ws.until(BINARY, b"PONG")
    writer.close()
