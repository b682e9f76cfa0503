"""The cloak secret at start-up: the config's, or one made on first start and kept in the
database so that cloaks (and the bans on them) survive a restart."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from hubbub.config import CloaksSection, Config, StorageSection
from hubbub.net.app import CLOAK_SECRET_KEY, App
from hubbub.storage.sqlite import SqliteStorage
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient

ADDRESS = "203.0.113.7"


def config(storage: StorageSection, cloaks: CloaksSection | None = None) -> Config:
    return dataclasses.replace(make_config(), storage=storage, cloaks=cloaks or CloaksSection())


async def cloak_after_start(config: Config) -> tuple[str, str]:
    """Start a server with ``config``: (the cloak it gives ADDRESS, a loopback client's host)."""
    app = App(config)
    await app.start()
    try:
        assert app.server.cloaker is not None
        cloak = app.server.cloaker.cloak(ADDRESS)
        assert cloak is not None
        client = await IRCTestClient.connect(*app.address())
        await client.register("alice")
        await client.send("WHOIS alice")
        whois = await client.expect("311")
        await client.close()
        return cloak, whois.params[3]
    finally:
        await app.stop("test over")


async def test_the_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    db = StorageSection(path=str(tmp_path / "h.db"))
    first = await cloak_after_start(config(db))
    second = await cloak_after_start(config(db))
    assert first == second
    assert first[1].endswith(".IP")
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    secret = storage.get_setting(CLOAK_SECRET_KEY)
    storage.close()
    assert secret is not None
    assert len(secret) == 64
    elsewhere = await cloak_after_start(config(StorageSection(path=str(tmp_path / "o.db"))))
    assert elsewhere[0] != first[0]


async def test_the_config_secret_wins(tmp_path: Path) -> None:
    db = StorageSection(path=str(tmp_path / "h.db"))
    stored, _ = await cloak_after_start(config(db))
    cloaks = CloaksSection(secret="a secret from the config file")
    named, _ = await cloak_after_start(config(db, cloaks))
    again, _ = await cloak_after_start(config(db, cloaks))
    assert named == again != stored


async def test_an_in_memory_database_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hubbub"):
        await cloak_after_start(config(StorageSection(path=":memory:")))
    assert any("cloaks change at each restart" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hubbub"):
        await cloak_after_start(
            config(StorageSection(path=":memory:"), CloaksSection(secret="0123456789abcdef"))
        )
    assert not any("cloak" in r.getMessage() for r in caplog.records)
