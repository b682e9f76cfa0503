"""Issue #14 at a real terminal: ``hubbub chat`` in tmux, against ``hubbub serve``.

Textual's own test driver (Pilot) hands the app key names such as ``alt+2``; a terminal sends
bytes (Alt+2 is ESC then ``2``), and what Textual makes of them is only tested here. The same
goes for what a hidden conversation's lines look like once it is shown again, and for the
escape sequences mIRC formatting becomes.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.ngircd import free_port, wait_listening
from tests.timeouts import TIMEOUT
from tests.tui.tmux import Tmux, chat_command

WIDTH, HEIGHT = 120, 40
LONG = " ".join(f"w{i:02}" for i in range(40))  # 159 characters in words of three


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """``hubbub serve`` on a free loopback port; its port."""
    port = free_port()
    command = [sys.executable, "-m", "hubbub", "serve", "--listen", f"127.0.0.1:{port}"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*command, "--db", str(tmp_path / "hubbub.db")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, lambda: proc.poll() is None)
        yield port
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
        log.close()


class RawUser:
    """Another user, speaking raw IRC over a blocking socket (so the test needs no loop)."""

    def __init__(self, port: int, nick: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester")
        self.expect(f" 001 {nick} ")

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def expect(self, fragment: str) -> str:
        """Read lines (answering PINGs) until one contains ``fragment``; that line."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                if fragment in line:
                    return line
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        raise AssertionError(f"{self.nick} never saw {fragment!r}")

    def close(self) -> None:
        self.sock.close()


def input_row(screen: str) -> str:
    """The input line's row: the row above the status line."""
    return screen.rstrip("\n").split("\n")[-2]


def start_chat(tmux: Tmux, port: int, *options: str) -> str:
    """``hubbub chat`` as ann in #a and #b; the pane, once #a is shown and #b listed."""
    pane = tmux.start(chat_command(port, "ann", *options, join=("#a", "#b")), WIDTH, HEIGHT)
    tmux.wait_for(pane, lambda s: "#a (no topic)" in s and " #b " in s, "ann in #a and #b")
    return pane


def test_alt_digits_switch_conversations(tmux: Tmux, server: int) -> None:
    # Textual reads ESC then a digit as the character macOS's Option+digit types (¡ ™ £ ...):
    # in tmux, xterm or the Linux console, Alt+2 typed "™" into the input instead.
    pane = start_chat(tmux, server)
    tmux.keys(pane, "M-3")
    screen = tmux.wait_for(pane, lambda s: "#b (no topic)" in s, "Alt+3 to show #b")
    tmux.keys(pane, "M-1")
    screen = tmux.wait_for(pane, lambda s: "server messages" in s, "Alt+1 to show the server")
    tmux.keys(pane, "Escape", "2")  # the same bytes, as two keys
    screen = tmux.wait_for(pane, lambda s: "#a (no topic)" in s, "ESC 2 to show #a")
    assert "type a message, or /help" in input_row(screen)  # nothing was typed
    assert not re.search("[¡™£¢∞§¶•ª]", screen)

    # Alt with a digit beyond the list does nothing; typed digits and Escape stay as they were.
    tmux.keys(pane, "M-9")
    tmux.type(pane, "/help")
    screen = tmux.wait_for(pane, lambda s: "Alt+1 … Alt+9" in s, "the help")
    assert "#a (no topic)" in screen
    tmux.keys(pane, "-l", "12 £ ™")
    screen = tmux.wait_for(pane, lambda s: "12 £ ™" in input_row(s), "typed text")


def test_lines_arriving_in_a_hidden_conversation_fill_the_width(tmux: Tmux, server: int) -> None:
    pane = start_chat(tmux, server)
    bob = RawUser(server, "bob")
    try:
        tmux.keys(pane, "M-3")  # view #b: its log gets a width
        tmux.wait_for(pane, lambda s: "#b (no topic)" in s, "#b")
        tmux.keys(pane, "M-2")  # and leave it
        tmux.wait_for(pane, lambda s: "#a (no topic)" in s, "#a")
        bob.send("JOIN #b")
        bob.expect(" 366 ")
        bob.send(f"PRIVMSG #b :{LONG}")
        tmux.wait_for(pane, lambda s: " #b (1) " in s, "the unread count of #b")
        tmux.type(pane, "/whois bob")
        tmux.keys(pane, "M-3")
        screen = tmux.wait_for(pane, lambda s: "<bob> w00" in s, "bob's line in #b")
        # The message column is about 76 wide: the words fill it, not 20 columns of it.
        row = next(r for r in screen.split("\n") if "<bob> w00" in r)
        assert "<bob> w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11 w12 w13 w14" in row, screen
        rows = [r for r in screen.split("\n") if re.search(r"\bw\d\d\b", r)]
        assert len(rows) == 3, screen

        tmux.keys(pane, "M-1")
        screen = tmux.wait_for(pane, lambda s: "bob the tester" in s, "the whois")
        row = next(r for r in screen.split("\n") if "bob the tester" in r)
        assert re.search(r"\d\d:\d\d bob .*bob the tester", row), screen  # on one row
    finally:
        bob.close()


@pytest.mark.parametrize("strip", [False, True])
def test_mirc_formatting_reaches_the_terminal(tmux: Tmux, server: int, strip: bool) -> None:
    pane = start_chat(tmux, server, *(["--strip-formatting"] if strip else []))
    bob = RawUser(server, "bob")
    try:
        bob.send("JOIN #a")
        bob.expect(" 366 ")
        bob.send("PRIVMSG #a :\x02bold\x02 \x0304red\x03 [bold]literal[/bold] \x1b[7mx")
        tmux.wait_for(pane, lambda s: "<bob> bold red [bold]literal[/bold] [7mx" in s, "the line")
        screen = tmux.capture(pane, escapes=True)
        row = next(r for r in screen.split("\n") if "literal" in r)
        # Bold is SGR 1, a colour SGR 38: in the line's text, or not at all when stripped.
        assert ("\x1b[1mbold" in row) is not strip, repr(row)
        assert bool(re.search(r"\x1b\[38;[0-9;]+mred", row)) is not strip, repr(row)
        assert ("bold red [bold]literal[/bold]" in row) is strip, repr(row)
        assert "\x1b[7m" not in row  # the ESC in the message was dropped
    finally:
        bob.close()
