"""A sans-I/O harness: a server core with fake sinks, driven line by line (no sockets)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from hubbub.config import Config, LimitsSection, default_config
from hubbub.protocol.message import Message, parse
from hubbub.server.core import Lane, Server
from hubbub.server.session import PeerInfo, Session
from tests.cloaks import CLOAKS

T = TypeVar("T")

Offload = Callable[[Callable[[], Any], Callable[[Any], None]], None]


def run_inline(work: Callable[[], T], done: Callable[[T], None]) -> None:
    done(work())


@dataclasses.dataclass
class TestHost:
    """A host the test scripts: how blocking work runs (inline by default), what a REHASH
    reads, which configs were applied and how often the core asked for a flush."""

    __test__ = False  # (not a test class, whatever its name)

    run: Offload = run_inline
    reload: Callable[[], Config | None] = lambda: None
    applied: list[Config] = dataclasses.field(default_factory=list)
    wakes: int = 0
    paused: bool = False
    lanes: list[Lane] = dataclasses.field(default_factory=list)
    """The lane of each piece of offloaded work, in order."""
    keys: list[str] = dataclasses.field(default_factory=list)
    """The key of each piece of offloaded work, in order."""

    def offload(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        lane: Lane = "storage",
        key: str = "",
        within: float | None = None,
        late: Callable[[], None] | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> None:
        self.lanes.append(lane)
        self.keys.append(key)
        self.run(work, done)

    def wake(self) -> None:
        self.wakes += 1

    def reload_config(self) -> Config | None:
        return self.reload()

    def config_applied(self, config: Config) -> None:
        self.applied.append(config)

    def pause_input(self, paused: bool) -> None:
        self.paused = paused


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSink:
    """Collects what the server writes to one client: a client that reads everything at
    once, or, after :meth:`stop_reading`, one whose transport holds everything it is sent."""

    def __init__(self, sendq: int = LimitsSection.sendq) -> None:
        self.data = bytearray()
        self.closed = False
        self.sendq = sendq
        self.held = 0
        """Bytes the transport holds (written while the client was not reading)."""
        self.reading = True

    def stop_reading(self) -> None:
        """From now on, what is written stays in the transport, counted by :meth:`room`."""
        self.reading = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.data += data
            if not self.reading:
                self.held += len(data)

    def room(self) -> int:
        return self.sendq - self.held

    def close(self) -> None:
        self.closed = True


class Client:
    """One fake client: send lines, read back parsed messages."""

    def __init__(self, server: Server, ip: str = "127.0.0.1") -> None:
        self.server = server
        self.sink = FakeSink(server.limits.sendq)
        session = server.connect(self.sink, PeerInfo(ip=ip))
        assert session is not None, "connection refused"
        self.session: Session = session
        self._read = 0

    def send(self, *lines: str) -> None:
        self.server.receive(self.session, [line.encode() for line in lines])

    def send_raw(self, data: bytes) -> None:
        self.server.receive(self.session, [data])

    def lines(self) -> list[str]:
        """Lines received since the last call."""
        self.server.flush()  # what the application's flusher does once per loop iteration
        text = bytes(self.sink.data[self._read :]).decode("utf-8", "replace")
        self._read = len(self.sink.data)
        return [line for line in text.split("\r\n") if line]

    def messages(self) -> list[Message]:
        """Messages received since the last call."""
        return [parse(line) for line in self.lines()]

    def commands(self) -> list[str]:
        return [m.command for m in self.messages()]

    def register(self, nick: str, caps: str = "") -> Client:
        if caps:
            self.send(
                "CAP LS 302", f"CAP REQ :{caps}", f"NICK {nick}", "USER u 0 * :Real Name", "CAP END"
            )
        else:
            self.send(f"NICK {nick}", "USER u 0 * :Real Name")
        received = self.messages()
        assert any(m.command == "001" for m in received), received
        return self

    @property
    def closed(self) -> bool:
        self.server.flush()
        return self.sink.closed


def replies(client: Client) -> list[tuple[str, tuple[str, ...]]]:
    """What the client received since last asked, as (command, params) pairs."""
    return [(m.command, m.params) for m in client.messages()]


def ask(client: Client, line: str) -> list[tuple[str, tuple[str, ...]]]:
    """Send one line and return the replies to it (earlier output is discarded)."""
    client.messages()
    client.send(line)
    return replies(client)


def make_server(clock: FakeClock | None = None, **limits: Any) -> Server:
    """A server with the default config but the tests' cloak secret; ``limits`` override
    [limits] keys (flood off)."""
    base = default_config()
    limits.setdefault("flood", False)
    config: Config = dataclasses.replace(
        base, limits=dataclasses.replace(LimitsSection(), **limits), cloaks=CLOAKS
    )
    return Server(config, clock=clock or FakeClock(), host=TestHost())


def host_of(server: Server) -> TestHost:
    """The scripted host of a server made by :func:`make_server`."""
    assert isinstance(server.host, TestHost)
    return server.host
