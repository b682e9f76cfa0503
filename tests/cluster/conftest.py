"""Fixtures of the cluster tests: a real redis-server (Debian package ``redis-server``,
installed by ``make test`` through scripts/ensure-system-packages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.redisserver import REDIS_SERVER, RedisServer, running_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session, on a free loopback port."""
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is missing: run scripts/ensure-system-packages as root")
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The session's redis-server, running and empty for this test."""
    if redis_server.proc is None:
        redis_server.start()
    redis_server.flush()
    return redis_server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (one the test may restart)."""
    with running_redis(tmp_path / "redis") as server:
        yield server
