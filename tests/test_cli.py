"""The `hubbub` command line as a user runs it (real processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    for command in ("serve", "chat", "bench", "check-config", "hash-password", "gen-cert"):
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
