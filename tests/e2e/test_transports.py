"""The same chat over every plain listener kind: IPv4, IPv6 and a Unix socket."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import Config, ListenSection
from hubbub.net.app import App
from tests.cloaks import cloak_of
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.timeouts import TIMEOUT


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


async def chat(a: IRCTestClient, b: IRCTestClient) -> None:
    await a.register("alpha")
    await b.register("beta")
    await a.send("JOIN #t")
    await a.expect("366")
    await b.send("JOIN #t")
    await b.expect("366")
    await a.send("PRIVMSG #t :over the wire")
    msg = await b.expect("PRIVMSG")
    assert msg.params == ("#t", "over the wire")


async def test_ipv6_listener(app_factory: Callable[[Config], Any]) -> None:
    if not _has_ipv6():
        pytest.fail("this machine has no IPv6 loopback; the IPv6 listener cannot be tested")
    app: App = await app_factory(make_config(listen=(ListenSection(address="[::1]:0"),)))
    host, port = app.address()
    assert host == "::1"
    a = await IRCTestClient.connect(host, port)
    b = await IRCTestClient.connect(host, port)
    await chat(a, b)
    await a.send("WHOIS beta")
    whois = await a.expect("311")
    assert whois.params[3] == cloak_of("::1")
    await a.send("WHOIS alpha")
    actually = await a.expect("338")
    assert actually.params[3] == "0::1"  # an IPv6 address never starts with ':' on the wire
    await a.close()
    await b.close()


async def test_unix_listener_beside_tcp(
    app_factory: Callable[[Config], Any], tmp_path: Path
) -> None:
    path = tmp_path / "hubbub.sock"
    listen = (ListenSection(address="127.0.0.1:0"), ListenSection(address=f"unix:{path}"))
    app: App = await app_factory(make_config(listen=listen))
    a = await IRCTestClient.connect_unix(str(path))
    b = await IRCTestClient.connect(*app.address())
    await chat(a, b)
    await a.close()
    await b.close()


async def test_sigterm_tells_clients_why(tmp_path: Path) -> None:
    """`hubbub serve` as a real process: ready line, then SIGTERM closes clients with a reason."""
    args = ("--listen", "127.0.0.1:0", "--db", str(tmp_path / "h.db"))
    async with serve(*args, cwd=tmp_path) as (proc, port):
        client = await IRCTestClient.connect("127.0.0.1", port)
        await client.register("stayer")
        proc.send_signal(signal.SIGTERM)
        error = await client.expect("ERROR")
        assert "shutting down" in error.params[-1].lower()
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        await client.close()


LOW_LIMIT_THEN_RUN = """
import os, resource, sys
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
os.execv(sys.executable, [sys.executable, "-m", "hubbub", *sys.argv[1:]])
"""
"""Runs ``hubbub ARGS`` with a soft limit of 128 open files."""


async def test_more_clients_than_a_low_soft_open_files_limit(tmp_path: Path) -> None:
    """Started with a soft limit of 128 open files, the server raises it for its clients."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    clients = 300
    assert hard == resource.RLIM_INFINITY or hard > clients + 300, "the hard limit is too low"
    config = tmp_path / "hubbub.toml"
    config.write_text(
        '[[listen]]\naddress = "127.0.0.1:0"\n'
        f"[limits]\nmax_clients_per_ip = {clients}\nmax_clients = {clients}\n"
        f'[storage]\npath = "{tmp_path / "h.db"}"\n'
    )
    launcher = (sys.executable, "-c", LOW_LIMIT_THEN_RUN)
    connected: list[IRCTestClient] = []
    async with serve("--config", str(config), cwd=tmp_path, launcher=launcher) as (_, port):
        try:
            for i in range(clients):
                c = await IRCTestClient.connect("127.0.0.1", port)
                connected.append(c)
                await c.send(f"NICK many{i}", "USER u 0 * :many")
            for c in connected:
                await c.expect("001")
        finally:
            for c in connected:
                await c.close()
