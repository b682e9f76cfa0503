"""A database that fails at run time costs only what needs it: the client whose command needed
a write is told to try again later, one line goes to the log, and everything else goes on."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import pytest

from hubbub.config import OperSection
from hubbub.protocol.casemap import Folded
from hubbub.server.accounts import AccountService, attach
from hubbub.server.core import Server
from hubbub.storage import AccountRecord, ScramCredentials, SqliteStorage, StorageError
from tests.server.accounthelpers import add_account
from tests.server.harness import Client, FakeClock, TestHost, ask, make_server
from tests.server.saslclient import b64, plain

PASSWORD = "correct-horse"


class FailingStorage:
    """An in-memory SQLite storage whose calls fail, while :attr:`broken`, as a disk that
    has gone bad makes them fail."""

    def __init__(self) -> None:
        self.inner = SqliteStorage(":memory:")
        self.broken = False

    def _check(self) -> None:
        if self.broken:
            cause = sqlite3.OperationalError("disk I/O error")
            raise StorageError(f"{type(cause).__name__} in :memory:: {cause}") from cause

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def create_account(self, account: AccountRecord) -> bool:
        self._check()
        return self.inner.create_account(account)

    def get_account(self, folded: Folded) -> AccountRecord | None:
        self._check()
        return self.inner.get_account(folded)

    def list_accounts(self) -> list[AccountRecord]:
        self._check()
        return self.inner.list_accounts()

    def set_password(self, folded: Folded, password_hash: str, scram: ScramCredentials) -> bool:
        self._check()
        return self.inner.set_password(folded, password_hash, scram)

    def delete_account(self, folded: Folded) -> bool:
        self._check()
        return self.inner.delete_account(folded)

    def get_setting(self, key: str) -> str | None:
        self._check()
        return self.inner.get_setting(key)

    def ensure_setting(self, key: str, value: str) -> str:
        self._check()
        return self.inner.ensure_setting(key, value)


def notices(client: Client) -> list[str]:
    return [m.params[-1] for m in client.messages() if m.command == "NOTICE"]


def test_a_failing_database_costs_only_what_needs_it(caplog: pytest.LogCaptureFixture) -> None:
    server = make_server()
    storage = FailingStorage()
    storage.open()
    attach(server, AccountService(storage))
    add_account(server, "dave")
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    dave = Client(server).register("dave", caps="sasl")
    storage.broken = True

    with caplog.at_level(logging.INFO, logger="hubbub.accounts"):
        alice.send(f"REGISTER * * {PASSWORD}")
        [fail] = [m for m in alice.messages() if m.command == "FAIL"]
        assert fail.params[:3] == ("REGISTER", "TEMPORARILY_UNAVAILABLE", "alice")
        assert alice.session.user.account is None

        alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        assert notices(alice) == ["Could not store the account; try again later."]

        # Logging in reads the in-memory cache: it still works, and so does SASL.
        dave.send("AUTHENTICATE PLAIN")
        dave.send(f"AUTHENTICATE {b64(plain('dave', PASSWORD))}")
        assert [m.command for m in dave.messages()] == ["AUTHENTICATE", "900", "903"]
        dave.send("NS PASSWORD newpassword1")
        assert notices(dave) == ["Could not change the password; try again later."]

        # Chat goes on for everyone.
        for client in (alice, bob, dave):
            client.send("JOIN #room")
        for client in (alice, bob, dave):
            client.lines()
        alice.send("PRIVMSG #room :still here")
        assert [(m.command, m.params) for m in bob.messages()] == [
            ("PRIVMSG", ("#room", "still here"))
        ]
        assert dave.session.user.account == "dave"

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in failures] == [
        "could not store the new account 'alice'",
        "could not store the new account 'alice'",
        "could not change the password of 'dave'",
    ]
    for record in failures:
        assert "OperationalError" in record.getMessage()
        assert "disk I/O error" in record.getMessage()
        assert record.exc_info is None, "one line, not a traceback"

    # Once the database is back, the same registration works.
    storage.broken = False
    alice.send(f"REGISTER * * {PASSWORD}")
    assert [m.command for m in alice.messages()] == ["900", "REGISTER"]
    assert storage.inner.get_account(server.fold("alice")) is not None


def test_a_rehash_with_a_failing_database_keeps_the_accounts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = make_server().config
    config = dataclasses.replace(base, opers=(OperSection(name="admin", password="secret"),))
    server = Server(config, clock=FakeClock(), host=TestHost())
    storage = FailingStorage()
    storage.open()
    attach(server, AccountService(storage))
    add_account(server, "dave")
    dave = Client(server).register("dave")
    dave.send(f"NS IDENTIFY {PASSWORD}")
    ircop = Client(server).register("ircop")
    ircop.send("OPER admin secret")
    ircop.lines()
    storage.broken = True
    with caplog.at_level(logging.INFO, logger="hubbub.accounts"):
        got = ask(ircop, "REHASH")
    assert got == [
        ("382", ("ircop", "*", "Rehashing")),
        (
            "NOTICE",
            (
                "ircop",
                "*** Could not reload the accounts from the database; see the server's log",
            ),
        ),
    ]
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith("could not reload the accounts: OperationalError")
    # The accounts in memory are kept: dave is still logged in, and logs in again.
    assert dave.session.user.account == "dave"
    again = Client(server).register("dave2")
    again.send(f"NS IDENTIFY dave {PASSWORD}")
    assert again.session.user.account == "dave"
