"""``hubbub chat --plain``: no UI. Each stdin line is sent, each arriving message printed.

Lines go to ``--to TARGET`` or else the first ``--join`` channel. Messages that arrive are
printed one per line as ``[#chan] <nick> text`` (``-nick-`` for a notice, ``* nick`` for an
action; a message of several lines on as many, indented), so the output is easy to read in
pipes and scripts. On end of input it sends ``QUIT``,
waits for the server to close the connection (so every line is delivered) and exits 0; a
connection that fails or is lost is reported on stderr with exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from dataclasses import replace
from typing import TextIO

from hubbub.client import (
    ChatMessage,
    Client,
    ClientError,
    Disconnected,
    ErroneousNick,
    NickInUse,
    NotConnected,
    Numeric,
    SaslFailed,
)
from hubbub.client.text import strip_formatting
from hubbub.protocol import numerics as n

_QUIET_ERRORS = {n.ERR_NICKNAMEINUSE, "437"}  # reported as NickInUse instead


def format_message(event: ChatMessage) -> str:
    """One line for one message: ``[#chan] <nick> text``, ``[#chan] -nick- text`` for a notice,
    ``[#chan] * nick text`` for an action. Formatting and control characters are removed; a
    message of several lines (``draft/multiline``) has its later lines on lines of their own,
    indented under its text."""
    first, *rest = [strip_formatting(line) for line in event.text.split("\n")]
    event = replace(event, text=first, source=strip_formatting(event.source))
    if event.action:
        body = f"* {event.source} {event.text}"
    elif event.notice:
        body = f"-{event.source}- {event.text}"
    else:
        body = f"<{event.source}> {event.text}"
    head = f"[{event.conversation}] {body}"
    indent = " " * (len(head) - len(first))
    return "\n".join([head, *(indent + line for line in rest)])


def _read_lines(fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    # A daemon thread reading the raw descriptor: works for terminals, pipes and regular files
    # alike (an event loop cannot watch a regular file), and, holding no lock of a buffered
    # reader, never holds up or crashes the interpreter's exit while it waits.
    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(queue.put_nowait, item)

    pending = b""
    try:
        while chunk := os.read(fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                put(raw.decode("utf-8", "replace").rstrip("\r"))
    except OSError:
        pass
    if pending:
        put(pending.decode("utf-8", "replace").rstrip("\r"))
    put(None)


async def run_plain(
    client: Client,
    target: str,
    stdin: int | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the line mode on ``client`` (not yet connected) until end of input; the exit code.

    ``stdin`` is a file descriptor to read lines from (default: standard input)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    source = stdin if stdin is not None else sys.stdin.fileno()

    def complain(text: str) -> None:
        print(f"hubbub chat: {strip_formatting(text)}", file=err, flush=True)

    try:
        await client.connect()
    except ClientError as exc:
        complain(str(exc))
        return 1

    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(
        target=_read_lines, args=(source, loop, lines), name="hubbub-stdin", daemon=True
    ).start()
    quitting = False
    lost: list[str] = []

    async def show_events() -> None:
        async for event in client:
            if isinstance(event, ChatMessage):
                if not event.from_self and not event.from_server:
                    print(format_message(event), file=out, flush=True)
            elif isinstance(event, NickInUse):
                what = "using" if event.during_registration else "try"
                complain(f"nick {event.nick} is in use; {what} {event.alternative}")
            elif isinstance(event, ErroneousNick):
                complain(
                    f"nick {event.nick} is not allowed ({event.reason}); using {event.alternative}"
                )
            elif isinstance(event, Numeric) and event.is_error:
                if event.code not in _QUIET_ERRORS:
                    where = " ".join(event.params[:-1])
                    complain(f"{where}: {event.text}" if where else event.text)
            elif isinstance(event, SaslFailed):
                complain(f"SASL authentication failed: {event.reason}")
            elif isinstance(event, Disconnected) and not quitting:
                lost.append(event.reason)
                return

    printer = asyncio.create_task(show_events())
    try:
        while True:
            get_line = asyncio.create_task(lines.get())
            done, _ = await asyncio.wait({get_line, printer}, return_when=asyncio.FIRST_COMPLETED)
            if get_line not in done:
                get_line.cancel()
                break
            line = get_line.result()
            if line is None:
                quitting = True
                await client.quit()
                break
            if line.strip():
                try:
                    await client.send_message(target, line)
                except NotConnected:
                    break
        await asyncio.wait({printer}, timeout=5)
    finally:
        printer.cancel()
        await client.close()
    if lost:
        complain(f"connection lost: {lost[0]}")
        return 1
    return 0
