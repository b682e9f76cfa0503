"""Issue #14's "Checked by" for history: ``hubbub chat`` in tmux against ``hubbub serve``.

- History after a reconnection: the connection is cut (a relay between the chat and the
  server drops it and turns reconnections away), others talk meanwhile, and once the chat is
  back the missed messages are in the conversation, after a "new messages" line, once each.
- ``/search``: the results window, and Enter opening the conversation around the result,
  which is highlighted, although it is older than the lines the chat had loaded.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.ngircd import free_port, wait_listening
from tests.timeouts import TIMEOUT
from tests.tui.proxy import Proxy
from tests.tui.test_tmux_terminal import RawUser, input_row
from tests.tui.tmux import Tmux, chat_command

WIDTH, HEIGHT = 120, 40
DIVIDER = "── new messages ──"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """``hubbub serve`` (history on, as by default; flood control off so that a test can
    fill a channel quickly) on a free loopback port; its port."""
    port = free_port()
    config = tmp_path / "hubbub.toml"
    config.write_text("[limits]\nflood = false\n")
    command = [sys.executable, "-m", "hubbub", "serve", "-c", str(config)]
    command += ["--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "hubbub.db")]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, lambda: proc.poll() is None)
        yield port
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
        log.close()


@pytest.fixture
def proxy(server: int) -> Iterator[Proxy]:
    """A relay to the server whose connections the test can cut."""
    relay = Proxy(server)
    try:
        yield relay
    finally:
        relay.close()


def rows_with(screen: str, text: str) -> list[str]:
    return [row for row in screen.split("\n") if text in row]


def test_history_after_a_reconnection(tmux: Tmux, server: int, proxy: Proxy) -> None:
    bob = RawUser(server, "bob")
    try:
        bob.send("JOIN #a")
        bob.expect(" 366 ")
        bob.send("PRIVMSG #a :before the break")
        pane = tmux.start(chat_command(proxy.port, "ann", join=("#a",)), WIDTH, HEIGHT)
        tmux.wait_for(pane, lambda s: "<bob> before the break" in s, "the history of #a")
        bob.send("PRIVMSG #a :seen live")
        tmux.wait_for(pane, lambda s: "<bob> seen live" in s, "a live line")

        proxy.cut()
        tmux.wait_for(pane, lambda s: "reconnecting" in s, "the chat to see the loss")
        bob.expect(" QUIT ")  # the server saw ann go: what follows she did not receive
        for i in range(1, 4):
            bob.send(f"PRIVMSG #a :missed {i}")
        bob.send("PING :sent")
        bob.expect("PONG")
        proxy.restore()

        screen = tmux.wait_for(
            pane, lambda s: "<bob> missed 3" in s and "│ connected" in s, "the missed messages"
        )
        for text in ("before the break", "seen live", "missed 1", "missed 2", "missed 3"):
            assert len(rows_with(screen, f"<bob> {text}")) == 1, screen
        rows = screen.split("\n")
        divider = [i for i, row in enumerate(rows) if DIVIDER in row]
        assert len(divider) == 1, screen
        after = [row for row in rows[divider[0] + 1 :] if "<bob>" in row]
        assert "<bob> missed 1" in after[0], screen
        assert screen.index("seen live") < screen.index(DIVIDER) < screen.index("missed 1")
        assert proxy.accepted >= 2  # it did come back through a new connection

        # Reading on: a new line arrives live, below, with no second divider.
        bob.send("PRIVMSG #a :and now live again")
        screen = tmux.wait_for(pane, lambda s: "<bob> and now live again" in s, "a live line")
        assert len(rows_with(screen, DIVIDER)) == 1
        assert screen.index("missed 3") < screen.index("and now live again")
    finally:
        bob.close()


def test_search_opens_an_older_message(tmux: Tmux, server: int) -> None:
    bob = RawUser(server, "bob")
    try:
        bob.send("JOIN #a")
        bob.expect(" 366 ")
        # More than the chat loads on joining (100 lines), so the result is not loaded yet.
        bob.send(
            "PRIVMSG #a :the zebra crossing is on the left",
            *[f"PRIVMSG #a :filler line {i}" for i in range(300)],
        )
        bob.send("PING :filled")
        bob.expect("PONG")
        pane = tmux.start(chat_command(server, "ann", join=("#a",)), WIDTH, HEIGHT)
        tmux.wait_for(pane, lambda s: "<bob> filler line 299" in s, "the latest of #a")

        tmux.type(pane, "/search zebra")
        screen = tmux.wait_for(pane, lambda s: "1 message for" in s, "the results window")
        assert '1 message for "zebra"' in screen
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d #a <bob> the zebra crossing", screen), screen
        assert "Enter: open the conversation there" in screen

        tmux.keys(pane, "Enter")
        screen = tmux.wait_for(
            pane,
            lambda s: "1 message for" not in s and "<bob> the zebra crossing" in s,
            "the conversation around the result",
        )
        assert "#a: earlier messages" in screen
        assert "filler line 299" not in screen
        colours = tmux.capture(pane, escapes=True)
        row = next(r for r in colours.split("\n") if "zebra" in r)
        # The result is drawn in reverse (SGR 7), the others not (the scrollbar is, after them).
        assert "\x1b[7m" in row[: row.index("zebra")], repr(row)
        other = next(r for r in colours.split("\n") if "filler line 0" in r)
        assert "\x1b[7m" not in other[: other.index("filler line 0")], repr(other)

        tmux.keys(pane, "C-End")
        screen = tmux.wait_for(pane, lambda s: "<bob> filler line 299" in s, "the latest again")
        assert "earlier messages" not in screen
        assert "type a message, or /help" in input_row(screen)
    finally:
        bob.close()
