"""What Textual makes of the bytes a terminal sends for Alt+digit, once the app has set it up.

(The tmux tests in test_tmux_terminal.py check the same through a real terminal.)
"""

from __future__ import annotations

from textual import events
from textual._xterm_parser import XTermParser

from hubbub.tui.app import read_escape_digits_as_alt


def keys(data: str) -> list[tuple[str, str | None]]:
    """The keys ``data`` is read as, all of it (the end of input stands for ESC's timeout)."""
    parser = XTermParser()
    tokens = [*parser.feed(data), *parser.feed("")]
    return [(t.key, t.character) for t in tokens if isinstance(t, events.Key)]


def test_escape_then_a_digit_is_alt_digit() -> None:
    read_escape_digits_as_alt()
    assert keys("\x1b2") == [("alt+2", "2")]
    assert keys("\x1b9") == [("alt+9", "9")]
    assert not read_escape_digits_as_alt()  # done once for good


def test_the_characters_themselves_are_still_typed() -> None:
    read_escape_digits_as_alt()
    assert keys("£") == [("pound_sign", "£")]
    assert keys("™") == [("trade_mark_sign", "™")]
    assert keys("2") == [("2", "2")]
    assert keys("\x1b") == [("escape", "\x1b")]
    assert keys("\x1b0") == [("º", "º")]  # Alt+0 is not ours
