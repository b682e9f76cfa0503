"""``hubbub chat``: its arguments and its entry point (the Textual app, or ``--plain``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from hubbub.client import Client, ClientError, SaslConfig, parse_address, sanitize_nick
from hubbub.client.text import Address

DEFAULT_ADDRESS = "127.0.0.1:6667"


def default_nick() -> str:
    """The user's login name, made into a valid nick."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = ""
    return sanitize_nick(login or "hubbub")


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add ``hubbub chat``'s arguments to ``p``."""
    p.add_argument(
        "address",
        nargs="?",
        default=DEFAULT_ADDRESS,
        metavar="HOST[:PORT]",
        help="server to connect to (default 127.0.0.1:6667; port 6697 with --tls; "
        "also [IPv6]:PORT, ircs://HOST, unix:/PATH)",
    )
    p.add_argument("--nick", default=None, help="nickname (default: your login name)")
    p.add_argument("--realname", default=None, help="real name shown in WHOIS")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument(
        "--insecure", action="store_true", help="with --tls, do not verify the certificate"
    )
    p.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="#CHANNEL",
        help="channel to join (repeatable)",
    )
    p.add_argument("--password", default=None, help="server password (PASS)")
    p.add_argument("--sasl-user", default=None, help="account name for SASL login")
    p.add_argument(
        "--sasl-password",
        default=None,
        help="password for SASL login (or set HUBBUB_SASL_PASSWORD)",
    )
    p.add_argument(
        "--strip-formatting",
        action="store_true",
        help="show messages without their colours, bold, italics... (mIRC formatting)",
    )
    p.add_argument(
        "--no-typing",
        action="store_true",
        help="do not tell others when you are typing (IRCv3 typing notifications); "
        "/set typing on|off changes it while running",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="no UI: send each stdin line, print each message that arrives; ends on EOF",
    )
    p.add_argument(
        "--to",
        default=None,
        metavar="TARGET",
        help="with --plain, where lines go (default: the first --join channel); "
        "without, a conversation to open",
    )


def _fail(text: str, code: int = 2) -> int:
    print(f"hubbub chat: {text}", file=sys.stderr)
    return code


def _channels(names: list[str]) -> list[str]:
    out = []
    for name in names:
        for part in name.split(","):
            part = part.strip()
            if part:
                out.append(part if part[0] in "#&+!" else "#" + part)
    return out


def make_client(args: argparse.Namespace, address: Address, *, reconnect: bool) -> Client:
    """The library client the arguments describe."""
    nick = sanitize_nick(args.nick) if args.nick else default_nick()
    sasl = None
    if args.sasl_user:
        password = args.sasl_password or os.environ.get("HUBBUB_SASL_PASSWORD", "")
        # Required: a login that fails ends the chat (docs/client.md) rather than going on
        # without the account, under a nick others may take for it.
        sasl = SaslConfig(args.sasl_user, password, required=True)
    return Client(
        address,
        nick=nick,
        realname=args.realname or nick,
        password=args.password,
        sasl=sasl,
        verify_tls=not args.insecure,
        channels=_channels(args.join),
        reconnect=reconnect,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``hubbub chat`` with parsed arguments; returns the exit status."""
    try:
        address = parse_address(args.address or DEFAULT_ADDRESS, args.tls)
    except ValueError as exc:
        return _fail(str(exc))
    if args.sasl_user and not (args.sasl_password or os.environ.get("HUBBUB_SASL_PASSWORD")):
        return _fail("--sasl-user needs --sasl-password (or HUBBUB_SASL_PASSWORD)")
    if args.plain:
        from hubbub.tui.plain import run_plain

        channels = _channels(args.join)
        target = args.to or (channels[0] if channels else None)
        if target is None:
            return _fail("--plain needs --join #CHANNEL or --to TARGET to know where lines go")
        client = make_client(args, address, reconnect=False)
        try:
            return asyncio.run(run_plain(client, target))
        except KeyboardInterrupt:
            return 130

    from hubbub.tui.app import run_app

    client = make_client(args, address, reconnect=True)
    try:
        return asyncio.run(
            run_app(
                client,
                open_query=args.to,
                strip_formatting=args.strip_formatting,
                send_typing=not args.no_typing,
            )
        )
    except KeyboardInterrupt:
        return 130
    except ClientError as exc:
        return _fail(str(exc), 1)


def main(argv: list[str] | None = None) -> int:
    """``python -m hubbub.tui``: the same as ``hubbub chat``."""
    parser = argparse.ArgumentParser(
        prog="hubbub chat", description="A terminal IRC client for hubbub or any IRC server."
    )
    configure_parser(parser)
    return run(parser.parse_args(argv))
