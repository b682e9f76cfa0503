"""Shared fixtures: a real hubbub server on loopback ports, started in the test's loop."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from hubbub.config import Config, LimitsSection, ListenSection, StorageSection, default_config
from hubbub.net.app import App
from tests.cloaks import CLOAKS
from tests.storage.pg import PostgresServer, running


def make_config(listen: tuple[ListenSection, ...] | None = None, **limits: Any) -> Config:
    """A test config: one IRC listener on an ephemeral loopback port, flood control off,
    the tests' cloak secret."""
    limits.setdefault("flood", False)
    base = default_config()
    return dataclasses.replace(
        base,
        listen=listen or (ListenSection(address="127.0.0.1:0"),),
        limits=dataclasses.replace(LimitsSection(), **limits),
        storage=StorageSection(path=":memory:"),
        cloaks=CLOAKS,
    )


@pytest.fixture
async def hubbub_app() -> AsyncIterator[App]:
    """A running server with the default settings (flood control off)."""
    app = App(make_config())
    await app.start()
    try:
        yield app
    finally:
        await app.stop("test over")


@pytest.fixture
async def app_factory() -> AsyncIterator[Callable[[Config], Any]]:
    """Start servers with a given config; all are stopped after the test."""
    apps: list[App] = []

    async def start(config: Config) -> App:
        app = App(config)
        await app.start()
        apps.append(app)
        return app

    try:
        yield start
    finally:
        for app in apps:
            await app.stop("test over")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (started on first use, stopped at the
    end even when tests fail). Where PostgreSQL is not installed the tests that need it
    fail, saying how to get it: they are never skipped (``make test`` installs it:
    scripts/ensure-system-packages)."""
    with running() as server:
        if server is None:
            pytest.fail(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                "run scripts/ensure-system-packages as root, or apt-get install postgresql"
            )
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database of its own for the test."""
    return postgres_server.new_database()
