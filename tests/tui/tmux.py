"""Driving programs in a private tmux server, as a user at a real terminal would."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable

from tests.timeouts import TIMEOUT


class Tmux:
    """A private tmux server (its own socket) with one session."""

    def __init__(self, name: str | None = None) -> None:
        self.socket = name or f"hubbub-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.session = "hubbub"

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=TIMEOUT
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, width: int = 110, height: int = 60) -> str:
        """Start the session with ``command`` in its first pane; the pane's id."""
        return self.run(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(width),
            "-y",
            str(height),
            "-P",
            "-F",
            "#{pane_id}",
            command,
        ).strip()

    def split(self, count: int) -> list[str]:
        """``count`` more panes, laid out evenly, each waiting for :meth:`respawn`. (A program
        started before the layout settles can miss its terminal's resize.)"""
        panes = [
            self.run("split-window", "-t", self.session, "-P", "-F", "#{pane_id}", "cat").strip()
            for _ in range(count)
        ]
        self.run("select-layout", "-t", self.session, "even-vertical")
        return panes

    def respawn(self, pane: str, command: str) -> None:
        """Run ``command`` in ``pane`` instead of what runs there."""
        self.run("respawn-pane", "-k", "-t", pane, command)

    def pid(self, pane: str) -> int:
        return int(self.run("display-message", "-p", "-t", pane, "#{pane_pid}").strip())

    def capture(self, pane: str, *, escapes: bool = False) -> str:
        """What ``pane`` shows; with ``escapes``, with its colours and attributes as SGR
        escape sequences (``\x1b[1m`` for bold...)."""
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", pane)

    def keys(self, pane: str, *keys: str) -> None:
        """Press ``keys`` in tmux's notation (``M-2`` is Alt+2: ESC then 2, as a terminal
        sends it; ``Escape``, ``Enter``...)."""
        self.run("send-keys", "-t", pane, *keys)

    def type(self, pane: str, text: str) -> None:
        self.run("send-keys", "-t", pane, "-l", text)
        self.run("send-keys", "-t", pane, "Enter")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=TIMEOUT
        )

    def wait_for(self, pane: str, condition: Callable[[str], bool], what: str) -> str:
        """Capture ``pane`` until ``condition`` holds for its text (Python start-up and
        Textual's first frame take a while: twice TIMEOUT at most)."""
        deadline = time.monotonic() + 2 * TIMEOUT
        while True:
            screen = self.capture(pane)
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{screen}")
            time.sleep(0.1)


def chat_command(port: int, nick: str, *options: str, join: tuple[str, ...] = ("#tmux",)) -> str:
    """The shell command that runs ``hubbub chat [OPTIONS]`` against 127.0.0.1:``port``."""
    # Under pytest the panes inherit COLUMNS=80 and LINES=24, which would override the pane's
    # real size; drop them as a user's shell would not have them.
    args = [
        "env",
        "-u",
        "COLUMNS",
        "-u",
        "LINES",
        sys.executable,
        "-m",
        "hubbub.tui",
        f"127.0.0.1:{port}",
        "--nick",
        nick,
        *options,
    ]
    for channel in join:
        args += ["--join", channel]
    return shlex.join(args)
