"""The `hubbub` command line as a user runs it (real processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.config import (
    AdminSection,
    Config,
    OperSection,
    StorageSection,
    admin_token_hash,
    admin_token_matches,
)
from hubbub.net.app import App
from hubbub.passwords import check_password
from hubbub.protocol.casemap import Folded
from hubbub.protocol.message import Message
from hubbub.storage import SqliteStorage
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.server.saslclient import b64, plain
from tests.timeouts import TIMEOUT

TOKEN_ENV = "HUBBUB_ADMIN_TOKEN"


def hubbub(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``hubbub ARGS`` in a child process; ``env`` is added to an environment without any
    admin token of the user running the tests."""
    environ = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "hubbub", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=TIMEOUT * 3,
        check=False,
        env=environ | (env or {}),
    )


async def ahubbub(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`hubbub` in a thread, so that a server in this process keeps running."""
    return await asyncio.to_thread(hubbub, *args, stdin=stdin, env=env)


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


def test_check_config_warns_that_cluster_nodes_without_one_database_keep_their_own_accounts(
    tmp_path: Path,
) -> None:
    apart = tmp_path / "apart.toml"
    apart.write_text('[cluster]\nredis = "redis://127.0.0.1:1/0"\nnode_id = "n1"\n')
    result = hubbub("check-config", str(apart))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{apart}: ok"
    assert any(
        line.startswith(f"{apart}: storage.url: warning:") and "own SQLite file" in line
        for line in lines
    ), lines
    assert any(line.startswith(f"{apart}: cloaks.secret: warning:") for line in lines), lines
    shared = tmp_path / "shared.toml"
    shared.write_text(
        '[cluster]\nredis = "redis://127.0.0.1:1/0"\nnode_id = "n1"\n'
        '[storage]\nurl = "postgresql://hubbub@db.internal/hubbub"\n'
    )
    result = hubbub("check-config", str(shared))
    assert result.stdout.strip() == f"{shared}: ok"


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


def test_account_without_a_token_works_on_the_file_and_says_how_to_use_the_api(
    tmp_path: Path,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there
    config = tmp_path / "hubbub.toml"
    config.write_text(
        f'[storage]\npath = "data.db"\n'
        f'[admin]\nenabled = true\nlisten = "{nobody}"\ntokens = ["{TOKEN}"]\n'
    )
    made = hubbub(
        "account", "--config", str(config), "create", "dana", "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    assert made.stderr.startswith("note: a running server sees this after REHASH")
    assert f"give --token-file FILE or set {TOKEN_ENV}" in made.stderr
    assert (tmp_path / "data.db").exists()
    # With a token the config's API is used: no server here, so nothing is done.
    listed = hubbub("account", "--config", str(config), "list", env={TOKEN_ENV: TOKEN})
    assert listed.returncode == 1
    assert f"cannot reach the admin API at http://{nobody}: connection refused" in listed.stderr
    # --direct (or --db) works on the file whatever the environment says.
    direct = hubbub("account", "--config", str(config), "--direct", "list", env={TOKEN_ENV: TOKEN})
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.startswith("dana\t")
    for args in (
        ("--db", "x.db", "--api", "http://127.0.0.1:1"),
        ("--direct", "--token-file", "t"),
    ):
        result = hubbub("account", *args, "list")
        assert result.returncode == 2, args
        assert "work on the database file" in result.stderr


# -- hubbub account and a running server ---------------------------------------------------------

TOKEN = "cli-token-" + "c" * 32
PASSWORD = "pw-long-1"


@pytest.fixture
async def clients() -> AsyncIterator[list[IRCTestClient]]:
    made: list[IRCTestClient] = []
    yield made
    for client in made:
        await client.close()


def live_config(db: Path, admin: bool = True) -> Config:
    """A server on 127.0.0.1 with its accounts in ``db``, the admin API (when ``admin``) and
    the operator admin/s3cret."""
    section = AdminSection(
        enabled=admin, listen="127.0.0.1:0", tokens=(admin_token_hash(TOKEN),) if admin else ()
    )
    return dataclasses.replace(
        make_config(),
        storage=StorageSection(path=str(db)),
        admin=section,
        opers=(OperSection(name="admin", password="s3cret"),),
    )


def api_url(app: App) -> str:
    assert app.http_address is not None
    return f"http://127.0.0.1:{app.http_address[1]}"


def token_file(tmp_path: Path, token: str = TOKEN, name: str = "token") -> Path:
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


async def sasl_login(
    port: int, clients: list[IRCTestClient], nick: str, account: str, password: str
) -> tuple[IRCTestClient, Message]:
    """Connect and register with SASL PLAIN; the client and the closing numeric (903 or
    904). After 903 the client is registered (up to the end of the MOTD)."""
    client = await IRCTestClient.connect("127.0.0.1", port)
    clients.append(client)
    await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real")
    ack = await client.expect(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
    assert ack.params[1] == "ACK", ack
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send(f"AUTHENTICATE {b64(plain(account, password))}")
    done = await client.expect(lambda m: m.command in ("903", "904"))
    if done.command == "903":
        await client.send("CAP END")
        await client.expect(lambda m: m.command in ("376", "422"))
    return client, done


async def identify(
    port: int, clients: list[IRCTestClient], nick: str, account: str, password: str
) -> str:
    """Connect, register as ``nick`` and NickServ IDENTIFY; NickServ's answer."""
    client = await IRCTestClient.connect("127.0.0.1", port)
    clients.append(client)
    await client.register(nick)
    await client.send(f"PRIVMSG NickServ :IDENTIFY {account} {password}")
    notice = await client.expect(
        lambda m: m.command == "NOTICE" and (m.source or "").startswith("NickServ!")
    )
    return notice.params[-1]


async def oper(port: int, clients: list[IRCTestClient]) -> IRCTestClient:
    """An operator with ``+s`` (server notices)."""
    client = await IRCTestClient.connect("127.0.0.1", port)
    clients.append(client)
    await client.register("ircop")
    await client.send("OPER admin s3cret")
    await client.expect("381")
    return client


async def test_account_cli_through_the_admin_api(
    tmp_path: Path, clients: list[IRCTestClient]
) -> None:
    app = App(live_config(tmp_path / "live.db"))
    await app.start()
    try:
        url, port = api_url(app), app.address()[1]
        api = ("account", "--api", url, "--token-file", str(token_file(tmp_path)))
        created = await ahubbub(*api, "create", "dana", "--password-stdin", stdin=PASSWORD)
        assert created.returncode == 0, created.stderr
        assert created.stdout == f"created the account dana on the server at {url}\n"
        assert "REHASH" not in created.stderr  # the server made the change itself
        # No restart, no REHASH: a client logs in to it at once.
        dee, done = await sasl_login(port, clients, "dee", "dana", PASSWORD)
        assert done.command == "903", done

        # The config's [admin] listen and the token from the environment work as well.
        config = tmp_path / "hubbub.toml"
        config.write_text(
            f'[storage]\npath = "elsewhere.db"\n'
            f'[admin]\nenabled = true\nlisten = "{url.removeprefix("http://")}"\n'
            f'tokens = ["{admin_token_hash(TOKEN)}"]\n'
        )
        env = {TOKEN_ENV: TOKEN}
        by_config = ("account", "--config", str(config))
        reset = await ahubbub(
            *by_config, "reset", "DANA", "--password-stdin", stdin="pw-two-2\n", env=env
        )
        assert reset.returncode == 0, reset.stderr
        assert reset.stdout == f"set a new password for the account dana on the server at {url}\n"
        assert not (tmp_path / "elsewhere.db").exists()  # through the API, not a file
        assert await identify(port, clients, "eve", "dana", PASSWORD) == (
            "Invalid account name or password."
        )
        assert await identify(port, clients, "fay", "dana", "pw-two-2") == (
            "You are now identified as dana."
        )
        listed = await ahubbub(*by_config, "list", env=env)
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.splitlines()
        assert line.startswith("dana\t")
        assert listed.stderr == f"1 account on the server at {url}\n"

        # Deleting it logs its sessions out at once.
        deleted = await ahubbub(*api, "delete", "dana")
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.splitlines() == [
            f"deleted the account dana on the server at {url}",
            "logged out: dee fay",
        ]
        got = await dee.collect_until("901")
        assert got[-1].params[-1] == "You are now logged out"
        _, refused = await sasl_login(port, clients, "gil", "dana", "pw-two-2")
        assert refused.command == "904"
    finally:
        await app.stop("test over")


async def test_account_cli_api_errors_say_why(tmp_path: Path) -> None:
    app = App(live_config(tmp_path / "live.db"))
    await app.start()
    try:
        url = api_url(app)
        good = ("account", "--api", url, "--token-file", str(token_file(tmp_path)))
        made = await ahubbub(*good, "create", "dana", "--password-stdin", stdin=PASSWORD)
        assert made.returncode == 0, made.stderr
        wrong_token = "wrong-token-" + "w" * 32
        env_token = {TOKEN_ENV: TOKEN}
        wrong = token_file(tmp_path, wrong_token, "wrong-token")
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        cases: list[tuple[tuple[str, ...], str | None, dict[str, str] | None, str]] = [
            (("--api", url, "--token-file", str(wrong), "list"), None, None, "refused the token"),
            (("--api", url, "list"), None, {TOKEN_ENV: wrong_token}, "refused the token"),
            (("--api", url, "list"), None, None, "needs a token"),
            ((*good[1:], "create", "DANA", "--password-stdin"), PASSWORD, None, "exists already"),
            ((*good[1:], "reset", "erin", "--password-stdin"), PASSWORD, None, "no account called"),
            ((*good[1:], "delete", "erin"), None, None, "no account called erin"),
            ((*good[1:], "create", "9lives", "--password-stdin"), PASSWORD, None, "BAD_ACCOUNT"),
            ((*good[1:], "create", "erin", "--password-stdin"), "short", None, "at least 8"),
            (("--api", nobody, "--token-file", good[4], "list"), None, None, "cannot reach"),
            (
                ("--api", url, "--token-file", str(tmp_path / "none"), "list"),
                None,
                None,
                "token file",
            ),
        ]
        for args, stdin, env, why in cases:
            result = await ahubbub("account", *args, stdin=stdin, env=env)
            assert result.returncode == 1, (args, result.stderr)
            assert why in result.stderr, (args, result.stderr)
            assert len(result.stderr.splitlines()) == 1, result.stderr  # one line says why
            assert wrong_token not in result.stderr
            assert TOKEN not in result.stderr
        # A server that never answers: the wait is bounded, and a change may have happened.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()  # connections are made (the backlog), never answered
            mute = f"http://127.0.0.1:{silent.getsockname()[1]}"
            result = await ahubbub(
                "account", "--api", mute, "--timeout", "0.5", "delete", "dana", env=env_token
            )
        assert result.returncode == 1
        assert result.stderr == (
            f"hubbub account: the admin API at {mute} did not answer within 0.5 seconds (it "
            f"may or may not have been done: see hubbub account list)\n"
        )
        # A wrong token is refused before the password is asked for.
        wrong_create = await ahubbub(
            "account", "--api", url, "--token-file", str(wrong), "create", "erin"
        )
        assert "refused the token" in wrong_create.stderr
        assert "password" not in wrong_create.stderr
    finally:
        await app.stop("test over")


def test_the_token_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    secret = "secret-token-" + "s" * 32
    for args in (
        ("account", "--token", secret, "list"),
        ("account", f"--token={secret}", "list"),
        ("account", "--api", "http://127.0.0.1:1", "--token", secret, "list"),
        ("account", "list", "--token", secret),
        ("account", "--api", "http://127.0.0.1:1", "delete", "dana", "--token", secret),
    ):
        result = hubbub(*args)
        assert result.returncode == 2, args
        assert "--token is not accepted" in result.stderr
        assert "--token-file" in result.stderr
        assert secret not in result.stderr + result.stdout
    # Nor is an abbreviation of --token-file taken for it.
    result = hubbub("account", "--token-f", str(tmp_path / "t"), "list")
    assert result.returncode == 2


async def rehash(ircop: IRCTestClient) -> str:
    """REHASH; what it says of the accounts (its answer comes once they are reloaded)."""
    await ircop.send("REHASH")
    await ircop.expect("382")
    notice = await ircop.expect(lambda m: m.command == "NOTICE" and "account" in m.params[-1])
    return notice.params[-1]


async def test_direct_changes_reach_a_running_server_at_rehash(
    tmp_path: Path, clients: list[IRCTestClient]
) -> None:
    db = tmp_path / "live.db"
    app = App(live_config(db, admin=False))
    await app.start()
    try:
        port = app.address()[1]
        direct = ("account", "--db", str(db))
        ircop = await oper(port, clients)
        made = await ahubbub(*direct, "create", "dana", "--password-stdin", stdin=PASSWORD)
        assert made.returncode == 0, made.stderr
        assert made.stderr == (
            "note: a running server sees this after REHASH (or kill -HUP <pid>)\n"
        )
        _, refused = await sasl_login(port, clients, "dee", "dana", PASSWORD)
        assert refused.command == "904"  # not yet
        assert await rehash(ircop) == (
            "*** Reloaded the accounts from the database: 1 accounts (1 new, 0 deleted, 0 changed)"
        )
        dee, done = await sasl_login(port, clients, "dee2", "dana", PASSWORD)
        assert done.command == "903", done

        reset = await ahubbub(*direct, "reset", "dana", "--password-stdin", stdin="pw-two-2")
        assert reset.returncode == 0, reset.stderr
        assert await rehash(ircop) == (
            "*** Reloaded the accounts from the database: 1 accounts (0 new, 0 deleted, 1 changed)"
        )
        assert await identify(port, clients, "eve", "dana", PASSWORD) == (
            "Invalid account name or password."
        )
        assert await identify(port, clients, "fay", "dana", "pw-two-2") == (
            "You are now identified as dana."
        )
        assert (await ahubbub(*direct, "delete", "dana")).returncode == 0
        assert await rehash(ircop) == (
            "*** Reloaded the accounts from the database: 0 accounts (0 new, 1 deleted, "
            "0 changed); logged out: dee2 fay"
        )
        got = await dee.collect_until(lambda m: "The account dana was deleted" in m.params[-1])
        assert [m.command for m in got][:2] == ["901", "NOTICE"]
        assert app.server.accounts is not None
        assert app.server.accounts.find(app.server, "dana") is None
    finally:
        await app.stop("test over")


async def test_sighup_makes_hubbub_serve_reload_the_accounts(
    tmp_path: Path, clients: list[IRCTestClient]
) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text(
        '[[listen]]\naddress = "127.0.0.1:0"\n'
        '[storage]\npath = "accounts.db"\n'
        '[[oper]]\nname = "admin"\npassword = "s3cret"\n'
    )
    cli = ("account", "--config", str(config))
    assert hubbub(*cli, "create", "dana", "--password-stdin", stdin=PASSWORD).returncode == 0
    log: list[str] = []
    async with serve("--config", str(config), cwd=tmp_path, log=log) as (proc, port):
        dee, done = await sasl_login(port, clients, "dee", "dana", PASSWORD)
        assert done.command == "903", done
        ircop = await oper(port, clients)
        made = await ahubbub(*cli, "create", "erin", "--password-stdin", stdin=PASSWORD)
        assert "kill -HUP" in made.stderr
        assert (await ahubbub(*cli, "delete", "dana")).returncode == 0
        proc.send_signal(signal.SIGHUP)
        notice = await ircop.expect(lambda m: m.command == "NOTICE" and "Reloaded" in m.params[-1])
        assert notice.params[-1] == (
            "*** Reloaded the accounts from the database: 1 accounts (1 new, 1 deleted, "
            "0 changed); logged out: dee"
        )
        assert (await dee.expect("901")).params[-1] == "You are now logged out"
        _, done = await sasl_login(port, clients, "eve", "erin", PASSWORD)
        assert done.command == "903", done
        # A config with errors: nothing changes, the server runs on, the operators hear why.
        config.write_text(config.read_text() + '[limits]\nsendq = "lots"\n')
        proc.send_signal(signal.SIGHUP)
        failed = await ircop.expect(lambda m: m.command == "NOTICE" and "SIGHUP" in m.params[-1])
        assert "rehash failed, keeping the old config" in failed.params[-1]
        assert "limits.sendq" in failed.params[-1]
        await ircop.assert_nothing_pending()
        assert proc.returncode is None  # SIGHUP did not stop it
    assert any("received SIGHUP" in line for line in log), log


def test_gen_token_makes_a_token_and_its_hash() -> None:
    result = hubbub("gen-token")
    assert result.returncode == 0
    token, hashed = result.stdout.splitlines()
    section = AdminSection(tokens=(hashed,))
    assert len(token) >= 32
    assert admin_token_matches(section, token)
    assert admin_token_matches(AdminSection(tokens=(token,)), token)
