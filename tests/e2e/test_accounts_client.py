"""hubbub's own client library logs in to hubbub's accounts with SASL (issue: the client's
SASL PLAIN and SCRAM-SHA-256 checked against a server with accounts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.client import SaslConfig, SaslFailed, SaslSucceeded
from hubbub.config import Config, StorageSection
from hubbub.net.app import App
from tests.client.helpers import expect, make_client
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient

PASSWORD = "correct-horse"


@pytest.fixture
async def app(app_factory: Callable[[Config], Any], tmp_path: Path) -> App:
    config = dataclasses.replace(make_config(), storage=StorageSection(path=str(tmp_path / "h.db")))
    started: App = await app_factory(config)
    host, port = started.address()
    client = await IRCTestClient.connect(host, port)
    await client.register("ann")
    await client.send(f"REGISTER * * {PASSWORD}")
    await client.expect("REGISTER")
    await client.close()
    return started


def address(app: App) -> str:
    host, port = app.address()
    return f"{host}:{port}"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", None])
async def test_client_logs_in(app: App, mechanism: str | None) -> None:
    sasl = SaslConfig("ann", PASSWORD, mechanism)
    async with make_client(address(app), "ann", sasl=sasl) as client:
        ok = await expect(client, SaslSucceeded)
        assert ok.account == "ann"
        assert client.state.account == "ann"


async def test_client_wrong_password(app: App) -> None:
    async with make_client(address(app), "ann", sasl=SaslConfig("ann", "wrong-password")) as client:
        failed = await expect(client, SaslFailed)
        assert "fail" in failed.reason.lower()
        assert client.state.account is None
