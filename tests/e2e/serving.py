"""``hubbub serve`` as a real child process, for the tests that need a whole server process
(a signal, ``kill -9``, a process-wide limit)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.timeouts import TIMEOUT

HUBBUB: tuple[str, ...] = (sys.executable, "-m", "hubbub")
"""How to run the ``hubbub`` command."""


@contextlib.asynccontextmanager
async def serve(
    *args: str, cwd: Path, launcher: Sequence[str] = HUBBUB, log: list[str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``hubbub serve ARGS`` (logging at INFO) in a child process; yields it and the port of
    its first ``irc://127.0.0.1`` listener once it is listening. Its log is read all along
    (the server must never block on it) and kept in ``log`` when one is given; it is killed
    at the end if still running."""
    proc = await asyncio.create_subprocess_exec(
        *launcher,
        "serve",
        *args,
        "--log-level",
        "INFO",
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    seen: list[str] = [] if log is None else log

    async def find_port() -> int:
        while True:
            line = (await stderr.readline()).decode("utf-8", "replace")
            if not line:
                raise RuntimeError(f"hubbub serve exited: {''.join(seen)}")
            seen.append(line)
            found = re.search(r"listening on irc://127\.0\.0\.1:(\d+)", line)
            if found:
                return int(found.group(1))

    async def drain() -> None:
        while line := await stderr.readline():
            if log is not None:
                log.append(line.decode("utf-8", "replace"))

    drainer: asyncio.Task[None] | None = None
    try:
        port = await asyncio.wait_for(find_port(), TIMEOUT)
        drainer = asyncio.create_task(drain())  # the server must never block on its log
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        if drainer is not None:
            await asyncio.wait_for(drainer, TIMEOUT)
