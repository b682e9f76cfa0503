"""The fuzz target: one input of bytes, played by a few clients against a fresh server core.

Shared by the atheris harness (:mod:`tests.fuzz.atheris_core`, coverage-guided) and the tests
that replay the committed corpus. An input is a small program decoded byte by byte, so that
any mutation is still a meaningful input. Each action starts with an op byte: its low two bits
pick one of four clients (three registered, one not), the next two bits the action:

- 0: a command from the whole command table, picked by the next byte; its parameters are the
  bytes up to the next LF, each byte one character (Latin-1) sent as UTF-8: one byte away from
  the non-ASCII text that trips Python's string methods (``²`` passes ``isdigit`` and fails
  ``int``, U+0085 and U+00A0 count as white space);
- 1: raw bytes up to and including the next LF, through the line buffer (framing, the parser);
- 2: one to four table commands in a single read (the block fast path);
- 3: time passes (the next byte: seconds) and the timers run.

A client that has gone (QUIT, KILL, an error) connects again on its next action. After every
action the core's invariants must hold, and no handler may have failed: the core catches a
handler's exception, logs it and answers ``400 ERR_UNKNOWNERROR``; here either is a crash.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import argon2

from hubbub import passwords
from hubbub.config import LimitsSection, OperSection, default_config
from hubbub.protocol.caps import CAPS_BY_NAME
from hubbub.protocol.errors import LineTooLong
from hubbub.protocol.framing import LineBuffer
from hubbub.server import accounts
from hubbub.server.accounts import AccountService, attach
from hubbub.server.commands import COMMANDS
from hubbub.server.core import Server
from hubbub.server.sasl import make_scram_credentials
from hubbub.storage import SqliteStorage
from tests.fuzz.invariants import ErrorLog, check_invariants, check_replies
from tests.server.harness import Client, FakeClock

COMMAND_NAMES = sorted(COMMANDS)
"""Every command the server knows; an input picks one by index."""

ADDRESSES = ["127.0.0.1", "10.0.0.2", "2001:db8::3", "::1"]
OPER = OperSection(name="admin", password="secret")
ALL_CAPS = " ".join(name for name in CAPS_BY_NAME if name not in ("sasl", "sts"))


class _Conn:
    """A client as the transport sees it: bytes through a line buffer, as in ``tcp.py``."""

    def __init__(self, server: Server, ip: str) -> None:
        self.client = Client(server, ip=ip)
        self.buffer = LineBuffer()

    def feed(self, data: bytes) -> None:
        server, session = self.client.server, self.client.session
        if session.closed:
            return
        if self.buffer.idle and server.receive_block(session, data):
            return
        lines: list[bytes | LineTooLong] = self.buffer.feed(data)
        if lines:
            server.receive(session, lines)


class _Reader:
    """The input, read a byte or a line at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def __bool__(self) -> bool:
        return self.pos < len(self.data)

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def line(self, keep_lf: bool = False) -> bytes:
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk if keep_lf else chunk.removesuffix(b"\n")

    def command(self) -> bytes:
        name = COMMAND_NAMES[self.byte() % len(COMMAND_NAMES)].encode()
        params = self.line().decode("latin-1").encode()
        return name + b" " + params + b"\r\n" if params else name + b"\r\n"


_CHEAP_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@contextmanager
def cheap_passwords() -> Iterator[None]:
    """Account passwords hashed with tiny costs: real argon2 and SCRAM, without the tens of
    milliseconds per REGISTER that would starve the fuzzer."""
    with (
        mock.patch.object(passwords, "_HASHER", _CHEAP_HASHER),
        mock.patch.object(
            accounts,
            "make_scram_credentials",
            functools.partial(make_scram_credentials, iterations=16),
        ),
    ):
        yield


def make_world() -> tuple[Server, list[_Conn]]:
    """A server with accounts and an operator block, and four clients: three registered (in
    channels, with various capabilities), one still registering."""
    base = default_config()
    cfg = dataclasses.replace(base, opers=(OPER,), limits=LimitsSection())
    server = Server(cfg, clock=FakeClock())
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    conns = [_Conn(server, ip) for ip in ADDRESSES]
    conns[0].client.register("alice")
    conns[1].client.register("bob", caps="echo-message multi-prefix")
    conns[2].client.register("carol", caps=ALL_CAPS)
    conns[3].client.send("CAP LS 302")
    conns[0].client.send("JOIN #a,#b")
    conns[1].client.send("JOIN #a")
    conns[2].client.send("JOIN #b")
    for conn in conns:
        conn.client.lines()
    return server, conns


def run(data: bytes) -> None:
    """Play one input; raise :class:`HandlerFailure` or AssertionError on a bug."""
    with ErrorLog() as errors, cheap_passwords():
        _play(data, errors)


def _play(data: bytes, errors: ErrorLog) -> None:
    server, conns = make_world()
    errors.check()
    clock = server.clock
    assert isinstance(clock, FakeClock)
    reader = _Reader(data)
    while reader:
        op = reader.byte()
        index, action = op & 3, (op >> 2) & 3
        conn = conns[index]
        if conn.client.closed:
            conn = conns[index] = _Conn(server, ADDRESSES[index])
        if action == 0:
            conn.feed(reader.command())
        elif action == 1:
            conn.feed(reader.line(keep_lf=True))
        elif action == 2:
            conn.feed(b"".join(reader.command() for _ in range(reader.byte() % 4 + 1)))
        else:
            clock.advance(reader.byte())
            server.tick()
        errors.check()
        for each in conns:
            check_replies(each.client.lines())
        check_invariants(server)
