"""As a new user would: a server in one tmux pane, ``hubbub chat`` in two others.

The test types into one client's pane and reads the other's screen with ``capture-pane``.
It runs once with ``hubbub serve`` in the server pane and once with Debian's ngircd.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.client.ngircd import NGIRCD, free_port, wait_listening, write_config
from tests.timeouts import TIMEOUT


class Tmux:
    """A private tmux server (its own socket) with one session."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self.session = "hubbub"

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=TIMEOUT
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str) -> str:
        """Start the session with ``command`` in its first pane; the pane's id."""
        return self.run(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            "110",
            "-y",
            "60",
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

    def capture(self, pane: str) -> str:
        return self.run("capture-pane", "-p", "-t", pane)

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


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"hubbub-test-{os.getpid()}-{secrets.token_hex(4)}")
    yield session
    session.kill()


def chat_command(port: int, nick: str) -> str:
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
    ]
    return shlex.join([*args, "--join", "#tmux"])


def server_command(kind: str, directory: Path) -> tuple[list[str], int, str]:
    """The command that runs server ``kind`` in the foreground, its port, and a line it logs."""
    if kind == "ngircd":
        config = write_config(directory)
        return [NGIRCD, "-n", "-f", str(config.path)], config.port, 'Server "irc.ngircd.test"'
    port = free_port()
    directory.mkdir()
    command = [sys.executable, "-m", "hubbub", "serve", "--listen", f"127.0.0.1:{port}"]
    return [*command, "--db", str(directory / "hubbub.db")], port, f"irc://127.0.0.1:{port}"


@pytest.mark.parametrize("kind", ["hubbub", "ngircd"])
def test_a_message_typed_in_one_pane_appears_in_the_other(
    tmux: Tmux, tmp_path: Path, kind: str
) -> None:
    command, port, logged = server_command(kind, tmp_path / kind)
    server = tmux.start(shlex.join(["exec", *command]))
    server_pid = tmux.pid(server)
    try:
        wait_listening(port)
        ann, bob = tmux.split(2)
        tmux.respawn(ann, chat_command(port, "ann"))
        tmux.wait_for(ann, lambda s: "you joined #tmux" in s, "ann to join")
        tmux.respawn(bob, chat_command(port, "bob"))
        tmux.wait_for(bob, lambda s: "you joined #tmux" in s, "bob to join")
        tmux.wait_for(ann, lambda s: "2 here" in s, "bob in ann's member list")

        tmux.type(ann, "hello from the first pane")
        tmux.wait_for(bob, lambda s: "<ann> hello from the first pane" in s, "ann's message")
        tmux.type(bob, "and hello back")
        screen = tmux.wait_for(ann, lambda s: "<bob> and hello back" in s, "bob's message")
        assert "<ann> hello from the first pane" in screen  # ann sees her own line too
        assert "ann │ 127.0.0.1:" in screen  # the status line

        tmux.type(bob, "/quit")
        tmux.wait_for(ann, lambda s: "bob quit" in s, "bob's quit")
        assert logged in tmux.capture(server)  # the server pane shows the server's log
    finally:
        os.kill(server_pid, signal.SIGKILL)  # SIGHUP from tmux only makes ngircd reload
