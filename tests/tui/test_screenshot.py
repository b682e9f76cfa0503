"""The screenshot of ``hubbub chat`` in the docs is made by the real app from a scripted
session (``tests/tui/screenshot.py``). ``HUBBUB_UPDATE_SCREENSHOT=1`` writes it to docs/
(with the browser tests' screenshots); otherwise it is made in a temporary folder, and the
one in docs/ is checked to be there and referenced."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from tests.tui.screenshot import DOCS, FILENAME, make_screenshot


def svg_text(svg: str) -> str:
    """The text drawn in an SVG screenshot, its spaces as spaces."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_chat_screenshot(tmp_path: Path) -> None:
    folder = DOCS if os.environ.get("HUBBUB_UPDATE_SCREENSHOT") else tmp_path
    path = await make_screenshot(folder)
    text = svg_text(path.read_text())
    for shown in (
        "#hubbub: Release day: 2.0 ships at noon",
        "── new messages ──",
        "<dora> the plan for today:",
        "2. upload the wheels",
        "ann: can you check the docs build?",
        "bob is typing…",
        "#ops (3)",
        "erin (1) [1]",
        "ann │ irc.example.test:6667 │ connected",
    ):
        assert shown in text, shown
    # The multiline message's lines are under its text, not prefixed again.
    assert "<dora>" in text
    assert text.count("<dora>") == 1
    assert (DOCS / FILENAME).stat().st_size > 10_000
    for doc in ("README.md", "docs/client.md"):
        assert FILENAME in (DOCS.parent / doc).read_text(), doc
