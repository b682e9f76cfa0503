"""A throw-away PostgreSQL server for the tests: initdb in a temporary directory, listening
on 127.0.0.1 on a free port (its unix socket in that directory), run as the ``postgres``
system user when the tests run as root (PostgreSQL refuses root), stopped at the end.

Each test gets a database of its own (:meth:`PostgresServer.new_database`)."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.timeouts import TIMEOUT

TABLES = "history, history_buffers, read_markers, accounts, settings, channels"
"""Every table of the hubbub schema but ``schema_version`` (see :func:`empty`)."""


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb (Debian's layout), else the
    directory of an ``initdb`` on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster of the test session."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hubbub-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count()
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self.role = self._user.pw_name if self._user else pwd.getpwuid(os.geteuid()).pw_name
        self._started = False

    def _run(self, *args: str, timeout: float) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        """initdb and start, waiting (bounded) until it takes connections."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.role,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            timeout=120,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c max_connections=200 "
            "-c shared_buffers=32MB"
        )
        self._started = True
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(TIMEOUT * 2)),
            "start",
            timeout=TIMEOUT * 3,
        )
        deadline = time.monotonic() + TIMEOUT * 2
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # (polling a process we do not own: nothing to await)

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop at once and remove the files. Idempotent."""
        if self._started:
            self._started = False
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def empty(url: str) -> None:
    """Remove every row hubbub stored in the database at ``url`` (between the examples of a
    property test, cheaper than a new database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")


@contextlib.contextmanager
def running() -> Iterator[PostgresServer | None]:
    """A started server for the block, or None where PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
