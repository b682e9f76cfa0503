"""``hubbub chat``'s arguments and its start-up errors (before any screen is drawn)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import pytest

from hubbub.client import parse_address
from hubbub.net.app import App
from hubbub.protocol import is_valid_nick
from hubbub.tui.cli import configure_parser, default_nick, make_client, run
from tests.client.ngircd import Ngircd, free_port
from tests.timeouts import TIMEOUT


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hubbub chat")
    configure_parser(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse()
    assert args.address == "127.0.0.1:6667"
    assert args.nick is None
    assert args.join == []
    assert not args.plain
    assert not args.tls
    assert not args.no_typing
    assert parse("--no-typing").no_typing
    client = make_client(args, parse_address(args.address), reconnect=True)
    assert client.config.nick == default_nick()
    assert is_valid_nick(default_nick())
    assert str(client.address) == "127.0.0.1:6667"
    assert client.reconnect


def test_options_reach_the_client() -> None:
    args = parse(
        "irc.example.org",
        "--tls",
        "--insecure",
        "--nick",
        "Ann Smith",
        "--join",
        "a,#b",
        "--join",
        "#c",
        "--password",
        "pw",
        "--sasl-user",
        "ann",
        "--sasl-password",
        "s3",
        "--realname",
        "Ann S.",
    )
    address = parse_address(args.address, args.tls)
    client = make_client(args, address, reconnect=False)
    assert (client.address.host, client.address.port, client.address.tls) == (
        "irc.example.org",
        6697,
        True,
    )
    assert not client.verify_tls
    assert client.config.nick == "Ann_Smith"
    assert client.config.channels == ("#a", "#b", "#c")
    assert client.config.password == "pw"
    assert client.config.realname == "Ann S."
    assert client.config.sasl is not None
    assert (client.config.sasl.username, client.config.sasl.password) == ("ann", "s3")
    assert client.config.sasl.required  # a failed login ends the chat


def test_bad_address_and_missing_sasl_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("host:notaport")) == 2
    assert "bad port" in capsys.readouterr().err
    assert run(parse("--sasl-user", "ann")) == 2
    assert "--sasl-password" in capsys.readouterr().err


async def test_the_tui_reports_a_refused_connection_before_drawing() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub.tui",
        f"127.0.0.1:{free_port()}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"connection refused" in err
    assert out == b""


async def chat(*argv: str) -> tuple[int | None, str]:
    """Run ``python -m hubbub.tui`` with ``argv`` (no terminal); its status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub.tui",
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert out == b""  # said before any screen is drawn (or a line printed)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("mode", [(), ("--plain", "--join", "#c")])
async def test_a_failed_sasl_login_ends_the_chat(
    hubbub_server: App, ngircd: Ngircd, mode: tuple[str, ...]
) -> None:
    host, port = hubbub_server.address("irc")
    login = ("--sasl-user", "nobody", "--sasl-password", "wrong", *mode)
    status, err = await chat(f"{host}:{port}", *login)
    assert status == 1
    assert "SASL authentication failed" in err
    # ngircd offers no SASL at all: the login cannot happen either.
    status, err = await chat(ngircd.address, *login)
    assert status == 1
    assert "the server does not offer SASL" in err
