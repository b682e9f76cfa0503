"""mIRC formatting parsed into spans (hubbub.client.formatting), pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.client.formatting import (
    MIRC_COLOURS,
    PLAIN,
    Format,
    Span,
    colour_hex,
    parse_formatting,
    strip_formatting,
)

B, C, H, IT, M, RS, R, S, U = "\x02", "\x03", "\x04", "\x1d", "\x11", "\x0f", "\x16", "\x1e", "\x1f"


def test_plain_text_is_one_plain_span() -> None:
    assert Format() == PLAIN
    assert parse_formatting("hello [bold]there[/bold]") == [Span("hello [bold]there[/bold]")]
    assert parse_formatting("") == []


def test_toggles() -> None:
    assert parse_formatting(f"a {B}b{B} {IT}i{IT} {U}u{U} {S}s{S} {M}m{M} {R}r{R} z") == [
        Span("a "),
        Span("b", Format(bold=True)),
        Span(" "),
        Span("i", Format(italic=True)),
        Span(" "),
        Span("u", Format(underline=True)),
        Span(" "),
        Span("s", Format(strikethrough=True)),
        Span(" "),
        Span("m", Format(monospace=True)),
        Span(" "),
        Span("r", Format(reverse=True)),
        Span(" z"),
    ]


def test_formats_combine_and_reset() -> None:
    assert parse_formatting(f"{B}{IT}{C}4,12both{RS} plain") == [
        Span("both", Format(bold=True, italic=True, fg=4, bg=12)),
        Span(" plain"),
    ]


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        # The forms of the colour code (modern.ircdocs.horse/formatting.html).
        (f"{C}3green", [Span("green", Format(fg=3))]),
        (f"{C}03green", [Span("green", Format(fg=3))]),
        (f"{C}0312", [Span("12", Format(fg=3))]),  # two digits are always read
        (f"{C}3112", [Span("12", Format(fg=31))]),
        (f"{C}4,12x", [Span("x", Format(fg=4, bg=12))]),
        (f"{C}4,x", [Span(",x", Format(fg=4))]),  # the comma is text
        (f"{C}4x{C}y", [Span("x", Format(fg=4)), Span("y")]),  # ^C alone resets
        (f"{C}4,5x{C}6y", [Span("x", Format(fg=4, bg=5)), Span("y", Format(fg=6, bg=5))]),
        (f"{C},5x", [Span(",5x")]),  # ^C, : reset and a comma
        (f"{C}99,99x", [Span("x")]),  # 99: the defaults
        (f"{C}4,5a{C}99b", [Span("a", Format(fg=4, bg=5)), Span("b", Format(bg=5))]),
        (f"{C}98x", [Span("x", Format(fg=98))]),
        (f"{C}٣x", [Span("٣x")]),  # only ASCII digits are colour numbers
        # Hex colours.
        (f"{H}FF0000red", [Span("red", Format(fg="#ff0000"))]),
        (f"{H}ff0000,00FF00x", [Span("x", Format(fg="#ff0000", bg="#00ff00"))]),
        (f"{H}ff00x", [Span("ff00x")]),  # not six digits: ^D alone, a reset
        (f"{C}4,5a{H}b", [Span("a", Format(fg=4, bg=5)), Span("b")]),
        # Codes that change nothing leave one span.
        (f"a{B}{B}b", [Span("ab")]),
        (f"{B}{RS}", []),
    ],
)
def test_colours(text: str, spans: list[Span]) -> None:
    assert parse_formatting(text) == spans


def test_reverse_keeps_the_colours_for_the_front_end_to_swap() -> None:
    assert parse_formatting(f"{C}3,13{R}Test!") == [
        Span("Test!", Format(reverse=True, fg=3, bg=13))
    ]


def test_control_characters_are_dropped() -> None:
    assert parse_formatting(f"a\x1b[2J{B}b\x07\x00\tc") == [
        Span("a[2J"),
        Span("b c", Format(bold=True)),
    ]


def test_colour_table() -> None:
    assert len(MIRC_COLOURS) == 99
    assert colour_hex(16) == "#470000"
    assert colour_hex(52) == "#ff0000"
    assert colour_hex(98) == "#ffffff"
    assert colour_hex(4) == "#ff0000"
    assert colour_hex("#123456") == "#123456"


CODES = st.sampled_from(
    [B, IT, U, S, M, R, RS, C, H, f"{C}4", f"{C}04,12", f"{C}99", f"{H}A0B1C2", f"{H}ffffff,000000"]
)


@given(st.lists(st.one_of(CODES, st.text(max_size=8)), max_size=12).map("".join))
def test_spans_hold_the_stripped_text(text: str) -> None:
    spans = parse_formatting(text)
    assert "".join(span.text for span in spans) == strip_formatting(text)
    assert all(span.text for span in spans)
    assert all(a.format != b.format for a, b in zip(spans, spans[1:], strict=False))
    for span in spans:
        assert not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in span.text)
        for colour in (span.format.fg, span.format.bg):
            assert colour is None or colour_hex(colour).startswith("#")
