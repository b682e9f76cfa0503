"""The conversation log widget: a bounded number of lines, and positions kept or chosen
when its lines are rewritten."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult

from hubbub.tui.log import KEEP, ConversationLog
from tests.tui.helpers import until


class LogApp(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.tops = 0
        self.ends = 0

    def compose(self) -> ComposeResult:
        yield ConversationLog(id="log", max_lines=self.max_lines)

    def on_conversation_log_reached_top(self, message: ConversationLog.ReachedTop) -> None:
        self.tops += 1

    def on_conversation_log_reached_end(self, message: ConversationLog.ReachedEnd) -> None:
        self.ends += 1


def rows(log: ConversationLog) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


async def test_the_oldest_lines_go_beyond_the_limit() -> None:
    app = LogApp(max_lines=5)
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(ConversationLog)
        for i in range(8):
            log.add(Text(f"line {i}"), i)
            await pilot.pause()
        assert rows(log) == [f"line {i}" for i in range(3, 8)]
        assert [t.plain for t in log.texts] == [f"line {i}" for i in range(3, 8)]
        assert log.row_of(0) == 0
        assert log.index_at(4) == 4


async def test_replace_keeps_the_top_line_and_the_wheel_asks_for_more() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(ConversationLog)
        log.replace([Text(f"line {i}") for i in range(30)], list(range(30)))
        await pilot.pause()
        assert log.following
        log.scroll_to(y=5, animate=False, immediate=True)
        await pilot.pause()
        assert not log.following
        assert log.top_index() == 5
        # Ten older lines above: the one at the top stays at the top.
        log.replace([Text(f"line {i}") for i in range(-10, 30)], list(range(-10, 30)), KEEP)
        await pilot.pause()
        assert log.top_index() == 15
        assert rows(log)[round(log.scroll_y)] == "line 5"

        # A line shown a third of the way down.
        log.replace([Text(f"line {i}") for i in range(-10, 30)], list(range(-10, 30)), (20, None))
        await pilot.pause()
        assert round(log.scroll_y) == 20 - log.scrollable_content_region.height // 3

        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        scroll = events.MouseScrollUp(log, 1, 1, 0, -1, 0, False, False, False)
        log.post_message(scroll)
        await until(pilot, lambda: app.tops >= 1, "ReachedTop")
        ends = app.ends
        log.scroll_end(animate=False, immediate=True)
        await until(pilot, lambda: app.ends > ends, "ReachedEnd")
        assert log.following
