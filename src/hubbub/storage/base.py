"""The storage interface: what the server keeps across restarts, whatever the database.

Every method blocks (disk, network) and is called from a worker thread, never from the event
loop; an implementation must be safe to call from any one thread at a time. For now it keeps
user accounts and the settings the server generates for itself; registered channels and
message history will join them here.

A database that fails at run time (a full disk, a damaged or vanished file) makes the method
raise :class:`StorageError` and nothing worse: the caller refuses what needed the database
and the server goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hubbub.protocol.casemap import Folded

__all__ = ["AccountRecord", "ScramCredentials", "Storage", "StorageError"]


class StorageError(OSError):
    """The database cannot be opened or used (a missing directory, a newer schema, a full
    disk). An ``OSError``, so a server that cannot open its database fails to start with one
    clear line."""


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """A SCRAM-SHA-256 verifier (RFC 5802 section 3): enough to check a client's proof and
    prove ourselves to it, not enough to log in as the user."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One user account as stored."""

    name: str
    """The account name as registered: what others see in ``ACCOUNT`` and the account tag."""
    folded: Folded
    """``name`` case-folded: the key of the account."""
    password_hash: str
    """An argon2id hash, checked for SASL PLAIN and NickServ IDENTIFY."""
    scram: ScramCredentials
    """The verifier for SASL SCRAM-SHA-256, made from the same password."""
    created: float
    """When it was registered (Unix time)."""
    email: str = ""
    """The address given at registration, or empty."""


class Storage(Protocol):
    """A database of accounts (and later channel registrations and message history)."""

    def open(self) -> None:
        """Connect, creating or migrating the schema as needed. Raises :class:`StorageError`."""

    def close(self) -> None:
        """Release the database; a closed storage may not be used again. Idempotent."""

    def create_account(self, account: AccountRecord) -> bool:
        """Store a new account durably; False (and nothing stored) if its name is taken.

        Returns only once the write is committed: an acknowledged account survives a crash.
        """

    def get_account(self, folded: Folded) -> AccountRecord | None:
        """The account whose folded name is ``folded``, if there is one."""

    def list_accounts(self) -> list[AccountRecord]:
        """Every account, for the server's in-memory cache at start-up."""

    def set_password(self, folded: Folded, password_hash: str, scram: ScramCredentials) -> bool:
        """Replace an account's credentials durably; False if there is no such account."""

    def delete_account(self, folded: Folded) -> bool:
        """Remove an account durably; False if there was no such account."""

    def get_setting(self, key: str) -> str | None:
        """The server setting stored under ``key`` (see :meth:`ensure_setting`), if any."""

    def ensure_setting(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` durably unless a value is stored there already;
        return the stored one. The server keeps what it generates on first start this way
        (the cloak secret), so that it stays the same across restarts."""
