"""As a new user would: a server in one tmux pane, ``hubbub chat`` in two others.

The test types into one client's pane and reads the other's screen with ``capture-pane``.
It runs once with ``hubbub serve`` in the server pane and once with Debian's ngircd.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import pytest

from tests.client.ngircd import NGIRCD, free_port, wait_listening, write_config
from tests.tui.tmux import Tmux, chat_command


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
