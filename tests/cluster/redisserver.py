"""A real ``redis-server`` for the cluster tests: on 127.0.0.1, on a free port, with its data
(an append-only file) in a temporary directory; started and stopped by the tests, and
restartable in the middle of a test on the same port and data."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.timeouts import TIMEOUT

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` child process with ``appendfsync always``: what a client was told
    is written survives :meth:`restart`."""

    def __init__(self, data: Path, port: int | None = None) -> None:
        self.data = data
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL nodes are configured with (``[cluster] redis``)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait (at most the test timeout) until it answers PING."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.data),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--daemonize", "no",
                "--logfile", str(self.data / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.data / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited: {log[-2000:]}")
            if self.ping():
                return
            time.sleep(0.02)  # (a child process's port: nothing to await on)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        """Whether it answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (SIGTERM: it finishes writing its append-only file), then wait."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)

    def restart(self, down: float = 0.0) -> None:
        """Stop it, stay down ``down`` seconds, and start it again on the same port and data."""
        self.stop()
        if down:
            time.sleep(down)
        self.start()

    def flush(self) -> None:
        """Forget every key (between tests sharing the server)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(16).startswith(b"+OK")


@contextlib.contextmanager
def running_redis(data: Path) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped at the end."""
    server = RedisServer(data)
    server.start()
    try:
        yield server
    finally:
        server.stop()
