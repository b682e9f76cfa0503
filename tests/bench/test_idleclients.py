"""The idle-connections generator over TLS and WebSocket, against a hubbub in this process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hubbub.bench.loadgen import LoadSpec, describe, run_load
from hubbub.config import ListenSection
from hubbub.net import certs
from hubbub.net.app import App
from tests.conftest import make_config


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
async def test_idle_clients_register_over(transport: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["127.0.0.1"])
    tls = transport in ("tls", "wss")
    listen = ListenSection(
        address="127.0.0.1:0",
        tls=tls,
        cert=str(cert) if tls else None,
        key=str(key) if tls else None,
        websocket=transport.startswith("ws"),
    )
    app = App(make_config((listen,), max_clients_per_ip=100))
    await app.start()
    try:
        port = app.bound[0].port
        assert port is not None
        spec = LoadSpec(
            scenario="connections",
            port=port,
            clients=20,
            seconds=0.1,
            transport=transport,
            procs=2,
            sources=("127.0.0.2", "127.0.0.3"),
            pid=os.getpid(),
            setup_timeout=30.0,
        )
        seen: set[tuple[str, str]] = set()
        load = asyncio.create_task(asyncio.to_thread(run_load, spec))
        while not load.done():  # (the clients are gone once the run is over)
            seen.update((s.peer.transport, s.peer.ip) for s in app.server.sessions)
            await asyncio.sleep(0.01)
        result = await load
        assert app.server.network.max_users == 20
        assert seen == {(transport, "127.0.0.2"), (transport, "127.0.0.3")}
    finally:
        await app.stop("test over")
    assert result.errors == 0
    assert result.procs == 2
    assert f"20 {transport} connections registered" in describe(result)
