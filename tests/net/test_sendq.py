"""The SendQ over real sockets: clients that ask for big replies and never read them are
disconnected, and what the server holds for each never outgrows the SendQ plus one reply."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

import pytest

from hubbub.config import Config
from hubbub.net import app as app_module
from hubbub.net.app import App
from hubbub.net.tcp import BufferedSink
from hubbub.server.session import Session
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT

SENDQ = 131072
BANS = 300
SLOW_CLIENTS = 3
ASKS = 100
"""``MODE #c b`` lines each slow client sends at once: some 4 MB of replies asked for."""


@pytest.fixture(params=["epoll", "asyncio"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Plain TCP clients on the epoll hub (where there is one) or on asyncio transports."""
    if request.param == "asyncio":
        monkeypatch.setattr(app_module, "make_hub", lambda loop, server: None)
    return str(request.param)


async def raw_client(app: App, nick: str) -> socket.socket:
    """A registered client in #c with a tiny receive window, which reads nothing."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, app.address()), TIMEOUT)
        await loop.sock_sendall(sock, f"NICK {nick}\r\nUSER u 0 * :slow\r\nJOIN #c\r\n".encode())
    except BaseException:
        sock.close()
        raise
    return sock


async def read_to_end(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = bytearray()
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), TIMEOUT)
        if not chunk:
            return bytes(received)
        received += chunk


async def test_clients_that_ask_for_big_replies_and_never_read_are_cut(
    transport: str,
    app_factory: Callable[[Config], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app: App = await app_factory(make_config(sendq=SENDQ, max_list_entries=BANS))
    alice = await IRCTestClient.connect(*app.address())
    await alice.register("alice")
    await alice.send("JOIN #c")
    await alice.expect("366")
    for i in range(0, BANS, 6):
        masks = " ".join(f"ban{j:04d}{'x' * 40}!*@*" for j in range(i, i + 6))
        await alice.send(f"MODE #c +bbbbbb {masks}")
    await alice.send("MODE #c b")
    listing = await alice.collect_until("368")
    reply = sum(len(m.serialize().encode()) + 2 for m in listing if m.command in ("367", "368"))
    assert sum(1 for m in listing if m.command == "367") == BANS

    # What the server holds for each slow client, before and after every flush.
    server = app.server
    peak: dict[str, int] = {}
    real_flush = server.flush

    def measure() -> None:
        for session in list(server.sessions):
            if session.user.nick.startswith("slow"):
                held = cast(BufferedSink, session.sink)._buffered()
                total = sum(map(len, session.outbuf)) + held
                peak[session.user.nick] = max(peak.get(session.user.nick, 0), total)

    def flush() -> None:
        measure()
        real_flush()
        measure()

    monkeypatch.setattr(server, "flush", flush)

    slow = [await raw_client(app, f"slow{i}") for i in range(SLOW_CLIENTS)]
    try:
        for _ in slow:
            await alice.expect("JOIN")
        loop = asyncio.get_running_loop()
        for sock in slow:
            await loop.sock_sendall(sock, b"MODE #c b\r\n" * ASKS)
        quits = [await alice.expect("QUIT") for _ in slow]
        assert sorted(str(m.source).split("!")[0] for m in quits) == [
            f"slow{i}" for i in range(SLOW_CLIENTS)
        ]
        assert all(m.params == ("SendQ exceeded",) for m in quits)
        for sock in slow:
            received = await read_to_end(sock)
            assert received.endswith(b"(SendQ exceeded)\r\n")
            assert len(received) <= SENDQ + reply + 200
        assert set(peak) == {f"slow{i}" for i in range(SLOW_CLIENTS)}
        assert max(peak.values()) <= SENDQ + reply, (peak, reply)
        sessions: list[Session] = list(server.sessions)
        assert [s.user.nick for s in sessions] == ["alice"]
        await alice.send("PING :still here")
        await alice.expect("PONG")
    finally:
        for sock in slow:
            sock.close()
        await alice.close()
