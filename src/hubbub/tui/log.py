"""The message log of one conversation: wrapped at its real width, positioned on request.

Built on Textual's :class:`RichLog`, which wraps a line once, when it is written, at the log's
width at that moment; this log keeps every line's Rich text so that it can wrap them again
(shown again, terminal resized), rewrite them all (history put in place), and put a given
line at a given place on the screen (the "new messages" line, a search result, the line that
was at the top before older lines were put above it).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Final

from rich.console import Console
from rich.text import Text
from textual import events
from textual.events import Resize
from textual.message import Message
from textual.widgets import RichLog

from hubbub.tui.model import MAX_LINES

MIN_HANGING_WIDTH = 16
"""Cells a message's body needs beside its time and nick for the rows it wraps onto to be
indented under it; in a narrower log they start at the left edge instead."""


class MessageText(Text):
    """A message drawn as Rich text that knows where its body starts (``body_at``, a
    character offset in its first line): the log indents the rows it wraps onto under the
    body, as the later lines of a multiline message already are, not under the time."""

    __slots__ = ("body_at",)
    body_at: int


def hang(text: Text, width: int, console: Console) -> Text:
    """``text`` wrapped at ``width`` with a hanging indent when it is a :class:`MessageText`:
    its rows after the first start under its body. Each of its explicit lines (those of a
    multiline message) starts there already, and keeps to it when wrapped too."""
    body_at = getattr(text, "body_at", 0)
    if not body_at:
        return text
    lines = text.split("\n", allow_blank=True)
    indent = lines[0][:body_at].cell_len
    if width - indent < MIN_HANGING_WIDTH:
        return text
    pad = " " * indent
    rows: list[Text] = []
    for n, line in enumerate(lines):
        if n == 0:
            head, body = line[:body_at], line[body_at:]
        elif line.plain.startswith(pad):
            head, body = Text(pad), line[indent:]
        else:
            rows.append(line)  # (not drawn by render_line: leave it to the log)
            continue
        for i, row in enumerate(body.wrap(console, width - indent)):
            rows.append(Text.assemble(head if i == 0 else pad, row))
    out = Text("\n").join(rows)
    out.justify = text.justify
    return out


class _Keep:
    """Keep the line at the top of the view where it is (see :meth:`ConversationLog.replace`)."""


KEEP: Final = _Keep()
"""An anchor: the line at the top of the view stays there, whatever is added around it."""

Anchor = tuple[int, int | None] | _Keep
"""Where to show the lines after a rewrite: ``(index, rows_above)`` puts line ``index``
``rows_above`` rows below the top of the view (``None``: a third of the way down), or
:data:`KEEP`."""


class ConversationLog(RichLog):
    """The messages of one conversation, wrapped at the width the log really has.

    A log the switcher hides (``display: none``) has no width, so lines that arrive while it
    is hidden wait until it is shown; whenever its width changes (shown again, the terminal
    resized) every line is wrapped anew. It follows the end (new lines scroll it) as long
    as the user has not scrolled up.
    """

    class ReachedTop(Message):
        """The user scrolls up at the top: time for older lines."""

        def __init__(self, log: ConversationLog) -> None:
            super().__init__()
            self.log = log

    class ReachedEnd(Message):
        """The view has come to the last line (the user scrolled down, or it follows the
        end): the conversation is read, or, in a stretch of the past, newer lines are due."""

        def __init__(self, log: ConversationLog, *, by_user: bool) -> None:
            super().__init__()
            self.log = log
            self.by_user = by_user

    def __init__(self, *, id: str | None = None, key: str = "", max_lines: int = MAX_LINES) -> None:
        super().__init__(id=id, wrap=True, min_width=1, max_lines=None)
        self.can_focus = False
        self.key = key
        """The key of the conversation shown."""
        self._texts: deque[Text] = deque(maxlen=max_lines)
        self._keys: deque[object] = deque(maxlen=max_lines)
        self._starts: list[int] = []
        """The row each written line starts at (as many as lines written)."""
        self._wrapped_at = 0
        """The width the written lines are wrapped at (0: none written yet)."""
        self._waiting = 0
        """How many of the last lines are not written yet."""
        self._anchor: Anchor | None = None
        """Where to put the view at the next rewrite."""
        self.following = True
        """The view is at the end and stays there as lines arrive."""

    @property
    def texts(self) -> list[Text]:
        """Every line the log holds, written or waiting, oldest first."""
        return list(self._texts)

    def _width(self) -> int:
        return self.scrollable_content_region.width if self.display else 0

    def add(self, text: Text, key: object = None) -> None:
        """Append a line (``key`` identifies it for :meth:`replace`): written now if the log
        is shown at the width its lines have, else when it is next shown."""
        full = len(self._texts) == self._texts.maxlen
        self._texts.append(text)
        self._keys.append(key)
        width = self._width()
        if width and width == self._wrapped_at and not self._waiting and self._anchor is None:
            if full:
                self._drop_first()
            self._write(text, width, scroll_end=self.following)
        elif full:
            self._wrapped_at = 0  # the first written line is gone: rewrite them all
        else:
            self._waiting = min(self._waiting + 1, len(self._texts))

    def _drop_first(self) -> None:
        """Forget the rows of the first written line (the oldest line was dropped)."""
        if not self._starts:
            return
        rows = self._starts[1] if len(self._starts) > 1 else len(self.lines)
        del self._starts[0]
        self._starts = [start - rows for start in self._starts]
        self.lines = self.lines[rows:]
        self._start_line += rows
        self._line_cache.clear()
        self.virtual_size = self.virtual_size.with_height(len(self.lines))
        if not self.following:
            self.scroll_to(y=max(0, self.scroll_y - rows), animate=False, immediate=True)
        self.refresh()

    def _write(self, text: Text, width: int, *, scroll_end: bool) -> None:
        self._starts.append(len(self.lines))
        self.write(hang(text, width, self.app.console), width=width, scroll_end=scroll_end)

    def replace(
        self, texts: list[Text], keys: list[object] | None = None, anchor: Anchor | None = None
    ) -> None:
        """Hold ``texts`` instead of the current lines (``keys`` identify them), shown at
        ``anchor``; without one, at the end if the view followed it, else with the line at
        the top staying there."""
        if anchor is None and not self.following:
            anchor = KEEP
        if isinstance(anchor, _Keep):
            anchor = self._kept(keys or [None] * len(texts))
        self._texts.clear()
        self._keys.clear()
        self._texts.extend(texts)
        self._keys.extend(keys or [None] * len(texts))
        self._anchor = anchor
        if anchor is not None:
            self.following = False
        self._wrapped_at = 0
        self._catch_up()

    def row_of(self, index: int) -> int | None:
        """The row line ``index`` starts at, once written."""
        return self._starts[index] if 0 <= index < len(self._starts) else None

    def index_at(self, row: int) -> int | None:
        """The line that row ``row`` belongs to."""
        if not self._starts:
            return None
        return max(0, bisect.bisect_right(self._starts, row) - 1)

    def top_index(self) -> int | None:
        """The line at the top of the view."""
        return self.index_at(round(self.scroll_y))

    def _kept(self, keys: list[object]) -> tuple[int, int | None] | None:
        """The anchor that keeps the line now at the top of the view where it is, once the
        lines are ``keys``."""
        top = self.top_index()
        if top is None or top >= len(self._keys):
            return None
        key = self._keys[top]
        offset = round(self.scroll_y) - self._starts[top]
        for i, other in enumerate(keys):
            if other is not None and (other is key or other == key):
                return (i, -offset)
        return None

    def on_show(self) -> None:
        """Shown (again): write what arrived meanwhile, at the width the log has now."""
        self._catch_up()

    def on_resize(self, event: Resize) -> None:
        """Wrap every line again at the new width."""
        self._catch_up()

    def _catch_up(self) -> None:
        width = self._width()
        if not width:
            return
        # Every line is written at an explicit width, so RichLog need not defer anything.
        self._size_known = True
        if width == self._wrapped_at and self._anchor is None:
            texts = list(self._texts)[len(self._texts) - self._waiting :] if self._waiting else []
        else:
            if self._anchor is None and not self.following and self._wrapped_at:
                self._anchor = self._kept(list(self._keys))
            self._wrapped_at = width
            self.clear()
            self._starts = []
            texts = list(self._texts)
        self._waiting = 0
        for text in texts:
            self._write(text, width, scroll_end=False)
        anchor, self._anchor = self._anchor, None
        if isinstance(anchor, tuple):
            index, rows_above = anchor
            start = self.row_of(min(index, len(self._starts) - 1)) or 0
            if rows_above is None:
                rows_above = self.scrollable_content_region.height // 3
            self.following = False
            self.scroll_to(y=max(0, start - rows_above), animate=False, immediate=True)
            self.call_after_refresh(self._check_end)
        elif self.following:
            # (also when nothing was written: a log made shorter, by the typing line under
            # it, keeps its last line in view)
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Follow the end while the view is at it; say when it comes to the end."""
        super().watch_scroll_y(old_value, new_value)
        was = self.following
        self.following = new_value >= self.max_scroll_y
        if self.following and not was:
            self.post_message(self.ReachedEnd(self, by_user=True))

    def _check_end(self) -> None:
        if self.scroll_y >= self.max_scroll_y and not self.following:
            self.following = True
            self.post_message(self.ReachedEnd(self, by_user=False))

    def at_top(self) -> bool:
        """True when the view shows the first line."""
        return self.scroll_y <= 0

    def at_end(self) -> bool:
        """True when the view shows the last line."""
        return self.scroll_y >= self.max_scroll_y

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """The wheel turned up at the top: ask for older lines."""
        if self.at_top():
            self.post_message(self.ReachedTop(self))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """The wheel turned down at the end: say so (newer lines, in a stretch of the past)."""
        if self.at_end():
            self.post_message(self.ReachedEnd(self, by_user=True))
