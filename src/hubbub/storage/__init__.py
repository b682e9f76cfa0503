"""Persistent storage: the interface, its SQLite implementation (the embedded default) and,
with the ``postgres`` extra installed, its PostgreSQL one (:mod:`hubbub.storage.postgres`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.storage.base import AccountRecord, ScramCredentials, Storage, StorageError
from hubbub.storage.sqlite import SqliteStorage

if TYPE_CHECKING:
    from hubbub.storage.postgres import PostgresStorage

__all__ = [
    "AccountRecord",
    "ScramCredentials",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "postgres_storage",
]


def postgres_storage(url: str, pool_size: int = 4, timeout: float = 10.0) -> PostgresStorage:
    """A (not yet open) storage in the PostgreSQL database at ``url`` (see
    :class:`~hubbub.storage.postgres.PostgresStorage` for the other arguments). Raises
    :class:`StorageError` when psycopg is not installed (the ``postgres`` extra)."""
    try:
        from hubbub.storage.postgres import PostgresStorage
    except ImportError as exc:
        raise StorageError(
            f"storage.url needs psycopg 3 and psycopg-pool: pip install 'hubbub[postgres]' ({exc})"
        ) from exc
    return PostgresStorage(url, pool_size=pool_size, timeout=timeout)
