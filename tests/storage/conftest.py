"""The storage backends the storage tests run against: SQLite (a file) and PostgreSQL (a
database of its own on the session's test server, tests/storage/pg.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubbub.storage.postgres import PostgresStorage
from hubbub.storage.sqlite import SqliteStorage

AnyStorage = SqliteStorage | PostgresStorage

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def same_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], AnyStorage]:
    """Makes a new (unopened) storage on one database of the test, each time the same: in
    a SQLite file, or in a PostgreSQL database of its own."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return lambda: PostgresStorage(url)
    return lambda: SqliteStorage(tmp_path / "h.db")
