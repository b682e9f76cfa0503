"""The `hubbub` command line as a user runs it (real processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

from hubbub.config import AdminSection, StorageSection, admin_token_matches
from hubbub.net.app import App
from hubbub.passwords import check_password
from hubbub.protocol.casemap import Folded
from hubbub.storage import SqliteStorage
from tests.conftest import make_config
from tests.timeouts import TIMEOUT


def hubbub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=TIMEOUT * 3,
        check=False,
    )


def test_check_config_reports_every_problem_with_its_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[limits]\nsendq = "lots"\nflod = true\n')
    result = hubbub("check-config", str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{bad}: limits.sendq:") for line in lines), lines
    assert any(line.startswith(f"{bad}: limits.flod:") and "unknown" in line for line in lines)


def test_check_config_ok(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[server]\nname = "irc.example.org"\n[[listen]]\naddress = "127.0.0.1:6667"\n')
    result = hubbub("check-config", str(good))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{good}: ok"


def test_hash_password_makes_an_argon2_hash() -> None:
    result = hubbub("hash-password", stdin="correct horse\n")
    assert result.returncode == 0
    assert result.stdout.startswith("$argon2id$")


def test_serve_with_a_bad_config_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[listen]]\naddress = 12\n")
    result = hubbub("serve", "--config", str(bad))
    assert result.returncode == 1
    assert "listen[0].address" in result.stderr


def test_help_lists_the_contract_commands() -> None:
    result = hubbub("--help")
    for command in (
        "serve",
        "chat",
        "bench",
        "check-config",
        "hash-password",
        "gen-cert",
        "account",
        "gen-token",
    ):
        assert command in result.stdout


def test_serve_with_an_unusable_database_says_why(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, " * 512)
    for path, why in ((tmp_path, "Is a directory"), (garbage, "not a database")):
        result = hubbub("serve", "--listen", "127.0.0.1:0", "--db", str(path))
        assert result.returncode == 1
        [line] = [line for line in result.stderr.splitlines() if "cannot start" in line]
        assert f"the database {path}: " in line
        assert why in line
        assert "Traceback" not in result.stderr


# -- hubbub account ----------------------------------------------------------------------------


def test_account_create_list_reset_delete(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    created = hubbub(
        "account", "--db", db, "create", "Dana", "--password-stdin", stdin="pw-one-1\n"
    )
    assert created.returncode == 0, created.stderr
    assert "created the account Dana" in created.stdout
    assert "running" in created.stderr  # the note about a server already running
    listed = hubbub("account", "--db", db, "list")
    assert listed.returncode == 0
    [line] = listed.stdout.splitlines()
    assert line.startswith("Dana\t")

    storage = SqliteStorage(db)
    storage.open()
    try:
        record = storage.get_account(Folded("dana"))
        assert record is not None
        assert check_password(record.password_hash, "pw-one-1")
    finally:
        storage.close()

    reset = hubbub("account", "--db", db, "reset", "DANA", "--password-stdin", stdin="pw-two-2\n")
    assert reset.returncode == 0, reset.stderr
    storage.open()
    try:
        record = storage.get_account(Folded("dana"))
        assert record is not None
        assert check_password(record.password_hash, "pw-two-2")
    finally:
        storage.close()

    deleted = hubbub("account", "--db", db, "delete", "dana")
    assert deleted.returncode == 0, deleted.stderr
    assert hubbub("account", "--db", db, "list").stdout == ""


def test_account_refusals_say_why(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    missing = tmp_path / "missing.db"
    cases = [
        (("account", "--db", str(missing), "list"), None, "no database at"),
        (("account", "--db", str(missing), "delete", "x"), None, "no database at"),
        (
            ("account", "--db", db, "create", "9lives", "--password-stdin"),
            "pw-long-1\n",
            "rules of",
        ),
        (
            ("account", "--db", db, "create", "NickServ", "--password-stdin"),
            "pw-long-1\n",
            "service",
        ),
        (("account", "--db", db, "create", "dana", "--password-stdin"), "short\n", "at least 8"),
        (("account", "--db", db, "create", "dana"), "pw-long-1\n", "--password-stdin"),
    ]
    for args, stdin, why in cases:
        result = hubbub(*args, stdin=stdin)
        assert result.returncode == 1, args
        assert why in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not missing.exists()  # list and delete create no database
    ok = hubbub("account", "--db", db, "create", "dana", "--password-stdin", stdin="pw-long-1\n")
    assert ok.returncode == 0
    for args, stdin, why in (
        (("create", "DANA", "--password-stdin"), "pw-long-1\n", "exists already"),
        (("reset", "erin", "--password-stdin"), "pw-long-1\n", "no account called erin"),
        (("delete", "erin"), None, "no account called erin"),
    ):
        result = hubbub("account", "--db", db, *args, stdin=stdin)
        assert result.returncode == 1, args
        assert why in result.stderr
    assert hubbub("account", "--db", db).returncode == 2  # no action: usage


def test_account_uses_the_config_database(tmp_path: Path) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text('[storage]\npath = "data.db"\n[accounts]\npassword_min_length = 12\n')
    args = ("account", "--config", str(config), "create", "dana", "--password-stdin")
    assert hubbub(*args, stdin="eleven-char\n").returncode == 1  # the config's minimum
    assert hubbub(*args, stdin="twelve-chars\n").returncode == 0
    assert (tmp_path / "data.db").exists()  # relative to the config file


async def test_account_commands_work_while_a_server_runs(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    config = dataclasses.replace(make_config(), storage=StorageSection(path=str(db)))
    app = App(config)
    await app.start()
    try:
        result = await asyncio.to_thread(
            hubbub,
            "account",
            "--db",
            str(db),
            "create",
            "dana",
            "--password-stdin",
            stdin="pw-long-1\n",
        )
        assert result.returncode == 0, result.stderr
        listed = await asyncio.to_thread(hubbub, "account", "--db", str(db), "list")
        assert listed.stdout.startswith("dana\t")
        # The running server keeps what it read at start (as the note says) ...
        assert app.server.accounts is not None
        assert app.server.accounts.find(app.server, "dana") is None
    finally:
        await app.stop("test over")
    # ... and a restart sees the account.
    app = App(config)
    await app.start()
    try:
        assert app.server.accounts is not None
        assert app.server.accounts.find(app.server, "dana") is not None
    finally:
        await app.stop("test over")


def test_gen_token_makes_a_token_and_its_hash() -> None:
    result = hubbub("gen-token")
    assert result.returncode == 0
    token, hashed = result.stdout.splitlines()
    section = AdminSection(tokens=(hashed,))
    assert len(token) >= 32
    assert admin_token_matches(section, token)
    assert admin_token_matches(AdminSection(tokens=(token,)), token)
