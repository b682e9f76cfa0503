"""Fixtures: real servers on loopback: hubbub, and Debian's ngircd as an independent second."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubbub.config import StorageSection
from hubbub.net.app import App
from tests.client.ngircd import Ngircd, have_ngircd, make_certificate, start_ngircd
from tests.conftest import make_config


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (`make test` installs it)")
    return make_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def ngircd(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[Ngircd]:
    """A fresh ngircd with a plain listener and a TLS listener on 127.0.0.1."""
    if not have_ngircd():
        pytest.fail("ngircd is not installed (`make test` installs it)")
    server = start_ngircd(tmp_path / "ngircd", certificate)
    yield server
    server.stop()


@dataclass
class LiveServer:
    """A real IRC server on loopback that the library tests run against."""

    name: str
    address: str
    tls_address: str | None = None


LIVE_SERVERS = ["hubbub", "ngircd"]
"""Every server the library is tested against: our own, and an independent one."""


@pytest.fixture
async def hubbub_server(tmp_path: Path) -> AsyncIterator[App]:
    """A hubbub server in the test's event loop, with accounts in a fresh SQLite file."""
    config = dataclasses.replace(
        make_config(), storage=StorageSection(path=str(tmp_path / "hubbub.db"))
    )
    app = App(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop("test over")


@pytest.fixture(params=LIVE_SERVERS)
def live_server(request: pytest.FixtureRequest) -> LiveServer:
    """Each real server in turn."""
    if request.param == "ngircd":
        server: Ngircd = request.getfixturevalue("ngircd")
        return LiveServer("ngircd", server.address, server.tls_address)
    if request.param == "hubbub":
        app: App = request.getfixturevalue("hubbub_server")
        host, port = app.address("irc")
        return LiveServer("hubbub", f"{host}:{port}")
    raise AssertionError(request.param)
