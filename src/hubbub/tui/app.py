"""The Textual app behind ``hubbub chat``.

Layout: conversations on the left (with unread and mention counts), the topic, messages and
the input line in the middle, members on the right, and a status line at the bottom. The app
only draws :class:`~hubbub.tui.model.ChatModel` and turns the input line into client calls;
events are read from the :class:`~hubbub.client.Client` in a worker, so typing never waits
for the network and the network never waits for typing.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.widgets import ContentSwitcher, Input, Label, ListItem, ListView, RichLog, Static

from hubbub.client import Client, ClientError, Event, Join, NotConnected
from hubbub.client.formatting import (
    PLAIN,
    Colour,
    Format,
    colour_hex,
    parse_formatting,
    strip_formatting,
)
from hubbub.tui.commands import COMMANDS, Command, help_lines, parse_input
from hubbub.tui.completion import Completer
from hubbub.tui.model import MAX_LINES, SERVER, Change, ChatModel, Kind, Line, LineKind, now

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


def render_line(line: Line, own_nick: str = "", *, strip: bool = False) -> Text:
    """A line as Rich text: ``HH:MM`` then the message, nick coloured, mentions highlighted,
    mIRC formatting drawn (or removed with ``strip``)."""
    text = Text(line.time.strftime("%H:%M "), style="dim")
    nick = line.nick or ""
    nick_style = f"bold {nick_colour(nick)}" if not line.from_self else "bold"
    highlight = "bold yellow" if line.highlight else ""
    if line.kind is LineKind.MESSAGE and nick:
        text.append("<")
        text.append(nick, style=nick_style)
        text.append("> ")
        text.append_text(formatted(line.text, highlight, strip=strip))
    elif line.kind is LineKind.ACTION:
        text.append("* ")
        text.append(nick, style=nick_style)
        text.append_text(formatted(" " + line.text, f"italic {highlight}".strip(), strip=strip))
    elif line.kind is LineKind.NOTICE and nick:
        text.append("-")
        text.append(nick, style=nick_style)
        text.append("- ")
        text.append_text(formatted(line.text, highlight, strip=strip))
    elif line.kind is LineKind.EVENT:
        text.append_text(formatted(line.text, "dim italic", strip=strip))
    elif line.kind is LineKind.ERROR:
        text.append_text(formatted(line.text, "bold red", strip=strip))
    else:
        text.append_text(formatted(line.text, "cyan", strip=strip))
    return text


class ConversationLog(RichLog):
    """The messages of one conversation, wrapped at the width the log really has.

    :class:`RichLog` wraps a line once, when it is written, at the log's width at that moment.
    A log the switcher hides (``display: none``) has no width, so lines written to it were
    wrapped at ``min_width`` columns for good, and a resized terminal never re-wrapped anything.
    This log keeps the lines' Rich texts and writes them only at a known width: lines that
    arrive while it is hidden wait until it is shown, and whenever its width changes (shown
    again, or the terminal resized) every line is wrapped anew.
    """

    def __init__(self, *, id: str | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(id=id, wrap=True, min_width=1, max_lines=max_lines)
        self.can_focus = False
        self._texts: deque[Text] = deque(maxlen=max_lines)
        self._wrapped_at = 0
        """The width the written lines are wrapped at (0: none written yet)."""
        self._waiting = 0
        """How many of the last lines are not written yet."""

    @property
    def texts(self) -> list[Text]:
        """Every line the log holds, written or waiting, oldest first."""
        return list(self._texts)

    def _width(self) -> int:
        return self.scrollable_content_region.width if self.display else 0

    def add(self, text: Text) -> None:
        """Append a line: written now if the log is shown at the width its lines have, else
        when it is next shown."""
        self._texts.append(text)
        width = self._width()
        if width and width == self._wrapped_at and not self._waiting:
            self.write(text, width=width)
        else:
            self._waiting = min(self._waiting + 1, len(self._texts))

    def replace(self, texts: list[Text]) -> None:
        """Hold ``texts`` instead of the current lines (a conversation whose history arrived)."""
        self._texts.clear()
        self._texts.extend(texts)
        self._wrapped_at = 0
        self._catch_up()

    def on_show(self) -> None:
        """Shown (again): write what arrived meanwhile, at the width the log has now."""
        self._catch_up()

    def on_resize(self, event: Resize) -> None:
        """Wrap every line again at the new width; RichLog's own handler, which Textual runs
        after this one, writes what was written before the log's size was first known."""
        self._catch_up()

    def _catch_up(self) -> None:
        width = self._width()
        if not width:
            return
        if width == self._wrapped_at:
            texts = list(self._texts)[len(self._texts) - self._waiting :] if self._waiting else []
        else:
            self._wrapped_at = width
            self.clear()
            texts = list(self._texts)
        self._waiting = 0
        for text in texts:
            self.write(text, width=width, scroll_end=False)
        if texts:
            self.scroll_end(animate=False, immediate=False, x_axis=False)


class ChatInput(Input):
    """The input line: Tab completes, Up and Down walk through what was typed before."""

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
    #input { border: none; height: 1; padding: 0 1; background: $surface; }
    #members-box { width: 18; border-left: solid $panel-lighten-2; }
    #members-box.hidden { display: none; }
    #members { padding: 0 1; }
    #status { height: 1; background: $primary-background; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n,alt+down", "cycle(1)", "Next", show=False, priority=True),
        Binding("ctrl+p,alt+up", "cycle(-1)", "Previous", show=False, priority=True),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll(1)", "Scroll down", show=False),
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
    ) -> None:
        super().__init__()
        read_escape_digits_as_alt()
        self.client = client
        self.strip_formatting = strip_formatting
        """Show messages without their mIRC formatting (``--strip-formatting``)."""
        self.model = ChatModel(clock)
        self.completer = Completer()
        self._open_query = open_query
        self._logs: dict[str, ConversationLog] = {}
        self._log_ids = 0
        self._sidebar_keys: list[str] = []
        self._sidebar_lock = asyncio.Lock()

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            sidebar = ListView(id="sidebar")
            sidebar.can_focus = False
            yield sidebar
            with Vertical(id="centre"):
                yield Static("", id="topic")
                yield ContentSwitcher(id="logs")
                yield ChatInput(self._complete, id="input")
            with VerticalScroll(id="members-box"):
                yield Static("", id="members")
        yield Static("", id="status")

    async def on_mount(self) -> None:
        await self._ensure_log(SERVER)
        self.query_one("#logs", ContentSwitcher).current = self._logs[SERVER].id
        await self._show(self.model.info("type /help for commands and keys"))
        await self._refresh_all()
        self.query_one("#input", ChatInput).focus()
        self.run_worker(self._pump(), name="events", exclusive=False)
        if self._open_query:
            await self.run_command(Command("query", self._open_query))

    async def _ensure_log(self, key: str) -> ConversationLog:
        log = self._logs.get(key)
        if log is None:
            self._log_ids += 1
            log = ConversationLog(id=f"log-{self._log_ids}")
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
            await self.handle_event(event)
        self.model.status = "disconnected"
        self._refresh_status()

    async def handle_event(self, event: Event) -> None:
        """Apply one client event to the model and redraw what it changed."""
        change = self.model.apply(event, self.client.state)
        await self._show(change)
        if isinstance(event, Join) and event.is_self:
            conv = self.model.get(event.channel)
            if conv is not None and not conv.history_loaded:
                conv.history_loaded = True
                self.run_worker(self._fetch_history(event.channel), exclusive=False)

    async def _fetch_history(self, target: str) -> None:
        try:
            await self.client.fetch_history(target)
        except ClientError:
            pass

    async def _show(self, change: Change) -> None:
        own = self.client.nick
        for key, line in change.added:
            if key in self.model.conversations:
                log = await self._ensure_log(key)
                log.add(render_line(line, own, strip=self.strip_formatting))
        for key in change.reloaded:
            conv = self.model.conversations.get(key)
            if conv is not None:
                log = await self._ensure_log(key)
                strip = self.strip_formatting
                log.replace([render_line(line, own, strip=strip) for line in conv.lines])
        if change.activate is not None:
            await self.switch_to(change.activate)
            return
        if change.conversations or any(k != self.model.active for k, _ in change.added):
            await self._refresh_sidebar()
        if change.members:
            self._refresh_members()
        self._refresh_topic()
        self._refresh_status()

    # -- drawing ------------------------------------------------------------------------------

    async def switch_to(self, name: str) -> None:
        """Make conversation ``name`` the visible one."""
        if not self.model.activate(name):
            return
        log = await self._ensure_log(self.model.active)
        self.query_one("#logs", ContentSwitcher).current = log.id
        await self._refresh_all()

    async def _refresh_all(self) -> None:
        await self._refresh_sidebar()
        self._refresh_members()
        self._refresh_topic()
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
        )

    @on(Input.Submitted, "#input")
    async def _submitted(self, message: Input.Submitted) -> None:
        box = self.query_one("#input", ChatInput)
        text = message.value
        box.value = ""
        if not text.strip():
            return
        box.remember(text)
        parsed = parse_input(text)
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

    async def say(self, text: str, *, action: bool = False) -> None:
        """Send ``text`` to the active conversation."""
        conv = self.model.current
        if conv.kind is Kind.SERVER:
            await self._error("this is the server window: /join #channel or /query nick first")
            return
        try:
            await self.client.send_message(conv.name, text, action=action)
        except NotConnected as exc:
            await self._error(f"not sent: {exc}")

    async def run_command(self, cmd: Command) -> None:
        """Run one slash command."""
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
        channel, key = cmd.split(2)
        if not channel:
            await self._usage("join")
            return
        channel = self._channel_name(channel)
        conv = self.model.get(channel)
        if conv is not None and conv.joined:
            await self.switch_to(channel)
            return
        self.model.expect_join(channel)
        await self.client.join(channel, key or None)

    async def _cmd_part(self, cmd: Command) -> None:
        first, rest = cmd.split(2)
        if first and self.client.state.is_channel(first):
            channel, reason = first, rest
        else:
            channel, reason = self.model.current.name, cmd.args
        if not self.client.state.is_channel(channel):
            await self._usage("part")
            return
        await self.client.part(channel, reason)

    async def _cmd_msg(self, cmd: Command) -> None:
        target, text = cmd.split(2)
        if not target or not text:
            await self._usage("msg")
            return
        await self.client.send_message(target, text)

    async def _cmd_notice(self, cmd: Command) -> None:
        target, text = cmd.split(2)
        if not target or not text:
            await self._usage("notice")
            return
        await self.client.send_notice(target, text)

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
            conv.history_loaded = True
            self.run_worker(self._fetch_history(conv.name), exclusive=False)
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
        await self.client.set_nick(cmd.args.split()[0])

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
        await self.client.set_topic(conv.name, cmd.args)

    async def _cmd_away(self, cmd: Command) -> None:
        await self.client.set_away(cmd.args or None)
        self._refresh_status()

    async def _cmd_whois(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("whois")
            return
        await self.client.send_raw(f"WHOIS {cmd.args.split()[0]}")

    async def _cmd_raw(self, cmd: Command) -> None:
        if not cmd.args:
            await self._usage("raw")
            return
        try:
            await self.client.send_raw(cmd.args)
        except ValueError as exc:  # the protocol's errors are ValueErrors
            await self._error(f"/raw: {exc}")

    async def _cmd_close(self, cmd: Command) -> None:
        conv = self.model.current
        if conv.kind is Kind.SERVER:
            await self._error("the server window stays open; /quit to leave")
            return
        if conv.kind is Kind.CHANNEL and conv.joined:
            try:
                await self.client.part(conv.name, cmd.args)
            except NotConnected:
                pass
        self.model.close(conv.name)
        log = self._logs.pop(self.model.key(conv.name), None)
        await self.switch_to(self.model.current.name)
        if log is not None:
            await log.remove()

    async def _cmd_quit(self, cmd: Command) -> None:
        await self.client.quit(cmd.args)
        self.exit(0)

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
        """Scroll the messages a page up (-1) or down (1)."""
        log = self._logs.get(self.model.active)
        if log is not None:
            if direction < 0:
                log.scroll_page_up()
            else:
                log.scroll_page_down()

    async def action_quit(self) -> None:
        """Quit: say goodbye to the server, then exit."""
        await self.client.quit()
        self.exit(0)


async def run_app(
    client: Client, open_query: str | None = None, *, strip_formatting: bool = False
) -> int:
    """Connect ``client`` (errors propagate, before the screen is taken over), then run the
    app until the user quits; the exit status."""
    await client.connect()
    app = ChatApp(client, open_query=open_query, strip_formatting=strip_formatting)
    try:
        await app.run_async()
    finally:
        await client.quit()
    return app.return_code or 0
