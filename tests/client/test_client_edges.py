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
