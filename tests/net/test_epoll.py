"""The epoll transport for plain TCP clients, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from hubbub.config import Config
from hubbub.net import epoll
from hubbub.net.app import App
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT


async def client(app: App, nick: str) -> IRCTestClient:
    c = await IRCTestClient.connect(*app.address())
    await c.register(nick)
    return c


def connection_of(app: App, nick: str) -> epoll.Connection:
    assert app.hub is not None
    for conn in app.hub._conns:
        if conn is not None and conn.session is not None and conn.session.user.nick == nick:
            return conn
    raise LookupError(nick)


async def fill_until_buffered(talker: IRCTestClient, to: str, conn: epoll.Connection) -> int:
    """``talker`` sends ``to`` batches of long lines until the kernel stops taking them for
    ``conn`` (the hub then buffers the rest: ``conn.wbuf``); how many lines were sent."""
    text = "z" * 400
    count = 0
    for batch in range(100):
        await talker.send(*[f"PRIVMSG {to} :{batch}:{i}:{text}" for i in range(100)])
        count += 100
        await talker.send("PING :sync")
        await talker.expect(lambda m: m.command == "PONG")
        if conn.wbuf:
            break
    assert conn.wbuf, "the kernel took everything; the buffered path was not reached"
    return count


async def slow_client(app: App, nick: str) -> tuple[socket.socket, epoll.Connection]:
    """A registered client with a tiny receive window, which the test never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, app.address()), TIMEOUT)
        await loop.sock_sendall(sock, f"NICK {nick}\r\nUSER u 0 * :slow\r\n".encode())
        for _ in range(100):
            await asyncio.sleep(0.02)
            try:
                conn = connection_of(app, nick)
            except LookupError:
                continue
            if conn.session is not None and conn.session.registered:
                return sock, conn
    except BaseException:
        sock.close()
        raise
    sock.close()
    raise AssertionError(f"{nick} did not register")


async def test_plain_tcp_clients_are_on_the_hub(hubbub_app: App) -> None:
    alice = await client(hubbub_app, "alice")
    conn = connection_of(hubbub_app, "alice")
    assert conn.lines is None  # an idle client holds no line buffer of its own
    assert hubbub_app.hub is not None
    assert hubbub_app.hub.count == 1
    await alice.close()


async def test_lines_split_across_reads_interleaved_with_other_clients(hubbub_app: App) -> None:
    alice = await client(hubbub_app, "alice")
    bob = await client(hubbub_app, "bob")
    carol = await client(hubbub_app, "carol")
    await alice.send_raw(b"PRIVMSG bob :he")
    await asyncio.sleep(0.05)
    assert connection_of(hubbub_app, "alice").lines is not None  # the partial line is kept
    await carol.send("PRIVMSG bob :from carol")  # another client, through the shared buffer
    await asyncio.sleep(0.05)
    await alice.send_raw(b"llo\r\nPRIVMSG bob :and more\r\nPRIVMSG bob :x")
    await asyncio.sleep(0.05)
    await alice.send_raw(b"yz\r\n")
    got = [await bob.read_message() for _ in range(4)]
    assert [(m.source.split("!")[0] if m.source else "", m.params[-1]) for m in got] == [
        ("carol", "from carol"),
        ("alice", "hello"),
        ("alice", "and more"),
        ("alice", "xyz"),
    ]
    assert connection_of(hubbub_app, "alice").lines is None  # given back once complete
    for c in (alice, bob, carol):
        await c.close()


async def test_a_burst_to_one_target_arrives_whole_and_in_order(hubbub_app: App) -> None:
    alice = await client(hubbub_app, "alice")
    bob = await client(hubbub_app, "bob")
    await bob.send("JOIN #room")
    await bob.expect(lambda m: m.command == "366")
    await alice.send("JOIN #room")
    await alice.expect(lambda m: m.command == "366")
    await bob.expect(lambda m: m.command == "JOIN")
    await alice.send(*[f"PRIVMSG #room :line {i}" for i in range(500)])
    got = [await bob.read_message() for _ in range(500)]
    assert [m.params for m in got] == [("#room", f"line {i}") for i in range(500)]
    await alice.assert_nothing_pending()  # no echo-message: nothing came back
    await alice.close()
    await bob.close()


async def test_output_a_slow_reader_cannot_take_waits_and_arrives_in_order(
    app_factory: Callable[[Config], Any],
) -> None:
    app = await app_factory(make_config(sendq=64 << 20))
    alice = await client(app, "alice")
    loop = asyncio.get_running_loop()
    slow, conn = await slow_client(app, "slow")
    try:
        count = await fill_until_buffered(alice, "slow", conn)
        await loop.sock_sendall(slow, b"QUIT :bye\r\n")
        received = bytearray()
        while not received.endswith(b"\r\n") or b"ERROR " not in received[-200:]:
            chunk = await asyncio.wait_for(loop.sock_recv(slow, 1 << 16), TIMEOUT)
            if not chunk:
                break
            received += chunk
        lines = bytes(received).split(b"\r\n")
        relayed = [line for line in lines if b" PRIVMSG slow :" in line]
        assert len(relayed) == count
        expected = [f"{b}:{i}:".encode() for b in range(count // 100) for i in range(100)]
        assert [
            line.split(b" :", 1)[1][: len(e)] for line, e in zip(relayed, expected, strict=True)
        ] == expected
        assert any(line.startswith(b"ERROR ") for line in lines[-3:])  # sent before the close
    finally:
        slow.close()
        await alice.close()


async def test_a_reset_connection_quits_with_a_reason(hubbub_app: App) -> None:
    alice = await client(hubbub_app, "alice")
    bob = await client(hubbub_app, "bob")
    for c in (alice, bob):
        await c.send("JOIN #room")
    await alice.expect(lambda m: m.command == "JOIN" and m.source is not None and "bob" in m.source)
    sock = bob.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.writer.transport.abort()  # an RST, not a FIN
    quit_msg = await alice.expect(lambda m: m.command == "QUIT")
    assert quit_msg.source is not None
    assert quit_msg.source.startswith("bob!")
    assert hubbub_app.hub is not None
    for _ in range(50):
        if hubbub_app.hub.count == 1:
            break
        await asyncio.sleep(0.02)
    assert hubbub_app.hub.count == 1
    await alice.close()


async def test_stop_closes_a_client_that_never_reads(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config())
    loop = asyncio.get_running_loop()
    slow, conn = await slow_client(app, "slow")
    try:
        conn.write(b"x" * (32 << 20))  # more than the kernel takes from a client that never reads
        assert conn.wbuf
        started = loop.time()
        await app.stop("test")
        assert loop.time() - started < 5 * TIMEOUT
        assert conn.fd == -1  # dropped when the drain time was up
        assert app.hub is None
    finally:
        slow.close()
