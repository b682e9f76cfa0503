"""Helpers for driving the Textual app in tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from hubbub.client import Client
from hubbub.protocol import parse
from hubbub.tui.app import ChatApp
from tests.timeouts import TIMEOUT

SNAPSHOTS = Path(__file__).parent / "snapshots"
FIXED_TIME = datetime(2024, 5, 17, 9, 30).astimezone()


async def until(pilot: Pilot[int], condition: Callable[[], bool], what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (at most TIMEOUT seconds)."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def submit(pilot: Pilot[int], app: ChatApp, line: str) -> None:
    """Put ``line`` in the input box and press Enter (quicker than typing each key)."""
    app.query_one("#input", Input).value = line
    await pilot.press("enter")


def screen_text(app: ChatApp) -> str:
    """What the terminal shows, as plain text (one line per row, trailing spaces removed)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


def lines_of(app: ChatApp, name: str) -> list[str]:
    """The plain lines of conversation ``name`` (without timestamps)."""
    conv = app.model.get(name)
    return [] if conv is None else [line.plain() for line in conv.lines]


def sidebar(app: ChatApp) -> list[str]:
    """The sidebar labels, top to bottom."""
    return [conv.label() for conv in app.model.conversations.values()]


async def feed(app: ChatApp, *lines: str) -> None:
    """Deliver server lines to the app as if they came from the network."""
    client = app.client
    for line in lines:
        for event in client.session.receive(parse(line)):
            await app.handle_event(event)


def offline_app(nick: str = "ann") -> ChatApp:
    """An app whose client never connects: tests feed it lines with :func:`feed`."""
    client = Client("irc.example.test:6667", nick=nick)
    return ChatApp(client, clock=lambda: FIXED_TIME)


def check_snapshot(name: str, text: str) -> None:
    """Compare ``text`` with ``snapshots/NAME.txt``; HUBBUB_UPDATE_SNAPSHOTS=1 rewrites it."""
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("HUBBUB_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text + "\n")
        return
    if not path.exists():
        raise AssertionError(f"no snapshot {path}; run with HUBBUB_UPDATE_SNAPSHOTS=1 to make it")
    expected = path.read_text().rstrip("\n")
    assert text == expected, f"screen differs from {path}:\n{text}"
