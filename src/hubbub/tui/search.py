"""``/search``: what the words mean, and the window that lists the results.

``/search release notes`` searches everything the user may read; ``in:#chan`` (or
``in:nick``) and ``from:nick`` narrow it, anywhere among the words. The results come from the
server (``soju.im/search``), oldest first; choosing one opens its conversation around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from hubbub.client import HistoryMessage


@dataclass(frozen=True)
class SearchQuery:
    """What ``/search`` was asked: the words, and where and from whom."""

    text: str = ""
    in_: str | None = None
    from_: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing at all was asked."""
        return not (self.text or self.in_ or self.from_)

    def describe(self) -> str:
        """The query in words: ``"release notes" in #hubbub from bob``."""
        parts = [f'"{self.text}"'] if self.text else ["messages"]
        if self.in_:
            parts.append(f"in {self.in_}")
        if self.from_:
            parts.append(f"from {self.from_}")
        return " ".join(parts)


def parse_search(args: str) -> SearchQuery:
    """``in:#chan from:nick some words`` as a :class:`SearchQuery` (the prefixes are read
    anywhere, case-insensitively; an empty ``in:`` or ``from:`` is a word like any other)."""
    words: list[str] = []
    in_ = from_ = None
    for word in args.split():
        prefix, sep, value = word.partition(":")
        if sep and value and prefix.lower() == "in":
            in_ = value
        elif sep and value and prefix.lower() == "from":
            from_ = value
        else:
            words.append(word)
    return SearchQuery(" ".join(words), in_, from_)


def result_text(
    msg: HistoryMessage, render: Callable[[HistoryMessage], Text], *, with_where: bool = True
) -> Text:
    """One result as a row: date and time, the conversation, then the message as drawn."""
    out = Text()
    if msg.time is not None:
        out.append(msg.time.astimezone().strftime("%Y-%m-%d %H:%M "), style="dim")
    if with_where:
        out.append(f"{msg.conversation or msg.target} ", style="bold")
    out.append_text(render(msg))
    return out


class SearchScreen(ModalScreen[HistoryMessage | None]):
    """The results of a search over the chat: Enter (or a click) opens one, Esc closes."""

    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    #search-box {
        width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1;
    }
    #search-title { height: 1; text-style: bold; }
    #search-results { height: 1fr; border: none; }
    #search-help { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=False),
    ]

    def __init__(self, title: str, results: list[HistoryMessage], rows: list[Text]) -> None:
        super().__init__()
        self.title_text = title
        self.results = results
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield Static(Text(self.title_text), id="search-title")
            yield OptionList(*[Option(row) for row in self.rows], id="search-results")
            yield Static("Enter: open the conversation there · Esc: close", id="search-help")

    def on_mount(self) -> None:
        """Start on the newest result (the last one)."""
        options = self.query_one("#search-results", OptionList)
        options.highlighted = len(self.results) - 1
        options.focus()

    @on(OptionList.OptionSelected, "#search-results")
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(self.results[message.option_index])

    def action_close(self) -> None:
        """Close without choosing."""
        self.dismiss(None)
