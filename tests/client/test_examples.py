"""The example bots in examples/ work against a real server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hubbub.client import ChatMessage, Join
from tests.client.conftest import LiveServer
from tests.client.helpers import expect, make_client

EXAMPLES = Path(__file__).parents[2] / "examples"


@asynccontextmanager
async def bot(name: str, address: str) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), address, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.kill()
        await proc.wait()


async def test_echo_bot(live_server: LiveServer) -> None:
    async with (
        bot("echo_bot.py", live_server.address),
        make_client(live_server.address, "ann", channels=["#echo"]) as ann,
    ):
        await expect(ann, Join, lambda e: e.nick == "echobot")
        await ann.send_message("#echo", "is anybody out there?")
        echo = await expect(ann, ChatMessage, lambda e: e.source == "echobot")
        assert (echo.text, echo.conversation) == ("is anybody out there?", "#echo")
        await ann.send_message("echobot", "just you and me")
        private = await expect(ann, ChatMessage, lambda e: e.source == "echobot")
        assert (private.text, private.conversation) == ("just you and me", "echobot")


async def test_greeter_bot(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "ann", channels=["#lobby"]) as ann:
        await expect(ann, Join)
        async with bot("greeter_bot.py", live_server.address):
            await expect(ann, Join, lambda e: e.nick == "greeter")
            async with make_client(live_server.address, "bob", channels=["#lobby"]) as bob:
                hello = await expect(bob, ChatMessage, lambda e: e.source == "greeter")
                assert hello.text == "Welcome, bob! 3 here."
