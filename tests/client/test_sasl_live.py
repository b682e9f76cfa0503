"""SASL end to end through the asyncio client: against hubbub (which has accounts), and
against a scripted server on a Unix socket that checks the exchange line by line.
(ngircd has no SASL.)
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.client import Other, RegistrationFailed, SaslConfig, SaslFailed, SaslSucceeded
from hubbub.net.app import App
from tests.client.fakeserver import FakeServer
from tests.client.helpers import expect, make_client


@pytest.fixture
async def fake_server() -> AsyncIterator[tuple[FakeServer, str]]:
    """A scripted server with the account ann/secret, on a short Unix socket path."""
    fake = FakeServer({"ann": "secret"})
    with tempfile.TemporaryDirectory(prefix="hb") as directory:
        path = str(Path(directory) / "irc.sock")
        server = await asyncio.start_unix_server(fake.handle, path)
        async with server:
            yield fake, f"unix:{path}"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", None])
async def test_sasl_logs_in(fake_server: tuple[FakeServer, str], mechanism: str | None) -> None:
    fake, address = fake_server
    sasl = SaslConfig("ann", "secret", mechanism)
    async with make_client(address, "ann", sasl=sasl) as client:
        ok = await expect(client, SaslSucceeded)
        assert ok.account == "ann"
        assert client.state.account == "ann"
    expected = mechanism or "SCRAM-SHA-256"
    assert f"AUTHENTICATE {expected}" in fake.received
    if expected == "SCRAM-SHA-256":
        assert not any("secret" in line for line in fake.received)


async def test_sasl_wrong_password_still_connects(fake_server: tuple[FakeServer, str]) -> None:
    fake, address = fake_server
    sasl = SaslConfig("ann", "wrong")
    async with make_client(address, "ann", sasl=sasl) as client:
        failed = await expect(client, SaslFailed)
        assert "failed" in failed.reason
        assert client.registered
        assert client.state.account is None
    # SCRAM failed, then PLAIN was tried before giving up.
    assert "AUTHENTICATE PLAIN" in fake.received


async def test_sasl_required_failure_fails_registration(
    fake_server: tuple[FakeServer, str],
) -> None:
    _, address = fake_server
    client = make_client(address, "ann", sasl=SaslConfig("ann", "wrong", required=True))
    with pytest.raises(RegistrationFailed, match="SASL"):
        await client.connect()


PASSWORD = "correct-horse-battery"


@pytest.fixture
async def hubbub_account(hubbub_server: App) -> str:
    """A hubbub server with the account ``ann`` (registered with REGISTER); its address."""
    host, port = hubbub_server.address("irc")
    address = f"{host}:{port}"
    async with make_client(address, "ann") as client:
        await client.send_raw(f"REGISTER * * :{PASSWORD}")
        done = await expect(
            client, Other, lambda e: e.message is not None and e.message.command == "REGISTER"
        )
        assert done.message is not None
        assert done.message.params[0] == "SUCCESS"
    return address


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", None])
async def test_hubbub_sasl_logs_in(hubbub_account: str, mechanism: str | None) -> None:
    sasl = SaslConfig("ann", PASSWORD, mechanism)
    async with make_client(hubbub_account, "annie", sasl=sasl) as client:
        ok = await expect(client, SaslSucceeded)
        assert ok.account == "ann"
        assert client.state.account == "ann"


async def test_hubbub_sasl_wrong_password(hubbub_account: str) -> None:
    async with make_client(hubbub_account, "annie", sasl=SaslConfig("ann", "wrong")) as client:
        failed = await expect(client, SaslFailed)
        assert failed.reason
        assert client.registered
        assert client.state.account is None
    required = make_client(hubbub_account, "annie", sasl=SaslConfig("ann", "no", required=True))
    with pytest.raises(RegistrationFailed, match="SASL"):
        await required.connect()
