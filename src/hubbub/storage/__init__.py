"""Persistent storage: the interface and its SQLite implementation (the embedded default)."""

from __future__ import annotations

from hubbub.storage.base import AccountRecord, ScramCredentials, Storage, StorageError
from hubbub.storage.sqlite import SqliteStorage

__all__ = ["AccountRecord", "ScramCredentials", "SqliteStorage", "Storage", "StorageError"]
