"""``hubbub account ...``: create, reset, delete and list accounts.

Two ways to reach the accounts:

- **Through the admin API** of the running server (``docs/admin-api.md``): the server makes
  the change and sees it at once (a deleted account's users are logged out). Used when
  ``--api URL`` is given, or when the config has ``[admin] enabled`` and a token is at hand;
  the bearer token comes from ``--token-file FILE`` or the environment variable
  ``HUBBUB_ADMIN_TOKEN``, never from the command line (where ``ps`` would show it).
- **On the database file** directly, otherwise (or with ``--direct`` / ``--db``): no server
  needed, to set up accounts before the first start or repair one when no server is up. It
  is safe while a server runs (SQLite locks the file for each write; a command waits up to 5
  seconds for the server's write to finish), and a running server sees the change at its
  next REHASH (``kill -HUP <pid>`` is one), which reloads the accounts from the file.

Exit status: 0 done, 1 refused or failed (with one line on standard error saying why),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import http.client
import json
import os
import re
import stat
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
from hubbub.storage import postgres_storage
from hubbub.storage.base import AccountRecord, StorageError
from hubbub.storage.sqlite import SqliteStorage

if TYPE_CHECKING:
    from hubbub.storage.postgres import PostgresStorage

__all__ = ["configure_parser", "run"]

RUNNING_SERVER_NOTE = "note: a running server sees this after REHASH (or kill -HUP <pid>)"

TOKEN_ENV = "HUBBUB_ADMIN_TOKEN"
"""The environment variable that may hold the admin API's bearer token."""

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for the admin API to connect and to answer (``--timeout``)."""

_BEARER = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""What a bearer token may hold (RFC 6750's token68), as ``[admin] tokens`` requires."""

_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}
"""An admin API listening on every address is reached on loopback."""


class _Refused(Exception):
    """The command cannot do what was asked; the message says why (exit status 1)."""


class _Usage(Exception):
    """The arguments contradict each other; the message says how (exit status 2)."""


class _RefuseToken(argparse.Action):
    """``--token``: refused, whatever follows, and without repeating it: a token given as an
    argument is visible to every user of the machine (``ps``, ``/proc``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"{option_string} is not accepted: a token on the command line is visible to every "
            f"user of this machine (ps); give --token-file FILE or set {TOKEN_ENV} (and if "
            f"that token was real, replace it: hubbub gen-token)"
        )


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hubbub account``."""
    p.allow_abbrev = False  # "--token SECRET" must not be taken for "--token-file SECRET"
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config file (default: built-in)")
    p.add_argument(
        "--db",
        metavar="PATH",
        help="work on this SQLite database file (default: the config's, ./hubbub.db)",
    )
    p.add_argument(
        "--direct",
        action="store_true",
        help="work on the database file even when the admin API could be used",
    )
    p.add_argument(
        "--api",
        metavar="URL",
        help="the running server's admin API (default: the config's [admin] listen, when "
        "[admin] enabled and a token is given)",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the admin API's bearer token from FILE (default: ${TOKEN_ENV})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the admin API (default: {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--token", nargs="?", action=_RefuseToken, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="account_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a new account", allow_abbrev=False)
    create.add_argument("name", metavar="NAME")
    create.add_argument("--email", default="", help="the account's e-mail address (kept only)")
    _password_source(create)

    reset = sub.add_parser("reset", help="set a new password for an account", allow_abbrev=False)
    reset.add_argument("name", metavar="NAME")
    _password_source(reset)

    delete = sub.add_parser("delete", help="delete an account", allow_abbrev=False)
    delete.add_argument("name", metavar="NAME")

    listing = sub.add_parser("list", help="list every account", allow_abbrev=False)
    for action in (create, reset, delete, listing):
        action.add_argument("--token", nargs="?", action=_RefuseToken, help=argparse.SUPPRESS)


def _password_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (default: ask twice "
        "on the terminal)",
    )


def run(args: argparse.Namespace) -> int:
    """``hubbub account ACTION``: 0 when done, 1 when refused or failed, 2 bad arguments."""
    try:
        config = _config(args)
        api = _api(args, config)
        if api is not None:
            _API_ACTIONS[args.account_command](args, api)
        else:
            _ACTIONS[args.account_command](args, config)
            if args.account_command != "list":
                print(RUNNING_SERVER_NOTE + _api_hint(args, config), file=sys.stderr)
    except ConfigError as exc:
        prefix = f"{args.config}: " if args.config else "hubbub account: "
        print(format_issues(exc, prefix=prefix), file=sys.stderr)
        return 1
    except (_Refused, StorageError) as exc:
        print(f"hubbub account: {exc}", file=sys.stderr)
        return 1
    except _ApiError as exc:
        detail = f" {exc.code}" if exc.code else ""
        print(f"hubbub account: the server refused: {exc} ({exc.status}{detail})", file=sys.stderr)
        return 1
    except _Usage as exc:
        print(f"hubbub account: {exc}", file=sys.stderr)
        return 2
    return 0


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config else default_config()
    if args.db:
        config = dataclasses.replace(config, storage=StorageSection(path=args.db))
    return config


def _api_hint(args: argparse.Namespace, config: Config) -> str:
    """After a change on the file: how it could have gone through the API instead."""
    if config.admin.enabled and not (args.direct or args.db):
        return (
            f"; the admin API is enabled: give --token-file FILE or set {TOKEN_ENV} to change "
            f"the running server's accounts through it"
        )
    return ""


# -- the admin API -----------------------------------------------------------------------------


class _ApiError(Exception):
    """The admin API refused or failed a request: its HTTP status, ``code`` and ``error``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class _Api:
    """A running server's admin API: where it is, the token to show it, how long to wait."""

    url: str
    """As shown in messages (never with the token)."""
    https: bool
    host: str
    port: int
    prefix: str
    """The path before ``/v1/`` (empty, or ``/hubbub`` behind a proxy)."""
    token: str
    token_source: str
    """Where the token came from (``HUBBUB_ADMIN_TOKEN``, ``the token file F``)."""
    timeout: float

    def call(self, action: str, body: dict[str, str], writes: bool = False) -> dict[str, object]:
        """``POST /v1/<action>`` with ``body``; the answer's JSON object on success.

        Raises :class:`_Refused` when the API cannot be reached, did not answer in time,
        refused the token or did not answer as hubbub's API does, and :class:`_ApiError`
        for any other refusal (the caller words it). ``writes``: the action changes
        something, so a lost answer leaves unknown whether it was done."""
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        path = f"{self.prefix}/v1/{action}"
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        unknown = " (it may or may not have been done: see hubbub account list)" if writes else ""
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except TimeoutError:
            raise _Refused(
                f"the admin API at {self.url} did not answer within {self.timeout:g} seconds"
                f"{unknown}"
            ) from None
        except ConnectionRefusedError:
            raise _Refused(
                f"cannot reach the admin API at {self.url}: connection refused (is the server "
                f"running, with [admin] enabled? --direct works on the database file instead)"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            why = str(exc) or type(exc).__name__
            raise _Refused(f"cannot reach the admin API at {self.url}: {why}{unknown}") from None
        finally:
            conn.close()
        if response.status == 401:
            raise _Refused(
                f"the admin API at {self.url} refused the token from {self.token_source} (401 "
                f"Unauthorized): is it one of the server's [admin] tokens?"
            )
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise _Refused(
                f"{self.url}{path} answered {response.status} {response.reason} without a JSON "
                f"object: is it hubbub's admin API?"
            )
        if 200 <= response.status < 300:
            return answer
        code = str(answer.get("code", ""))
        message = str(answer.get("error", f"{response.status} {response.reason}"))
        if response.status == 404 and not code:
            raise _Refused(f"{self.url} has no {path}: is it hubbub's admin API? ({message})")
        raise _ApiError(response.status, code, message)


def _api(args: argparse.Namespace, config: Config) -> _Api | None:
    """The admin API to go through, or None to work on the database file."""
    if args.direct or args.db:
        if args.api or args.token_file:
            used = "--api" if args.api else "--token-file"
            raise _Usage(
                f"{used} is for the admin API; --direct and --db work on the database file"
            )
        return None
    if not 0 < args.timeout < 1e6:  # (also NaN)
        raise _Usage("--timeout must be a number of seconds above 0")
    admin = config.admin
    url: str | None = args.api
    if url is None:
        if not admin.enabled:
            if args.token_file:
                raise _Usage(
                    "--token-file given, but the config does not enable [admin]: give --api URL too"
                )
            return None
        if not args.token_file and not os.environ.get(TOKEN_ENV):
            return None  # no token: the database file, and a hint to use the API next time
        host = _WILDCARD.get(admin.host, admin.host)
        url = f"http://{f'[{host}]' if ':' in host else host}:{admin.port}"
    found = _token(args)
    if found is None:
        raise _Refused(f"the admin API needs a token: give --token-file FILE or set {TOKEN_ENV}")
    return _parse_url(url, *found, args.timeout)


def _token(args: argparse.Namespace) -> tuple[str, str] | None:
    """The bearer token from ``--token-file`` or the environment, and where it came from
    (its value never appears in a message); None if there is none."""
    if args.token_file:
        path = Path(args.token_file)
        try:
            token = path.read_text(encoding="utf-8").strip()
            mode = path.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _Refused(f"cannot read the token file {path}: {why}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            print(
                f"hubbub account: warning: {path} is readable by others (chmod 600 {path})",
                file=sys.stderr,
            )
        where = f"the token file {path}"
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        where = TOKEN_ENV
    if not token:
        if args.token_file:
            raise _Refused(f"{where} is empty")
        return None
    if _BEARER.fullmatch(token) is None:
        raise _Refused(
            f"{where} does not hold a bearer token (one line of letters, digits and -._~+/, "
            f"as hubbub gen-token makes)"
        )
    return token, where


def _parse_url(url: str, token: str, token_source: str, timeout: float) -> _Api:
    """The admin API at ``url`` (``http://host:port``, ``https://`` behind a TLS proxy, a
    path before ``/v1/`` too; ``host:port`` alone is taken for ``http://``)."""
    given = url if "://" in url else f"http://{url}"
    try:
        parts = urllib.parse.urlsplit(given)
        port = parts.port
    except ValueError as exc:
        raise _Usage(f"--api {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise _Usage(f"--api {url!r}: the admin API is http:// or https://")
    if not parts.hostname:
        raise _Usage(f"--api {url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise _Usage("--api: no credentials in the URL (give the token with --token-file)")
    if parts.query or parts.fragment:
        raise _Usage(f"--api {url!r}: no query or fragment")
    https = parts.scheme == "https"
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):
        prefix = prefix[: -len("/v1")]
    shown = urllib.parse.urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    return _Api(
        url=shown,
        https=https,
        host=parts.hostname,
        port=port or (443 if https else 80),
        prefix=prefix,
        token=token,
        token_source=token_source,
        timeout=timeout,
    )


def _api_failed(exc: _ApiError, name: str) -> Exception:
    """A refusal of the API about the account ``name``, in words (others as they are)."""
    if exc.code == "NO_SUCH_ACCOUNT":
        return _Refused(f"no account called {name} on the server")
    if exc.code == "ACCOUNT_EXISTS":
        return _Refused(f"an account called {name} exists already")
    return exc


def _api_create(args: argparse.Namespace, api: _Api) -> None:
    api.call("status", {})  # a wrong token or no server: said before asking for a password
    body = {"name": args.name, "password": _read_password(args, None)}
    if args.email:
        body["email"] = args.email
    try:
        answer = api.call("account/create", body, writes=True)
    except _ApiError as exc:
        raise _api_failed(exc, args.name) from None
    print(f"created the account {answer.get('account', args.name)} on the server at {api.url}")


def _api_reset(args: argparse.Namespace, api: _Api) -> None:
    api.call("status", {})
    body = {"name": args.name, "password": _read_password(args, None)}
    try:
        answer = api.call("account/reset", body, writes=True)
    except _ApiError as exc:
        raise _api_failed(exc, args.name) from None
    name = answer.get("account", args.name)
    print(f"set a new password for the account {name} on the server at {api.url}")


def _api_delete(args: argparse.Namespace, api: _Api) -> None:
    try:
        answer = api.call("account/delete", {"name": args.name}, writes=True)
    except _ApiError as exc:
        raise _api_failed(exc, args.name) from None
    print(f"deleted the account {answer.get('account', args.name)} on the server at {api.url}")
    logged_out = answer.get("logged_out")
    if isinstance(logged_out, list) and logged_out:
        print(f"logged out: {' '.join(str(nick) for nick in logged_out)}")


def _api_list(args: argparse.Namespace, api: _Api) -> None:
    answer = api.call("account/list", {})
    accounts = answer.get("accounts")
    if not isinstance(accounts, list):
        raise _Refused(f"{api.url} answered account/list without a list of accounts")
    for account in accounts:
        if not isinstance(account, dict):
            continue
        created = account.get("created")
        when = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            if isinstance(created, (int, float))
            else "?"
        )
        print(f"{account.get('name', '?')}\t{when}\t{account.get('email') or ''}".rstrip("\t"))
    count = len(accounts)
    print(f"{count} account{'s' if count != 1 else ''} on the server at {api.url}", file=sys.stderr)


# -- the database file -------------------------------------------------------------------------


def _database(config: Config, must_exist: bool) -> SqliteStorage | PostgresStorage:
    """The config's database, open: its PostgreSQL database when ``[storage] url`` is set,
    else its SQLite file. With ``must_exist`` a missing file is refused rather than created
    empty."""
    section = config.storage
    if section.url:
        storage = postgres_storage(section.url, section.pool_size, section.connect_timeout)
        storage.open()
        return storage
    if section.path == ":memory:":
        raise _Refused('the database is ":memory:": no accounts outlive a server run')
    path = config.resolve_path(section.path)
    if must_exist and not path.exists():
        raise _Refused(f"no database at {path} (give --db PATH or --config FILE)")
    sqlite = SqliteStorage(path)
    sqlite.open()
    return sqlite


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


def _read_password(args: argparse.Namespace, config: Config | None) -> str:
    """The password from standard input or the terminal, checked against ``config``'s
    rules (only for one line without NUL when ``config`` is None: the server judges)."""
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
    if config is None:
        if not password:
            raise _Refused("the password is empty")
        return password
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


def _find(storage: SqliteStorage | PostgresStorage, config: Config, name: str) -> AccountRecord:
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


def _delete(args: argparse.Namespace, config: Config) -> None:
    storage = _database(config, must_exist=True)
    try:
        record = _find(storage, config, args.name)
        if not storage.delete_account(record.folded):
            raise _Refused(f"the account {record.name} was deleted meanwhile")
    finally:
        storage.close()
    print(f"deleted the account {record.name}")


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


_API_ACTIONS: dict[str, Callable[[argparse.Namespace, _Api], None]] = {
    "create": _api_create,
    "reset": _api_reset,
    "delete": _api_delete,
    "list": _api_list,
}
