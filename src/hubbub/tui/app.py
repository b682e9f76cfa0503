"""The Textual app behind ``hubbub chat``.

Layout: conversations on the left (with unread and mention counts), the topic, messages and
the input line in the middle, members on the right, and a status line at the bottom. The app
only draws :class:`~hubbub.tui.model.ChatModel` and turns the input line into client calls;
events are read from the :class:`~hubbub.client.Client` in a worker, so typing never waits
for the network and the network never waits for typing. What the user sends (messages and
commands that go to the server) is queued and sent in order by another worker: flood
control may hold it for seconds (a paste of 20 lines), and the window goes on meanwhile.

History requests (what was missed on joining or after a reconnection, older pages, the
stretch around a search result) run in workers too; their lines go in place through the
model, which dedups them by msgid and places the "new messages" line from the read marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Input, Label, ListItem, ListView, Static

from hubbub.client import (
    Client,
    ClientError,
    Event,
    HistoryMessage,
    Join,
    NotConnected,
    Registered,
    RequestFailed,
    Unsupported,
)
from hubbub.client.formatting import (
    PLAIN,
    Colour,
    Format,
    colour_hex,
    parse_formatting,
    strip_formatting,
)
from hubbub.client.history import Ref, ref_types
from hubbub.client.text import ctcp
from hubbub.protocol import Message as IrcMessage
from hubbub.protocol import parse
from hubbub.protocol.numbers import parse_number
from hubbub.tui.commands import COMMANDS, Command, help_lines, parse_input
from hubbub.tui.completion import Completer
from hubbub.tui.log import KEEP, Anchor, ConversationLog, MessageText
from hubbub.tui.model import (
    DELETED_TEXT,
    SERVER,
    Change,
    ChatModel,
    Conversation,
    Kind,
    Line,
    LineKind,
    now,
)
from hubbub.tui.search import SearchQuery, SearchScreen, parse_search, result_text

__all__ = ["ChatApp", "ChatInput", "ConversationLog", "render_line", "run_app"]

NICK_COLOURS = (
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_cyan",
)


HISTORY_PAGE = 100
"""Lines asked for at a time: on joining, after a reconnection, scrolling back."""

SEARCH_LIMIT = 100
"""Results asked for by ``/search``."""

MARKREAD_DELAY = 1.0
"""Seconds a read marker waits before it is sent (reading on gives one ``MARKREAD``)."""

TYPING_INTERVAL = 3.0
"""Seconds between two ``typing=active`` notifications to a conversation (the spec's 3 s)."""

MAX_PASTE_LINES = 20
"""Lines of a paste sent as separate messages when the server does not take them as one
(``draft/multiline``); a longer paste is refused rather than flooding the conversation."""

NARROW = 80
"""Columns below which the member list is not shown (and the conversation list narrower):
at 60 columns the messages had 18 columns left."""

TINY = 50
"""Columns below which the conversation list is not shown either: at 40 columns the
messages and the input line had no room left at all."""

ALT_DIGITS = "123456789"
"""The digits Alt switches conversations with."""


def read_escape_digits_as_alt() -> bool:
    """Make ESC followed by a digit reach the app as Alt+digit; True if it had to be changed.

    That is what tmux, xterm (with ``metaSendsEscape``), the Linux console, GNOME Terminal and
    others send for Alt+digit, but Textual reads it as the character the Option key types on
    macOS (``¡ ™ £ ¢ ∞ § ¶ • ª``, for WezTerm there), so Alt+2 typed ``™`` into the input
    instead of switching conversations. Only the sequences go: typing those characters
    themselves (a macOS Option key, a UK keyboard's ``£``) still types them.
    """
    try:
        from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
    except ImportError:  # a Textual without that table has no such mapping to undo
        return False
    if not isinstance(ANSI_SEQUENCES_KEYS, dict):
        return False
    changed = False
    for digit in ALT_DIGITS:
        if isinstance(ANSI_SEQUENCES_KEYS.pop(f"\x1b{digit}", None), str):
            changed = True
    return changed


def nick_colour(nick: str) -> str:
    """A stable colour for ``nick`` (the same in every session)."""
    return NICK_COLOURS[zlib.crc32(nick.lower().encode()) % len(NICK_COLOURS)]


ANSI_COLOURS = (
    "bright_white",
    "black",
    "blue",
    "green",
    "bright_red",
    "red",
    "magenta",
    "yellow",
    "bright_yellow",
    "bright_green",
    "cyan",
    "bright_cyan",
    "bright_blue",
    "bright_magenta",
    "bright_black",
    "white",
)
"""The terminal colours mIRC colours 0-15 are drawn in (so the terminal's theme applies);
16-98 and hex colours are drawn in their RGB values."""


def _colour(colour: Colour | None) -> str | None:
    if colour is None:
        return None
    if isinstance(colour, int) and colour < len(ANSI_COLOURS):
        return ANSI_COLOURS[colour]
    return colour_hex(colour)


def format_style(fmt: Format) -> Style:
    """The Rich style of mIRC format ``fmt``; what it does not set stays as the line's style."""
    return Style(
        bold=fmt.bold or None,
        italic=fmt.italic or None,
        underline=fmt.underline or None,
        strike=fmt.strikethrough or None,
        reverse=fmt.reverse or None,
        color=_colour(fmt.fg),
        bgcolor=_colour(fmt.bg),
    )


def formatted(text: str, style: str = "", *, strip: bool = False) -> Text:
    """IRC ``text`` as Rich text in ``style``, its mIRC formatting drawn on top (or removed
    with ``strip``). The text is never read as markup: ``[bold]`` from the wire stays
    ``[bold]``, and control characters are dropped."""
    if strip:
        return Text(strip_formatting(text), style=style)
    out = Text(style=style)
    for span in parse_formatting(text):
        out.append(span.text, format_style(span.format) if span.format != PLAIN else None)
    return out


def render_line(
    line: Line,
    own_nick: str = "",
    *,
    strip: bool = False,
    focused: bool = False,
    clock: bool = True,
) -> Text:
    """A line as Rich text: ``HH:MM`` (unless not ``clock``) then the message, nick
    coloured, mentions highlighted, mIRC formatting drawn (or removed with ``strip``);
    ``focused`` (a search result) draws it in reverse."""
    text = _render_line(line, strip, clock)
    if focused:
        text.stylize("reverse")
    return text


def _body(text: MessageText, body: str, style: str, strip: bool) -> None:
    """Append a message's ``body`` to ``text`` (its time and nick so far): a body of several
    lines (``draft/multiline``) has its later lines indented under the first, not prefixed
    again (their own formatting each: formatting ends with a line on IRC); so do the rows
    the log wraps it onto (``body_at``)."""
    first, *rest = body.split("\n")
    indent = " " * text.cell_len
    text.body_at = len(text.plain)
    text.append_text(formatted(first, style, strip=strip))
    for line in rest:
        text.append("\n" + indent)
        text.append_text(formatted(line, style, strip=strip))


def _render_line(line: Line, strip: bool, clock: bool) -> Text:
    text = MessageText(line.time.strftime("%H:%M ") if clock else "", style="dim")
    text.body_at = 0
    nick = line.nick or ""
    nick_style = f"bold {nick_colour(nick)}" if not line.from_self else "bold"
    highlight = "bold yellow" if line.highlight else ""
    body = line.text
    if line.redacted:
        body, highlight, strip = DELETED_TEXT, "dim italic", True
    if line.kind is LineKind.MESSAGE and nick:
        text.append("<")
        text.append(nick, style=nick_style)
        text.append("> ")
        _body(text, body, highlight, strip)
    elif line.kind is LineKind.ACTION:
        text.append("* ")
        text.append(nick, style=nick_style)
        _body(text, " " + body, f"italic {highlight}".strip(), strip)
    elif line.kind is LineKind.NOTICE and nick:
        text.append("-")
        text.append(nick, style=nick_style)
        text.append("- ")
        _body(text, body, highlight, strip)
    elif line.kind is LineKind.DIVIDER:
        return Text(line.text, style="bold red", justify="center")
    elif line.kind is LineKind.EVENT:
        text.append_text(formatted(line.text, "dim italic", strip=strip))
    elif line.kind is LineKind.ERROR:
        text.append_text(formatted(line.text, "bold red", strip=strip))
    else:
        text.append_text(formatted(line.text, "cyan", strip=strip))
    return text


@dataclass(frozen=True)
class _Outgoing:
    """Something the user sent, waiting in the outbox (:meth:`ChatApp.send_later`)."""

    where: str
    """The key of the conversation it was sent from (where a failure is told)."""
    job: Callable[[], Awaitable[object]]
    failed: str
    """What a failure's message starts with."""


def paste_lines(text: str) -> list[str]:
    """The lines of a pasted ``text`` (any line ending), without blank lines at its ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


class ChatInput(Input):
    """The input line: Tab completes, Up and Down walk through what was typed before; a paste
    of several lines is posted as :class:`PastedLines` (to go as one message)."""

    class PastedLines(Message):
        """Several lines were pasted: ``text`` is them, with what the line held before
        around them (the line is emptied)."""

        def __init__(self, box: ChatInput, text: str) -> None:
            super().__init__()
            self.box = box
            self.text = text

        @property
        def control(self) -> ChatInput:
            """The input line (what ``@on(..., "#input")`` matches)."""
            return self.box

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("up", "history(-1)", "Previous line", show=False),
        Binding("down", "history(1)", "Next line", show=False),
    ]

    def __init__(
        self, complete: Callable[[str, int], tuple[str, int] | None], *, id: str | None = None
    ) -> None:
        super().__init__(placeholder="type a message, or /help", id=id)
        self._complete = complete
        self.history: list[str] = []
        self._history_index = 0
        self._draft = ""

    def remember(self, line: str) -> None:
        """Add a sent line to the input history."""
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._history_index = len(self.history)
        self._draft = ""

    def _on_paste(self, event: events.Paste) -> None:
        """A paste of several lines (outside a ``/command``) is not cut to its first line,
        as an input line does: it goes to the app, whole."""
        if len(paste_lines(event.text)) < 2 or self.value.startswith("/"):
            return  # (Input's own handler pastes it, its first line)
        at = self.cursor_position
        text = self.value[:at] + event.text + self.value[at:]
        self.value = ""
        event.prevent_default()
        event.stop()
        self.post_message(self.PastedLines(self, text))

    def action_complete(self) -> None:
        """Complete the word before the cursor."""
        result = self._complete(self.value, self.cursor_position)
        if result is not None:
            self.value, self.cursor_position = result

    def action_history(self, step: int) -> None:
        """Show the previous (-1) or next (+1) line of the input history."""
        if not self.history:
            return
        if self._history_index == len(self.history):
            self._draft = self.value
        index = max(0, min(len(self.history), self._history_index + step))
        self._history_index = index
        self.value = self.history[index] if index < len(self.history) else self._draft
        self.cursor_position = len(self.value)


class ChatApp(App[int]):
    """The terminal chat client."""

    TITLE = "hubbub chat"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    #sidebar { width: 22; border-right: solid $panel-lighten-2; }
    #sidebar > ListItem { padding: 0 1; }
    #sidebar > ListItem.mention Label { color: $warning; text-style: bold; }
    #sidebar > ListItem.unread Label { text-style: bold; }
    #centre { width: 1fr; }
    #topic { height: 1; background: $panel; padding: 0 1; }
    #logs { height: 1fr; }
    #logs RichLog { padding: 0 1; scrollbar-size-vertical: 1; }
    #typing { height: 1; padding: 0 1; color: $text-muted; text-style: italic; }
    #typing.idle { display: none; }
    #input { border: none; height: 1; padding: 0 1; background: $surface; }
    #members-box { width: 18; border-left: solid $panel-lighten-2; }
    #members-box.hidden { display: none; }
    #members { padding: 0 1; }
    #status { height: 1; background: $primary-background; padding: 0 1; }
    #main.-narrow #members-box { display: none; }
    #main.-narrow #sidebar { width: 16; }
    #main.-tiny #sidebar { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n,alt+down", "cycle(1)", "Next", show=False, priority=True),
        Binding("ctrl+p,alt+up", "cycle(-1)", "Previous", show=False, priority=True),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll(1)", "Scroll down", show=False),
        Binding("ctrl+end", "latest", "Latest messages", show=False),
        *[
            Binding(f"alt+{i}", f"go({i})", f"Conversation {i}", show=False, priority=True)
            for i in ALT_DIGITS
        ],
    ]

    def __init__(
        self,
        client: Client,
        *,
        open_query: str | None = None,
        clock: Callable[[], datetime] = now,
        strip_formatting: bool = False,
        send_typing: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        read_escape_digits_as_alt()
        self.client = client
        self.strip_formatting = strip_formatting
        """Show messages without their mIRC formatting (``--strip-formatting``)."""
        self.send_typing = send_typing
        """Tell others when the user is typing (``--no-typing``, ``/set typing off``)."""
        self.page = HISTORY_PAGE
        """Lines of history asked for at a time."""
        self.markread_delay = MARKREAD_DELAY
        """Seconds a read marker waits before it is sent."""
        self.monotonic = monotonic
        self.model = ChatModel(clock, monotonic)
        self.completer = Completer()
        self._open_query = open_query
        self._logs: dict[str, ConversationLog] = {}
        self._log_ids = 0
        self._sidebar_keys: list[str] = []
        self._sidebar_lock = asyncio.Lock()
        self._markread_timers: dict[str, Timer] = {}
        self._typing_sent: dict[str, tuple[str, float]] = {}
        """What was last told each conversation about our typing, and when."""
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        """What the user sent, waiting its turn (see :meth:`send_later`)."""

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            sidebar = ListView(id="sidebar")
            sidebar.can_focus = False
            yield sidebar
            with Vertical(id="centre"):
                yield Static("", id="topic")
                yield ContentSwitcher(id="logs")
                yield Static("", id="typing", classes="idle")
                yield ChatInput(self._complete, id="input")
            with VerticalScroll(id="members-box"):
                yield Static("", id="members")
        yield Static("", id="status")

    def on_resize(self, event: events.Resize) -> None:
        """Fit the layout to the terminal's width (see :data:`NARROW`, :data:`TINY`)."""
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        main = self.query_one("#main")
        main.set_class(width < NARROW, "-narrow")
        main.set_class(width < TINY, "-tiny")

    async def on_mount(self) -> None:
        self._fit(self.size.width)
        await self._ensure_log(SERVER)
        self.query_one("#logs", ContentSwitcher).current = self._logs[SERVER].id
        await self._show(self.model.info("type /help for commands and keys"))
        await self._refresh_all()
        self.query_one("#input", ChatInput).focus()
        self.run_worker(self._pump(), name="events", exclusive=False)
        self.run_worker(self._send_queued(), name="outbox", exclusive=False)
        self.set_interval(1.0, self._tick)
        if self._open_query:
            await self.run_command(Command("query", self._open_query))

    async def _ensure_log(self, key: str) -> ConversationLog:
        log = self._logs.get(key)
        if log is None:
            self._log_ids += 1
            log = ConversationLog(id=f"log-{self._log_ids}", key=key)
            log.display = False  # the switcher shows only the current one
            self._logs[key] = log
            await self.query_one("#logs", ContentSwitcher).mount(log)
        return log

    def log_of(self, name: str) -> ConversationLog | None:
        """The log widget of conversation ``name``, if it has one yet."""
        return self._logs.get(self.model.key(name))

    # -- events from the network --------------------------------------------------------------

    async def _pump(self) -> None:
        async for event in self.client:
            if not self.is_running:
                return  # the app is closing: its widgets are going
            try:
                await self.handle_event(event)
            except NoMatches:
                if self.is_running and not self._exit:
                    raise
                return  # the app closed while this event was drawn: nothing left to draw
        self.model.status = "disconnected"
        self._refresh_status()

    async def handle_event(self, event: Event) -> None:
        """Apply one client event to the model and redraw what it changed."""
        change = self.model.apply(event, self.client.state)
        await self._show(change)
        if isinstance(event, Join) and event.is_self:
            conv = self.model.get(event.channel)
            if conv is not None and not conv.detached:
                self._start_catch_up(conv)
            elif conv is not None:
                conv.catching_up = False  # a stretch of the past is shown: nothing to catch up
        elif isinstance(event, Registered) and self.model.missed_since is not None:
            since, self.model.missed_since = self.model.missed_since, None
            self.run_worker(self._catch_up_private(since), exclusive=False)
        for conv in list(self.model.conversations.values()):
            if conv.kind is Kind.QUERY and not conv.history_loaded:
                self._start_catch_up(conv)  # a new private conversation: what came before

    def _start_catch_up(self, conv: Conversation, since: datetime | None = None) -> None:
        conv.history_loaded = True
        conv.catching_up = True
        self.run_worker(self._catch_up(conv.name, since), exclusive=False)

    async def _show(self, change: Change, anchors: dict[str, Anchor] | None = None) -> None:
        for key, line in change.added:
            conv = self.model.conversations.get(key)
            if conv is not None:
                log = await self._ensure_log(key)
                log.add(self._render(conv, line), line)
        for key in change.reloaded:
            await self._redraw(key, (anchors or {}).get(key))
        if change.activate is not None:
            await self.switch_to(change.activate)
            return
        if change.conversations or any(k != self.model.active for k, _ in change.added):
            await self._refresh_sidebar()
        if change.members:
            self._refresh_members()
        if change.typing:
            self._refresh_typing()
        self._refresh_topic()
        self._refresh_status()
        if change.added or change.reloaded:
            self.call_after_refresh(self._check_read)

    def _render(self, conv: Conversation, line: Line) -> Text:
        focused = line.msgid is not None and line.msgid == conv.focus
        return render_line(line, strip=self.strip_formatting, focused=focused)

    async def _redraw(self, key: str, anchor: Anchor | None = None) -> None:
        """Draw conversation ``key`` anew (its lines changed in place)."""
        conv = self.model.conversations.get(key)
        if conv is None:
            return
        log = await self._ensure_log(key)
        lines = list(conv.lines)
        log.replace([self._render(conv, line) for line in lines], list(lines), anchor)

    # -- history ------------------------------------------------------------------------------

    def _limit(self) -> int:
        """The lines one history request gives at most (ours, or the server's limit)."""
        most = parse_number(self.client.state.isupport.get("CHATHISTORY") or "", lo=1)
        return min(self.page, most) if most is not None else self.page

    def _ref(self, line: Line) -> Ref:
        """A history bound for ``line``: its msgid when the server takes them, else its time."""
        types = ref_types(self.client.state.isupport)
        if line.msgid and "msgid" in types:
            return line.msgid
        return line.time.astimezone(UTC)

    async def _catch_up(self, name: str, since: datetime | None = None) -> None:
        """Fetch what ``name`` missed: after the last line seen before the (re)join, else
        after ``since``, else its latest lines; put it in place, with the "new messages"
        line where the user stopped reading."""
        conv = self.model.get(name)
        if conv is None:
            return
        resume = conv.resume_from
        try:
            if conv.kind is Kind.QUERY and "draft/read-marker" in self.client.state.caps:
                self.model.move_marker(conv, await self.client.read_marker(name))
            if resume is not None:
                after: Ref | None = self._ref(resume)
            else:
                after = since.astimezone(UTC) if since is not None else None
            try:
                found = await self.client.history_latest(name, after=after, limit=self._limit())
            except RequestFailed:
                if resume is None or after == resume.time.astimezone(UTC):
                    raise
                # the msgid is gone from the server's history: go by its time
                after = resume.time.astimezone(UTC)
                found = await self.client.history_latest(name, after=after, limit=self._limit())
        except ClientError as exc:
            conv.catching_up = False
            if not isinstance(exc, Unsupported | NotConnected):
                await self._show(self.model.info(f"history of {name}: {exc}", name, LineKind.ERROR))
            return
        conv.catching_up = False
        conv.resume_from = None
        boundary = conv.marker
        if boundary is None and after is not None:
            boundary = resume.time if resume is not None else since
        change = Change(conversations=True)
        lines = self.model.history_lines(found, self.client.state)
        if after is not None and len(found) >= self._limit():
            # More was missed than one page: show the latest alone; scrolling back goes on.
            self.model.replace_lines(conv, lines, change)
            added = lines
        else:
            added = self.model.merge(conv, lines, change)
        if not self.model.recount(conv) and conv.marker is None and after is not None:
            self.model.count_new(conv, added)
        self.model.place_divider(conv, boundary)
        change.reloaded.add(self.model.key(name))
        await self._show(change, self._divider_anchor(conv))

    def _divider_anchor(self, conv: Conversation) -> dict[str, Anchor]:
        """Show the "new messages" line near the top, if the active conversation has one."""
        index = conv.divider_index()
        key = self.model.key(conv.name)
        if index is None or key != self.model.active:
            return {}
        return {key: (index, 1)}

    async def _catch_up_private(self, since: datetime) -> None:
        """After a reconnection: the private conversations active meanwhile, caught up."""
        end = datetime.now(UTC) + timedelta(days=1)  # the server's clock may be ahead
        try:
            # (the later bound first: the limit counts from it, so the most recent come back)
            targets = await self.client.history_targets(end, since.astimezone(UTC))
        except ClientError:
            return
        state = self.client.state
        for target in targets:
            if state.is_channel(target.name) or state.is_me(target.name):
                continue
            conv = self.model.get(target.name)
            if conv is None:
                conv = self.model.open(target.name, Kind.QUERY)
                await self._refresh_sidebar()
            elif conv.catching_up or conv.detached:
                continue
            conv.resume_from = conv.last_history_line()
            self._start_catch_up(conv, since)

    async def load_older(self, name: str, *, page_up: bool = False) -> None:
        """Put the page of history before the first line of ``name`` above it (scrolling
        back); with ``page_up``, then scroll a page up into it."""
        conv = self.model.get(name)
        if conv is None or conv.loading or conv.oldest_reached or conv.kind is Kind.SERVER:
            return
        first = conv.first_history_line()
        conv.loading = True
        try:
            if first is None:
                found = await self.client.history_latest(name, limit=self._limit())
            else:
                found = await self.client.history(
                    name, before=self._ref(first), limit=self._limit()
                )
        except ClientError as exc:
            if isinstance(exc, Unsupported):
                conv.oldest_reached = True  # nothing to ask for, ever
            elif not isinstance(exc, NotConnected):
                await self._show(self.model.info(f"history of {name}: {exc}", name, LineKind.ERROR))
            return
        finally:
            conv.loading = False
        change = Change()
        lines = self.model.history_lines(found, self.client.state)
        added = self.model.merge(conv, lines, change, older=True)
        if len(found) < self._limit() or not added:
            conv.oldest_reached = True
            self.model.mark_start(conv, change)
        key = self.model.key(name)
        await self._show(change, {key: KEEP})
        log = self._logs.get(key)
        if page_up and log is not None and added:
            log.scroll_page_up(animate=False)

    async def load_newer(self, name: str) -> None:
        """In a stretch of the past: the page after its last line, below it; back to the
        live conversation once the present is reached."""
        conv = self.model.get(name)
        if conv is None or conv.loading or not conv.detached:
            return
        last = conv.last_history_line()
        if last is None:
            await self.jump_latest(name)
            return
        conv.loading = True
        try:
            found = await self.client.history(name, after=self._ref(last), limit=self._limit())
        except ClientError:
            return
        finally:
            conv.loading = False
        change = Change()
        self.model.merge(conv, self.model.history_lines(found, self.client.state), change)
        if len(found) < self._limit():
            conv.detached = False
        change.reloaded.add(self.model.key(name))
        await self._show(change, {self.model.key(name): KEEP})

    async def jump_latest(self, name: str) -> None:
        """Show the latest lines of ``name`` again (leaving a stretch of the past)."""
        conv = self.model.get(name)
        if conv is None:
            return
        conv.focus = None
        if not conv.detached:
            log = self._logs.get(self.model.key(name))
            if log is not None:
                log.following = True
                log.scroll_end(animate=False)
            return
        try:
            found = await self.client.history_latest(name, limit=self._limit())
        except ClientError as exc:
            await self._show(self.model.info(f"history of {name}: {exc}", name, LineKind.ERROR))
            return
        change = Change()
        self.model.replace_lines(conv, self.model.history_lines(found, self.client.state), change)
        conv.detached = False
        log = await self._ensure_log(self.model.key(name))
        log.following = True
        await self._show(change)

    async def open_around(self, result: HistoryMessage) -> None:
        """Open the conversation of a search result around it, the result highlighted."""
        name = result.conversation or result.target
        if not name:
            return
        conv = self.model.get(name)
        if conv is None:
            kind = Kind.CHANNEL if self.client.state.is_channel(name) else Kind.QUERY
            conv = self.model.open(name, kind)
            conv.history_loaded = True  # what is shown is the stretch around the result
        index = conv.index_of(result.msgid) if result.msgid else None
        if index is None:
            around: Ref = result.msgid or (result.time or datetime.now(UTC))
            try:
                found = await self.client.history(name, around=around, limit=self._limit())
            except ClientError as exc:
                await self._error(f"cannot open {name} there: {exc}")
                return
            lines = self.model.history_lines(found, self.client.state)
            change = Change()
            shown = {line.key for line in conv.lines if line.key is not None}
            if any(line.key in shown for line in lines):
                self.model.merge(conv, lines, change)
            else:
                self.model.replace_lines(conv, lines, change)
                conv.detached = True
        await self.switch_to(conv.name)
        conv.focus = result.msgid
        index = conv.index_of(result.msgid) if result.msgid else None
        await self._redraw(self.model.key(conv.name), (index, None) if index is not None else None)
        self._refresh_topic()

    # -- read markers -------------------------------------------------------------------------

    def _check_read(self) -> None:
        """The active conversation is read if its latest line is in view: move the marker
        there, and tell the server a moment later (once for a burst of lines)."""
        conv = self.model.current
        log = self._logs.get(self.model.active)
        if conv.kind is Kind.SERVER or log is None or not log.following or not self.app_focus:
            return
        if self.model.mark_viewed(conv):
            self._schedule_marker(self.model.active)

    def _schedule_marker(self, key: str) -> None:
        if key in self._markread_timers:
            return

        def fire() -> None:
            self._markread_timers.pop(key, None)
            self.run_worker(self._send_marker(key), exclusive=False)

        self._markread_timers[key] = self.set_timer(self.markread_delay, fire)

    async def _send_marker(self, key: str) -> None:
        conv = self.model.conversations.get(key)
        if conv is None or conv.marker is None or "draft/read-marker" not in self.client.state.caps:
            return
        if conv.sent_marker is not None and conv.marker <= conv.sent_marker:
            return
        sending = conv.marker
        try:
            kept = await self.client.mark_read(conv.name, sending)
        except ClientError:
            return
        conv.sent_marker = max(sending, kept) if kept is not None else sending

    async def on_app_focus(self, event: events.AppFocus) -> None:
        """Back in the terminal: what is in view is read now."""
        self._check_read()

    @on(ConversationLog.ReachedEnd)
    async def _reached_end(self, message: ConversationLog.ReachedEnd) -> None:
        if message.log.key != self.model.active:
            return
        self._check_read()
        if self.model.current.detached:
            self.run_worker(self.load_newer(self.model.current.name), exclusive=False)

    @on(ConversationLog.ReachedTop)
    async def _reached_top(self, message: ConversationLog.ReachedTop) -> None:
        if message.log.key == self.model.active:
            self.run_worker(self.load_older(self.model.current.name), exclusive=False)

    # -- typing -------------------------------------------------------------------------------

    @on(Input.Changed, "#input")
    async def _input_changed(self, message: Input.Changed) -> None:
        conv = self.model.current
        if not self.send_typing or conv.kind is Kind.SERVER:
            return
        if conv.kind is Kind.CHANNEL and not conv.joined:
            return
        value = message.value
        composing = bool(value.strip()) and (not value.startswith("/") or value.startswith("//"))
        key = self.model.active
        sent = self._typing_sent.get(key)
        clock = self.monotonic()
        if composing:
            if sent is None or sent[0] != "active" or clock - sent[1] >= TYPING_INTERVAL:
                self._typing(conv.name, key, "active")
        elif sent is not None and sent[0] == "active":
            self._typing(conv.name, key, "done")

    def _typing(self, name: str, key: str, state: str) -> None:
        """Tell ``name`` about our typing, after what was sent before (a message ends the
        others' "is typing", so an ``active`` for the next one must not overtake it)."""
        self._typing_sent[key] = (state, self.monotonic())

        async def send() -> None:
            with contextlib.suppress(ClientError, ValueError):
                await self.client.send_typing(name, state)

        self.send_later(send, "typing")

    def _typing_over(self, key: str, *, tell: bool) -> None:
        """We no longer type in ``key``: a message went (it says so itself), or the user
        moved on (``tell``: send ``done``)."""
        sent = self._typing_sent.pop(key, None)
        conv = self.model.conversations.get(key)
        if tell and sent is not None and sent[0] == "active" and conv is not None:
            self._typing(conv.name, key, "done")
            self._typing_sent.pop(key, None)

    def _refresh_typing(self) -> None:
        text = self.model.typing_line()
        bar = self.query_one("#typing", Static)
        bar.update(Text(text))
        bar.set_class(not text, "idle")

    def _tick(self) -> None:
        if self.model.expire_typing():
            self._refresh_typing()

    # -- drawing ------------------------------------------------------------------------------

    async def switch_to(self, name: str) -> None:
        """Make conversation ``name`` the visible one."""
        old = self.model.active
        focus = self.model.current.focus
        target = self.model.get(name)
        divider = target.divider_index() if target is not None else None
        if not self.model.activate(name):
            return
        conv = self.model.current
        if old != self.model.active:
            self._typing_over(old, tell=True)
            if focus is not None:
                await self._redraw(old)  # its search result is no longer highlighted
        log = await self._ensure_log(self.model.active)
        self.query_one("#logs", ContentSwitcher).current = log.id
        if old != self.model.active and conv.divider_index() != divider:
            await self._redraw(self.model.active, self._divider_anchor(conv).get(self.model.active))
        await self._refresh_all()
        self.call_after_refresh(self._check_read)

    async def _refresh_all(self) -> None:
        await self._refresh_sidebar()
        self._refresh_members()
        self._refresh_topic()
        self._refresh_typing()
        self._refresh_status()

    async def _refresh_sidebar(self) -> None:
        # One rebuild at a time: the event worker and a key press can both get here, and two
        # interleaved clear-and-extend rounds left every item twice in the list.
        async with self._sidebar_lock:
            await self._rebuild_sidebar()

    async def _rebuild_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar", ListView)
        while (keys := list(self.model.conversations)) != self._sidebar_keys:
            await sidebar.clear()
            await sidebar.extend([ListItem(Label(""), name=key) for key in keys])
            self._sidebar_keys = keys  # and again if the list changed while mounting
        for item in sidebar.query(ListItem):
            conv = self.model.conversations.get(item.name or "")
            if conv is None:
                continue
            item.query_one(Label).update(Text(conv.label()))  # Text: a nick is never markup
            item.set_class(conv.mentions > 0, "mention")
            item.set_class(conv.unread > 0, "unread")
        index = keys.index(self.model.active)
        if sidebar.index != index:
            sidebar.index = index

    def _refresh_members(self) -> None:
        box = self.query_one("#members-box")
        conv = self.model.current
        if conv.kind is not Kind.CHANNEL:
            box.add_class("hidden")
            return
        box.remove_class("hidden")
        members = self.client.state.members(conv.name) if conv.joined else []
        text = Text(f"{len(members)} here\n", style="dim")
        for m in members:
            text.append(m.prefix or " ", style="bold")
            text.append(m.nick + "\n", style=nick_colour(m.nick))
        self.query_one("#members", Static).update(text)

    def _refresh_topic(self) -> None:
        conv = self.model.current
        line = Text()
        if conv.kind is Kind.CHANNEL:
            chan = self.client.state.channel(conv.name)
            topic = chan.topic if chan is not None else ""
            if not conv.joined:
                line.append(f"{conv.name} (not joined: /join {conv.name})")
            elif strip_formatting(topic):
                line.append(f"{conv.name}: ")
                line.append_text(formatted(topic, strip=self.strip_formatting))
            else:
                line.append(f"{conv.name} (no topic)")
        elif conv.kind is Kind.QUERY:
            line.append(f"private conversation with {conv.name}")
        else:
            line.append("server messages · /join #channel to start · /help for commands and keys")
        if conv.detached:
            line = Text(f"{conv.name}: earlier messages · PageDown for newer, Ctrl+End: latest")
        self.query_one("#topic", Static).update(line)

    def _refresh_status(self) -> None:
        parts = [self.client.nick, str(self.client.address), self.model.status]
        if self.model.lag is not None:
            parts.append(f"lag {self.model.lag * 1000:.0f} ms")
        if self.client.state.away is not None:
            parts.append("away")
        self.query_one("#status", Static).update(Text(" │ ".join(parts)))

    # -- input --------------------------------------------------------------------------------

    def _complete(self, text: str, cursor: int) -> tuple[str, int] | None:
        state = self.client.state
        conv = self.model.current
        nicks: list[str] = []
        if conv.kind is Kind.CHANNEL:
            nicks = [m.nick for m in state.members(conv.name)]
        nicks += [c.name for c in self.model.conversations.values() if c.kind is Kind.QUERY]
        channels = [c.name for c in state.channels.values()]
        channels += [c.name for c in self.model.conversations.values() if c.kind is Kind.CHANNEL]
        return self.completer.complete(
            text,
            cursor,
            nicks=nicks,
            channels=channels,
            commands=COMMANDS,
            chantypes=state.chantypes,
            fold=lambda name: state.fold(name).casefold(),
        )

    @on(Input.Submitted, "#input")
    async def _submitted(self, message: Input.Submitted) -> None:
        box = self.query_one("#input", ChatInput)
        text = message.value
        parsed = parse_input(text) if text.strip() else ""
        # A message ends our typing by itself; a command or an empty line does not.
        self._typing_over(self.model.active, tell=not isinstance(parsed, str) or not parsed)
        box.value = ""
        if not text.strip():
            return
        box.remember(text)
        if isinstance(parsed, Command):
            await self.run_command(parsed)
        else:
            await self.say(parsed)

    @on(ListView.Selected, "#sidebar")
    async def _selected(self, message: ListView.Selected) -> None:
        key = message.item.name or SERVER
        conv = self.model.conversations.get(key)
        if conv is not None:
            await self.switch_to(conv.name)
        self.query_one("#input", ChatInput).focus()

    async def _error(self, text: str) -> None:
        await self._show(self.model.info(text, self.model.current.name, LineKind.ERROR))

    async def _info(self, text: str) -> None:
        await self._show(self.model.info(text, self.model.current.name))

    @on(ChatInput.PastedLines, "#input")
    async def _pasted(self, message: ChatInput.PastedLines) -> None:
        await self.say_lines(message.text)

    async def say_lines(self, text: str) -> None:
        """Send a paste of several lines to the active conversation: one ``draft/multiline``
        message when the server takes it, else one message per line (at most
        :data:`MAX_PASTE_LINES`); beyond the server's limits it is refused, with the reason."""
        lines = paste_lines(text)
        if len(lines) < 2:
            if lines:
                await self.say(lines[0])
            return
        conv = self.model.current
        body = "\n".join(lines)
        session = self.client.session
        limits = session.multiline_limits
        if conv.kind is not Kind.SERVER:
            if limits is not None and session.multiline_lines(conv.name, body) is None:
                most = ", ".join(
                    f"{n} {what}"
                    for n, what in ((limits.max_lines, "lines"), (limits.max_bytes, "bytes"))
                    if n is not None
                )
                await self._error(
                    f"not sent: {len(lines)} lines ({len(body.encode())} bytes) is more than"
                    f" this server takes in one message (at most {most})"
                )
                return
            if limits is None and len(lines) > MAX_PASTE_LINES:
                await self._error(
                    f"not sent: {len(lines)} lines would go as {len(lines)} messages (this"
                    f" server does not take several lines as one); at most {MAX_PASTE_LINES}"
                )
                return
        self._typing_over(self.model.active, tell=False)  # (a message ends it by itself)
        await self.say(body)

    async def say(self, text: str, *, action: bool = False) -> None:
        """Send ``text`` to the active conversation (in turn: see :meth:`send_later`)."""
        conv = self.model.current
        if conv.kind is Kind.SERVER:
            await self._error("this is the server window: /join #channel or /query nick first")
            return
        name = conv.name

        async def send() -> None:
            if conv.detached:
                await self.jump_latest(name)  # to see the message among the latest
            await self.client.send_message(name, text, action=action)

        self.send_later(send, "not sent")

    def send_later(self, job: Callable[[], Awaitable[object]], failed: str) -> None:
        """Run ``job`` (something that sends) after what the user sent before it, in the
        outbox worker: the client's flood control may hold a line for seconds, which must
        hold neither the keys nor the screen, and lines must go in the order they were
        typed. A failure is shown where the user was, after ``failed``."""
        self._outbox.put_nowait(_Outgoing(self.model.active, job, failed))

    async def _send_queued(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                await item.job()
            except (ClientError, ValueError) as exc:  # (the protocol's errors are ValueErrors)
                conv = self.model.conversations.get(item.where) or self.model.current
                text = f"{item.failed}: {exc}"
                await self._show(self.model.info(text, conv.name, LineKind.ERROR))

    async def run_command(self, cmd: Command) -> None:
        """Run one slash command."""
        if not cmd.name:
            await self._error("a command goes right after the /, as in /join #channel; /help")
            return
        handler = getattr(self, f"_cmd_{cmd.name}", None)
        if handler is None:
            await self._error(f"unknown command /{cmd.name}; /help lists them")
            return
        try:
            await handler(cmd)
        except NotConnected as exc:
            await self._error(f"/{cmd.name}: {exc}")

    async def _usage(self, name: str) -> None:
        await self._error(f"usage: {COMMANDS[name].usage}")

    def _channel_name(self, name: str) -> str:
        return name if self.client.state.is_channel(name) else "#" + name

    async def _cmd_help(self, cmd: Command) -> None:
        for line in help_lines(cmd.args):
            await self._info(line)

    async def _cmd_join(self, cmd: Command) -> None:
        names, key = cmd.split(2)
        channels = [self._channel_name(name) for name in names.split(",") if name]
        if not channels:
            await self._usage("join")
            return
        channel = channels[0]  # (/join #a,#b: the first is the one switched to)
        conv = self.model.get(channel)
        if conv is not None and conv.joined:
            await self.switch_to(channel)
            if len(channels) == 1:
                return
        else:
            self.model.expect_join(channel)
        line = ",".join(channels)
        self.send_later(lambda: self.client.join(line, key or None), "/join")

    async def _cmd_part(self, cmd: Command) -> None:
        first, rest = cmd.split(2)
        if first and self.client.state.is_channel(first):
            channel, reason = first, rest
        else:
            channel, reason = self.model.current.name, cmd.args
        if not self.client.state.is_channel(channel):
            await self._usage("part")
            return
        self.send_later(lambda: self.client.part(channel, reason), "/part")

    async def _cmd_msg(self, cmd: Command) -> None:
        target, text = cmd.split(2)
        if not target or not text:
            await self._usage("msg")
            return
        self.send_later(lambda: self.client.send_message(target, text), "/msg")

    async def _cmd_notice(self, cmd: Command) -> None:
        target, text = cmd.split(2)
        if not target or not text:
            await self._usage("notice")
            return
        self.send_later(lambda: self.client.send_notice(target, text), "/notice")

    async def _cmd_query(self, cmd: Command) -> None:
        nick, text = cmd.split(2)
        if not nick:
            await self._usage("query")
            return
        state = self.client.state
        conv = self.model.get(nick)
        if conv is None:
            conv = self.model.open(nick, Kind.CHANNEL if state.is_channel(nick) else Kind.QUERY)
        await self.switch_to(conv.name)
        if conv.kind is Kind.QUERY and not conv.history_loaded:
            self._start_catch_up(conv)
        if text:
            await self.say(text)

    async def _cmd_me(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("me")
            return
        await self.say(cmd.args, action=True)

    async def _cmd_nick(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("nick")
            return
        nick = cmd.args.split()[0]
        self.send_later(lambda: self.client.set_nick(nick), "/nick")

    async def _cmd_topic(self, cmd: Command) -> None:
        conv = self.model.current
        if conv.kind is not Kind.CHANNEL:
            await self._error("/topic works in a channel")
            return
        if not cmd.args:
            chan = self.client.state.channel(conv.name)
            topic = chan.topic if chan and chan.topic else "(no topic)"
            await self._info(f"topic of {conv.name}: {topic}")
            return
        channel, topic = conv.name, cmd.args
        self.send_later(lambda: self.client.set_topic(channel, topic), "/topic")

    async def _cmd_away(self, cmd: Command) -> None:
        async def away() -> None:
            await self.client.set_away(cmd.args or None)
            self._refresh_status()

        self.send_later(away, "/away")

    async def _cmd_whois(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("whois")
            return
        nick = cmd.args.split()[0]
        self.send_later(lambda: self.client.send_raw(f"WHOIS {nick}"), "/whois")

    def _this_channel(self) -> str | None:
        """The active conversation's channel, if it is one."""
        conv = self.model.current
        return conv.name if conv.kind is Kind.CHANNEL else None

    async def _cmd_names(self, cmd: Command) -> None:
        channel = cmd.split(2)[0] or self._this_channel()
        if not channel:
            await self._usage("names")
            return
        channel = self._channel_name(channel)
        conv = self.model.get(channel)
        if conv is not None and conv.joined:  # what the member list shows, in the window
            members = self.client.state.members(channel)
            names = " ".join(m.prefix + m.nick for m in members)
            await self._info(f"{len(members)} in {conv.name}: {names}")
            return
        self.model.ask_names(channel, self.model.current.name)
        self.send_later(lambda: self.client.send(IrcMessage("NAMES", (channel,))), "/names")

    async def _cmd_list(self, cmd: Command) -> None:
        args = tuple(cmd.args.split()[:2])
        await self.switch_to(SERVER)  # (a long list: it has a window of its own)
        self.send_later(lambda: self.client.send(IrcMessage("LIST", args)), "/list")

    async def _cmd_kick(self, cmd: Command) -> None:
        first, rest = cmd.split(2)
        channel = self._this_channel()
        if first and self.client.state.is_channel(first):
            channel = first
            first, rest = Command("kick", rest).split(2)
        if not channel or not first:
            await self._usage("kick")
            return
        params = (channel, first, rest) if rest else (channel, first)
        self.send_later(lambda: self.client.send(IrcMessage("KICK", params)), "/kick")

    async def _cmd_mode(self, cmd: Command) -> None:
        words = cmd.args.split()
        state = self.client.state
        if words and (state.is_channel(words[0]) or state.is_me(words[0])):
            target, modes = words[0], words[1:]
        else:
            target, modes = self._this_channel() or "", words
        if not target or (modes and modes[0][:1] not in "+-"):
            # (/mode bob +v would go as MODE #chan bob +v: "b" a ban on "+v", "o"...)
            await self._usage("mode")
            return
        params = (target, *modes)
        self.send_later(lambda: self.client.send(IrcMessage("MODE", params)), "/mode")

    async def _cmd_invite(self, cmd: Command) -> None:
        nick, channel = cmd.split(3)[:2]
        channel = channel or self._this_channel() or ""
        if not nick or not channel:
            await self._usage("invite")
            return
        params = (nick, self._channel_name(channel))
        self.send_later(lambda: self.client.send(IrcMessage("INVITE", params)), "/invite")

    async def _cmd_ctcp(self, cmd: Command) -> None:
        target, command, args = cmd.split(3)
        if not target or not command:
            await self._usage("ctcp")
            return
        request = ctcp(command.upper(), args)
        self.send_later(lambda: self.client.send(IrcMessage("PRIVMSG", (target, request))), "/ctcp")
        await self._info(f"CTCP {command.upper()} sent to {target}")

    async def _cmd_clear(self, cmd: Command) -> None:
        await self._show(self.model.clear(self.model.current))

    async def _cmd_search(self, cmd: Command) -> None:
        query = parse_search(cmd.args)
        if query.empty:
            await self._usage("search")
            return
        self.run_worker(self._search(query), exclusive=False)

    async def _search(self, query: SearchQuery) -> None:
        what = query.describe()
        try:
            results = await self.client.search(
                text=query.text or None, in_=query.in_, from_=query.from_, limit=SEARCH_LIMIT
            )
        except Unsupported:
            await self._error("/search: this server does not offer search (soju.im/search)")
            return
        except (ClientError, ValueError) as exc:
            await self._error(f"/search: {exc}")
            return
        if not results:
            await self._info(f"no messages found for {what}")
            return
        state = self.client.state

        def render(msg: HistoryMessage) -> Text:
            line = self.model.history_line(msg, state)
            if line is None:
                return Text(msg.text)
            return render_line(line, strip=self.strip_formatting, clock=False)

        rows = [result_text(msg, render, with_where=query.in_ is None) for msg in results]
        more = " (the latest)" if len(results) >= SEARCH_LIMIT else ""
        plural = "s" if len(results) != 1 else ""
        title = f"{len(results)} message{plural}{more} for {what}"
        await self.push_screen(SearchScreen(title, results, rows), self._search_chosen)

    def _search_chosen(self, result: HistoryMessage | None) -> None:
        if result is not None:
            self.run_worker(self.open_around(result), exclusive=False)

    async def _cmd_set(self, cmd: Command) -> None:
        name, value = cmd.split(2)
        if not name:
            await self._info(f"typing {'on' if self.send_typing else 'off'}")
            return
        if name.lower() != "typing" or value.lower() not in ("on", "off"):
            await self._usage("set")
            return
        self.send_typing = value.lower() == "on"
        if not self.send_typing:
            for key in list(self._typing_sent):
                self._typing_over(key, tell=True)
        told = "told" if self.send_typing else "not told"
        await self._info(f"typing {value.lower()}: others are {told} when you type")

    async def _cmd_raw(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("raw")
            return
        try:
            line = parse(cmd.args)
            line.serialize()
        except ValueError as exc:  # the protocol's errors are ValueErrors
            await self._error(f"/raw: {exc}")
            return
        self.send_later(lambda: self.client.send(line), "/raw")

    async def _cmd_close(self, cmd: Command) -> None:
        conv = self.model.current
        if conv.kind is Kind.SERVER:
            await self._error("the server window stays open; /quit to leave")
            return
        if conv.kind is Kind.CHANNEL and conv.joined:
            channel = conv.name

            async def part() -> None:
                with contextlib.suppress(NotConnected):
                    await self.client.part(channel, cmd.args)

            self.send_later(part, "/close")
        self.model.close(conv.name)
        log = self._logs.pop(self.model.key(conv.name), None)
        await self.switch_to(self.model.current.name)
        if log is not None:
            await log.remove()

    async def _cmd_quit(self, cmd: Command) -> None:
        async def quit() -> None:  # after what was sent before it
            await self.client.quit(cmd.args)
            self.exit(0)

        self.send_later(quit, "/quit")

    # -- key actions --------------------------------------------------------------------------

    async def action_cycle(self, step: int) -> None:
        """Next (1) or previous (-1) conversation."""
        await self.switch_to(self.model.conversations[self._step_key(step)].name)

    def _step_key(self, step: int) -> str:
        keys = list(self.model.conversations)
        return keys[(keys.index(self.model.active) + step) % len(keys)]

    async def action_go(self, number: int) -> None:
        """Conversation ``number`` (1-based) in the sidebar."""
        keys = list(self.model.conversations)
        if 0 < number <= len(keys):
            await self.switch_to(self.model.conversations[keys[number - 1]].name)

    def action_scroll(self, direction: int) -> None:
        """Scroll the messages a page up (-1) or down (1); up at the top loads older ones,
        down at the end of a stretch of the past newer ones."""
        log = self._logs.get(self.model.active)
        if log is None:
            return
        name = self.model.current.name
        if direction < 0:
            if log.at_top():
                self.run_worker(self.load_older(name, page_up=True), exclusive=False)
            else:
                log.scroll_page_up(animate=False)
        elif log.at_end() and self.model.current.detached:
            self.run_worker(self.load_newer(name), exclusive=False)
        else:
            log.scroll_page_down(animate=False)

    async def action_latest(self) -> None:
        """Back to the latest messages of this conversation."""
        await self.jump_latest(self.model.current.name)

    async def action_quit(self) -> None:
        """Quit: say goodbye to the server, then exit."""
        await self.client.quit()
        self.exit(0)


async def run_app(
    client: Client,
    open_query: str | None = None,
    *,
    strip_formatting: bool = False,
    send_typing: bool = True,
) -> int:
    """Connect ``client`` (errors propagate, before the screen is taken over), then run the
    app until the user quits; the exit status."""
    await client.connect()
    app = ChatApp(
        client,
        open_query=open_query,
        strip_formatting=strip_formatting,
        send_typing=send_typing,
    )
    try:
        await app.run_async()
    finally:
        await client.quit()
    return app.return_code or 0
