"""Shared helpers for tests that drive real clients."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from typing import TypeVar

from hubbub.client import Client, Event, SaslConfig
from tests.timeouts import TIMEOUT

E = TypeVar("E", bound=Event)


async def expect(client: Client, kind: type[E], predicate: Callable[[E], bool] | None = None) -> E:
    """The next event of ``kind`` (matching ``predicate``) from ``client``, within TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        return await client.wait_for(kind, predicate)


def make_client(
    address: str,
    nick: str,
    *,
    channels: Iterable[str] = (),
    reconnect: bool = False,
    tls: bool = False,
    verify_tls: bool = True,
    ssl_context: ssl.SSLContext | None = None,
    password: str | None = None,
    sasl: SaslConfig | None = None,
    connect_timeout: float = TIMEOUT,
) -> Client:
    """A client with test-friendly timings (no flood delay, quick reconnects)."""
    return Client(
        address,
        nick=nick,
        channels=channels,
        reconnect=reconnect,
        tls=tls,
        verify_tls=verify_tls,
        ssl_context=ssl_context,
        password=password,
        sasl=sasl,
        connect_timeout=connect_timeout,
        flood_interval=0,
        reconnect_delay=0.05,
    )
