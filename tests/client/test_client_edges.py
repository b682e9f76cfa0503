"""The asyncio client against misbehaving peers: silent, rude, garbled; and reuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from hubbub.client import Client, NotConnected, Registered, RegistrationFailed
from tests.client.fakeserver import FakeServer
from tests.client.helpers import expect
from tests.timeouts import TIMEOUT

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"127.0.0.1:{port}"


async def test_a_silent_server_fails_registration_in_time() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    async with serve(silent) as address:
        client = Client(address, nick="ann", register_timeout=0.3)
        with pytest.raises(RegistrationFailed, match="did not welcome us"):
            await client.connect()
        assert not client.connected


async def test_a_server_that_hangs_up_fails_registration() -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"ERROR :Go away\r\n")
        writer.close()

    async with serve(rude) as address:
        with pytest.raises(RegistrationFailed, match="Go away"):
            await Client(address, nick="ann").connect()


async def test_garbage_and_overlong_lines_are_skipped() -> None:
    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"\r\n:only-a-source\r\n" + b"x" * 20000 + b"\r\n\xff\xfe :bad bytes\r\n")
        writer.write(b":srv 001 ann :Welcome\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    async with serve(garbled) as address:
        client = Client(address, nick="ann")
        await client.connect()
        assert client.registered
        await client.close()


async def test_a_client_can_connect_again_after_quitting() -> None:
    fake = FakeServer({})
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        client = Client(address, nick="ann", flood_interval=0)
        for _ in range(2):
            await client.connect()
            await expect(client, Registered)
            await client.quit("bye")
            assert not client.connected
            async with asyncio.timeout(TIMEOUT):
                assert [type(e).__name__ async for e in client][-1] == "Disconnected"
        with pytest.raises(NotConnected):
            await client.send_message("#x", "nobody hears this")


async def test_flood_control_spaces_out_messages() -> None:
    received: list[float] = []

    async def recorder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b":srv 001 ann :Welcome\r\n")
        while line := await reader.readline():
            if line.startswith(b"PRIVMSG"):
                received.append(asyncio.get_running_loop().time())
            elif line.startswith(b"QUIT"):
                break
        writer.close()

    async with serve(recorder) as address:
        client = Client(address, nick="ann", flood_burst=2, flood_interval=0.1)
        await client.connect()
        for i in range(5):
            await client.send_message("#x", f"line {i}")
        await client.quit()
    assert len(received) == 5
    # Two go at once, the other three wait about 0.1 s each.
    assert received[-1] - received[0] >= 0.25


async def test_a_multiline_batch_goes_whole_and_what_follows_waits_for_its_lines() -> None:
    received: list[tuple[float, str]] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while line := await reader.readline():
            text = line.decode().rstrip("\r\n")
            received.append((loop.time(), text))
            if text.startswith("CAP LS"):
                writer.write(b":srv CAP * LS :batch draft/multiline=max-lines=100\r\n")
            elif text.startswith("CAP REQ"):
                writer.write(f":srv CAP * ACK :{text.split(' ', 2)[2].lstrip(':')}\r\n".encode())
            elif text == "CAP END":
                writer.write(b":srv 001 ann :Welcome\r\n")
            elif text.startswith("QUIT"):
                break
        writer.close()

    async with serve(server) as address:
        client = Client(address, nick="ann", flood_burst=2, flood_interval=0.1)
        await client.connect()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.send_message("#x", "\n".join(f"line {i}" for i in range(20)))
        returned = loop.time() - started
        await client.send_message("#x", "after the paste")
        await client.quit()
    batch = [(t, text) for t, text in received if "BATCH" in text or "batch=" in text]
    assert len(batch) == 22  # BATCH +ref, 20 lines, BATCH -ref
    # Line by line, the 22 lines would have taken 2 s; they went at once.
    assert returned < 1.0
    assert batch[-1][0] - batch[0][0] < 1.0
    # The next line waits off the batch's lines: 2 tokens less 22 is 20 in debt.
    (after,) = [t for t, text in received if text.endswith("after the paste")]
    assert after - batch[-1][0] >= 1.9
