"""mIRC formatting codes, parsed into styled spans (pure, for any front-end to draw).

IRC text may carry bold ``\\x02``, italics ``\\x1d``, underline ``\\x1f``, strikethrough
``\\x1e``, monospace ``\\x11``, reverse ``\\x16``, colours ``\\x03FG[,BG]`` (mIRC numbers
0-98, 99 for the default), hex colours ``\\x04RRGGBB[,RRGGBB]`` and reset ``\\x0f``, as
described in https://modern.ircdocs.horse/formatting.html. :func:`parse_formatting` turns a
text into :class:`Span` objects, each a piece of text and its :class:`Format`; other control
characters (ESC among them) are removed on the way, so the spans are safe to put on a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

FORMATTING_CODES = re.compile(
    r"\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"  # colour: ^C fg[,bg]
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"  # hex colour
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"  # bold, reset, monospace, reverse, italic, strike, underline
)
"""One formatting code, with its colour arguments."""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
"""Control characters (all but tab) that are not drawn: they could drive a terminal."""

MIRC_COLOURS: tuple[str, ...] = (
    # 0-15: mIRC's own palette (clients and terminals often use their own shades).
    "#ffffff", "#000000", "#00007f", "#009300", "#ff0000", "#7f0000", "#9c009c", "#fc7f00",
    "#ffff00", "#00fc00", "#009393", "#00ffff", "#0000fc", "#ff00ff", "#7f7f7f", "#d2d2d2",
    # 16-98: the extended colours, as listed by modern.ircdocs.horse.
    "#470000", "#472100", "#474700", "#324700", "#004700", "#00472c", "#004747", "#002747",
    "#000047", "#2e0047", "#470047", "#47002a", "#740000", "#743a00", "#747400", "#517400",
    "#007400", "#007449", "#007474", "#004074", "#000074", "#4b0074", "#740074", "#740045",
    "#b50000", "#b56300", "#b5b500", "#7db500", "#00b500", "#00b571", "#00b5b5", "#0063b5",
    "#0000b5", "#7500b5", "#b500b5", "#b5006b", "#ff0000", "#ff8c00", "#ffff00", "#b2ff00",
    "#00ff00", "#00ffa0", "#00ffff", "#008cff", "#0000ff", "#a500ff", "#ff00ff", "#ff0098",
    "#ff5959", "#ffb459", "#ffff71", "#cfff60", "#6fff6f", "#65ffc9", "#6dffff", "#59b4ff",
    "#5959ff", "#c459ff", "#ff66ff", "#ff59bc", "#ff9c9c", "#ffd39c", "#ffff9c", "#e2ff9c",
    "#9cff9c", "#9cffdb", "#9cffff", "#9cd3ff", "#9c9cff", "#dc9cff", "#ff9cff", "#ff94d3",
    "#000000", "#131313", "#282828", "#363636", "#4d4d4d", "#656565", "#818181", "#9f9f9f",
    "#bcbcbc", "#e2e2e2", "#ffffff",
)  # fmt: skip
"""The RGB value of each mIRC colour number, 0 to 98."""

DEFAULT_COLOUR = 99
"""The colour number meaning "the default foreground or background"."""

Colour = int | str
"""A colour: a mIRC colour number (0-98), or ``"#rrggbb"`` from a hex colour code."""


def colour_hex(colour: Colour) -> str:
    """The ``#rrggbb`` value of ``colour``."""
    return MIRC_COLOURS[colour] if isinstance(colour, int) else colour


@dataclass(frozen=True)
class Format:
    """How a piece of text is drawn. ``fg`` and ``bg`` are ``None`` for the default."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    strikethrough: bool = False
    monospace: bool = False
    reverse: bool = False
    fg: Colour | None = None
    bg: Colour | None = None


PLAIN = Format()
"""No formatting."""


@dataclass(frozen=True)
class Span:
    """A piece of text, all drawn one way."""

    text: str
    format: Format = PLAIN


_TOGGLES = {
    "\x02": "bold",
    "\x1d": "italic",
    "\x1f": "underline",
    "\x1e": "strikethrough",
    "\x11": "monospace",
    "\x16": "reverse",
}


def _number_colour(digits: str) -> int | None:
    value = int(digits)
    return None if value >= DEFAULT_COLOUR else value


def _apply(code: str, fmt: Format) -> Format:
    """The format after formatting code ``code`` (as matched by :data:`FORMATTING_CODES`)."""
    first = code[0]
    if first in _TOGGLES:
        name = _TOGGLES[first]
        return replace(fmt, **{name: not getattr(fmt, name)})
    if first == "\x0f":
        return PLAIN
    if len(code) == 1:  # a colour code alone resets both colours
        return replace(fmt, fg=None, bg=None)
    fg_text, comma, bg_text = code[1:].partition(",")
    fg: Colour | None
    bg: Colour | None
    if first == "\x03":
        fg = _number_colour(fg_text)
        bg = _number_colour(bg_text) if comma else fmt.bg
    else:
        fg = "#" + fg_text.lower()
        bg = "#" + bg_text.lower() if comma else fmt.bg
    return replace(fmt, fg=fg, bg=bg)


def clean(text: str) -> str:
    """``text`` without control characters (formatting codes included); a tab becomes a space."""
    return CONTROL_CHARACTERS.sub("", text).replace("\t", " ")


def parse_formatting(text: str) -> list[Span]:
    """``text`` as spans of the same format, in order; formatting codes are consumed and other
    control characters dropped, so the spans' texts joined are ``strip_formatting(text)``.
    Empty spans are left out, and neighbours with the same format are merged."""
    spans: list[Span] = []
    fmt = PLAIN

    def add(piece: str) -> None:
        piece = clean(piece)
        if not piece:
            return
        if spans and spans[-1].format == fmt:
            spans[-1] = Span(spans[-1].text + piece, fmt)
        else:
            spans.append(Span(piece, fmt))

    pos = 0
    for match in FORMATTING_CODES.finditer(text):
        add(text[pos : match.start()])
        fmt = _apply(match.group(), fmt)
        pos = match.end()
    add(text[pos:])
    return spans


def strip_formatting(text: str) -> str:
    """``text`` without mIRC formatting codes and without control characters (ESC included,
    so a message can never drive the terminal it is shown on); a tab becomes a space."""
    return clean(FORMATTING_CODES.sub("", text))
