"""``hubbub account ...``: create, reset, delete and list accounts in the SQLite database.

These work on the database file directly, so they need no running server: set up accounts
before the first start, or repair one when no server is up. They are safe while a server
runs: SQLite locks the file for each write (a command waits up to 5 seconds for the
server's write to finish), so neither side corrupts the other. But a running server reads
its accounts once, at start: it sees what these commands change only when restarted. To
change the accounts of a running server, use the admin API (``docs/admin-api.md``).

Exit status: 0 done, 1 refused or failed (with one line on standard error saying why),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
import time
from collections.abc import Callable

from hubbub.config import (
    Config,
    ConfigError,
    StorageSection,
    default_config,
    format_issues,
    load_config,
)
from hubbub.passwords import hash_password
from hubbub.protocol.casemap import Casemapping, Folded, folder, is_valid_nick
from hubbub.server.accounts import password_problem, valid_email
from hubbub.server.commands.accounts import SERVICE_NAME
from hubbub.server.sasl import make_scram_credentials
from hubbub.storage.base import AccountRecord, StorageError
from hubbub.storage.sqlite import SqliteStorage

__all__ = ["configure_parser", "run"]

RUNNING_SERVER_NOTE = (
    "note: a server already running keeps the accounts it read at start; restart it, or use "
    "the admin API, for it to see this change"
)


class _Refused(Exception):
    """The command cannot do what was asked; the message says why (exit status 1)."""


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hubbub account``."""
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config file (default: built-in)")
    p.add_argument(
        "--db", metavar="PATH", help="SQLite database file (default: the config's, ./hubbub.db)"
    )
    sub = p.add_subparsers(dest="account_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a new account")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--email", default="", help="the account's e-mail address (kept only)")
    _password_source(create)

    reset = sub.add_parser("reset", help="set a new password for an account")
    reset.add_argument("name", metavar="NAME")
    _password_source(reset)

    delete = sub.add_parser("delete", help="delete an account")
    delete.add_argument("name", metavar="NAME")

    sub.add_parser("list", help="list every account")


def _password_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (default: ask twice "
        "on the terminal)",
    )


def run(args: argparse.Namespace) -> int:
    """``hubbub account ACTION``: 0 when done, 1 when refused or failed."""
    try:
        config = _config(args)
        action: Callable[[argparse.Namespace, Config], None] = _ACTIONS[args.account_command]
        action(args, config)
    except ConfigError as exc:
        prefix = f"{args.config}: " if args.config else "hubbub account: "
        print(format_issues(exc, prefix=prefix), file=sys.stderr)
        return 1
    except (_Refused, StorageError) as exc:
        print(f"hubbub account: {exc}", file=sys.stderr)
        return 1
    return 0


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config else default_config()
    if args.db:
        config = dataclasses.replace(config, storage=StorageSection(path=args.db))
    return config


def _database(config: Config, must_exist: bool) -> SqliteStorage:
    """The config's database, open. With ``must_exist`` a missing file is refused rather
    than created empty."""
    section = config.storage
    if section.url:
        raise _Refused("storage.url: PostgreSQL storage is not available yet")
    if section.path == ":memory:":
        raise _Refused('the database is ":memory:": no accounts outlive a server run')
    path = config.resolve_path(section.path)
    if must_exist and not path.exists():
        raise _Refused(f"no database at {path} (give --db PATH or --config FILE)")
    storage = SqliteStorage(path)
    storage.open()
    return storage


def _fold(config: Config) -> Callable[[str], Folded]:
    return folder(Casemapping(config.server.casemapping))


def _check_name(config: Config, name: str) -> None:
    nicklen = config.limits.nicklen
    if not is_valid_nick(name, nicklen):
        raise _Refused(
            f"{name!r} cannot be an account name: names follow the rules of nicknames "
            f"(at most {nicklen} characters, no spaces, not starting with a digit or '-')"
        )
    fold = _fold(config)
    if fold(name) == fold(SERVICE_NAME):
        raise _Refused(f"{name} is the name of a service")


def _read_password(args: argparse.Namespace, config: Config) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise _Refused("the passwords differ")
    else:
        raise _Refused("no terminal to ask for the password on: use --password-stdin")
    if any(c in password for c in "\r\n\0"):
        raise _Refused("the password must be one line, without NUL")
    problem = password_problem(password, config.accounts.password_min_length)
    if problem is not None:
        raise _Refused(problem[1])
    return password


def _create(args: argparse.Namespace, config: Config) -> None:
    name: str = args.name
    _check_name(config, name)
    if args.email and not valid_email(args.email):
        raise _Refused(f"{args.email!r} is not an e-mail address")
    storage = _database(config, must_exist=False)
    try:
        existing = storage.get_account(_fold(config)(name))
        if existing is not None:
            raise _Refused(f"an account called {existing.name} exists already")
        password = _read_password(args, config)
        record = AccountRecord(
            name=name,
            folded=_fold(config)(name),
            password_hash=hash_password(password),
            scram=make_scram_credentials(password),
            created=time.time(),
            email=args.email,
        )
        if not storage.create_account(record):
            raise _Refused(f"an account called {name} exists already")
    finally:
        storage.close()
    print(f"created the account {name} in {storage.path}")
    print(RUNNING_SERVER_NOTE, file=sys.stderr)


def _find(storage: SqliteStorage, config: Config, name: str) -> AccountRecord:
    record = storage.get_account(_fold(config)(name))
    if record is None:
        raise _Refused(f"no account called {name} in {storage.path}")
    return record


def _reset(args: argparse.Namespace, config: Config) -> None:
    storage = _database(config, must_exist=True)
    try:
        record = _find(storage, config, args.name)
        password = _read_password(args, config)
        scram = make_scram_credentials(password)
        if not storage.set_password(record.folded, hash_password(password), scram):
            raise _Refused(f"the account {record.name} was deleted meanwhile")
    finally:
        storage.close()
    print(f"set a new password for the account {record.name}")
    print(RUNNING_SERVER_NOTE, file=sys.stderr)


def _delete(args: argparse.Namespace, config: Config) -> None:
    storage = _database(config, must_exist=True)
    try:
        record = _find(storage, config, args.name)
        if not storage.delete_account(record.folded):
            raise _Refused(f"the account {record.name} was deleted meanwhile")
    finally:
        storage.close()
    print(f"deleted the account {record.name}")
    print(RUNNING_SERVER_NOTE, file=sys.stderr)


def _list(args: argparse.Namespace, config: Config) -> None:
    storage = _database(config, must_exist=True)
    try:
        records = storage.list_accounts()
    finally:
        storage.close()
    for record in records:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        print(f"{record.name}\t{created}\t{record.email}".rstrip("\t"))
    count = len(records)
    print(f"{count} account{'s' if count != 1 else ''} in {storage.path}", file=sys.stderr)


_ACTIONS: dict[str, Callable[[argparse.Namespace, Config], None]] = {
    "create": _create,
    "reset": _reset,
    "delete": _delete,
    "list": _list,
}
