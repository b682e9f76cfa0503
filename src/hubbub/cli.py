"""The ``hubbub`` command: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import secrets
import sys
from pathlib import Path

from hubbub import __version__
from hubbub.config import (
    Config,
    ConfigError,
    ListenSection,
    StorageSection,
    admin_token_hash,
    default_config,
    format_issues,
    load_config,
)
from hubbub.passwords import hash_password


def _serve_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config file (default: built-in)")
    p.add_argument(
        "--listen",
        action="append",
        metavar="ADDR",
        help="listen on ADDR (host:port, [::1]:port or unix:/path) instead of the config's "
        "listeners; repeatable",
    )
    p.add_argument("--db", metavar="PATH", help="SQLite database file (default ./hubbub.db)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes sharing the TCP and TLS ports (SO_REUSEPORT), each a node of "
        "the [cluster] (0: one per CPU core)",
    )
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)


def _load(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config else default_config()
    if args.listen:
        listeners = tuple(ListenSection(address=a) for a in args.listen)
        config = dataclasses.replace(config, listen=listeners)
    if args.db:
        config = dataclasses.replace(config, storage=StorageSection(path=args.db))
    return config


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        prefix = f"{args.config}: " if args.config else "hubbub: "
        print(format_issues(exc, prefix=prefix), file=sys.stderr)
        return 1
    _setup_logging(args.log_level or config.logging.level)
    from hubbub import workers

    if args.worker is not None:
        config = workers.as_worker(config, args.worker)
    elif args.workers != 1:
        count = workers.worker_count(args.workers)
        problem = workers.workers_problem(config, count)
        if problem is not None:
            print(f"hubbub: {problem}", file=sys.stderr)
            return 1
        argv = [f"--config={args.config}"] if args.config else []
        argv += [f"--listen={address}" for address in args.listen or ()]
        argv += [f"--db={args.db}"] if args.db else []
        argv += [f"--log-level={args.log_level}"] if args.log_level else []
        return workers.supervise(argv, count)
    from hubbub.net.app import run

    return run(config, args.worker)


def cmd_check_config(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(format_issues(exc, prefix=f"{path}: "))
        return 1
    for warning in config.warnings():
        print(f"{path}: {warning}")
    print(f"{path}: ok")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                print("hubbub: the passwords differ", file=sys.stderr)
                return 1
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("hubbub: an empty password cannot be hashed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def cmd_gen_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    print(token)
    print(admin_token_hash(token))
    print(
        "the first line is the token for clients (Authorization: Bearer ...); put it, or the "
        "second line (its hash: the file then holds no secret), in [admin] tokens",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole ``hubbub`` command line."""
    parser = argparse.ArgumentParser(prog="hubbub", description="hubbub: IRC server and clients")
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run a server")
    _serve_parser(serve)
    serve.set_defaults(func=cmd_serve)

    from hubbub import account_cli
    from hubbub.bench import cli as bench_cli
    from hubbub.net import certs
    from hubbub.tui import cli as chat_cli

    for name, help_text, module in (
        ("chat", "terminal chat client", chat_cli),
        ("bench", "benchmarks against any IRC server", bench_cli),
        ("gen-cert", "make a self-signed TLS certificate for local use", certs),
        (
            "account",
            "create, reset, delete or list accounts (through a running server's admin API, or "
            "in the database)",
            account_cli,
        ),
    ):
        command = sub.add_parser(name, help=help_text)
        module.configure_parser(command)
        command.set_defaults(func=module.run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_check_config)

    hashpw = sub.add_parser("hash-password", help="hash a password for [auth] or [[oper]]")
    hashpw.add_argument("password", nargs="?", help="the password (default: prompt or stdin)")
    hashpw.set_defaults(func=cmd_hash_password)

    token = sub.add_parser("gen-token", help="make a bearer token for the admin API ([admin])")
    token.set_defaults(func=cmd_gen_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hubbub`` console script."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result
