"""A sans-I/O server with accounts (SQLite in memory), and accounts made cheaply."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from hubbub.passwords import hash_password
from hubbub.server.accounts import AccountService, attach, service_of
from hubbub.server.core import Server
from hubbub.server.sasl import make_scram_credentials
from hubbub.storage import AccountRecord, ScramCredentials, SqliteStorage
from tests.server.harness import FakeClock, host_of, make_server

T = TypeVar("T")


def server_with_accounts(clock: FakeClock | None = None, **limits: Any) -> Server:
    """A harness server whose accounts live in an in-memory SQLite database."""
    server = make_server(clock, **limits)
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    return server


def service(server: Server) -> AccountService:
    found = service_of(server)
    assert found is not None
    return found


@functools.cache
def _credentials(password: str) -> tuple[str, ScramCredentials]:
    # argon2 is slow on purpose: hash each test password once per run.
    return hash_password(password), make_scram_credentials(password)


def add_account(server: Server, name: str, password: str = "correct-horse") -> AccountRecord:
    """Store an account directly, as if it had been registered earlier."""
    accounts = service(server)
    password_hash, scram = _credentials(password)
    record = AccountRecord(name, server.fold(name), password_hash, scram, server.clock())
    assert accounts.storage.create_account(record)
    accounts.records[record.folded] = record
    return record


class DeferredOffload:
    """An offloader that runs work only when told: the moments between a request and its
    answer become observable."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], T], done: Callable[[T], None]) -> None:
        self.jobs.append(lambda: done(work()))

    def run(self) -> int:
        """Finish every job queued so far (and those they queue); how many ran."""
        count = 0
        while self.jobs:
            self.jobs.pop(0)()
            count += 1
        return count


def defer(server: Server) -> DeferredOffload:
    """Make ``server`` queue its blocking work until the test runs it."""
    deferred = DeferredOffload()
    host_of(server).run = deferred
    return deferred
