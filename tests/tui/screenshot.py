"""The screenshot of ``hubbub chat`` in the docs (``docs/screenshot-chat.svg``): a scripted,
realistic session (history with a "new messages" line, a multiline message, a mention,
formatting, someone typing, unread counts) drawn by the real app and saved as SVG by Textual.

``python -m tests.tui.screenshot`` rewrites it (as does ``HUBBUB_UPDATE_SCREENSHOT=1`` with
``tests/tui/test_screenshot.py``); no network is used: the lines are fed to the app.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from hubbub.tui.app import ChatApp
from tests.client.fakeserver import stamp
from tests.tui.helpers import FIXED_TIME, feed, offline_app, screen_text, until

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILENAME = "screenshot-chat.svg"
SIZE = (112, 21)
S = ":irc.example.test"


def _at(minutes: int) -> str:
    return stamp(FIXED_TIME + timedelta(minutes=minutes))


def session_lines() -> list[str]:
    """What the server says in the session shown."""
    h = [
        (-18, "bob!b@h", "good morning! the release branch is green"),
        (-16, "ann!a@h", "great, I'll write the release notes"),
        (-15, "carl!c@h", "\x01ACTION brings coffee\x01"),
        (-12, "bert!t@h", "the \x02benchmarks\x02 look fine: \x0303+4% msgs/s\x03"),
    ]
    history = [
        f"@batch=h;time={_at(m)};msgid=h{i} :{who} PRIVMSG #hubbub :{text}"
        for i, (m, who, text) in enumerate(h)
    ]
    return [
        f"{S} CAP * LS :batch server-time message-tags draft/chathistory draft/read-marker "
        "draft/multiline=max-bytes=4096,max-lines=100",
        f"{S} CAP * ACK :batch server-time message-tags draft/chathistory draft/read-marker "
        "draft/multiline",
        f"{S} 001 ann :Welcome to the Example network, ann",
        f"{S} 005 ann CASEMAPPING=rfc1459 PREFIX=(ov)@+ CHANTYPES=# NETWORK=Example :are supported",
        f"{S} 376 ann :End of MOTD",
        ":ann!a@h JOIN #hubbub",
        f"{S} MARKREAD #hubbub timestamp={_at(-12)}",
        f"{S} 332 ann #hubbub :Release day: 2.0 ships at noon",
        f"{S} 353 ann = #hubbub :@ann +bob bert carl dora erin",
        f"{S} 366 ann #hubbub :End of NAMES",
        f"{S} BATCH +h chathistory #hubbub",
        *history,
        f"@batch=h;time={_at(-9)};msgid=m1 :dora!d@h BATCH +m draft/multiline #hubbub",
        "@batch=m :dora!d@h PRIVMSG #hubbub :the plan for today:",
        "@batch=m :dora!d@h PRIVMSG #hubbub :  1. tag v2.0 on main",
        "@batch=m :dora!d@h PRIVMSG #hubbub :  2. upload the wheels",
        "@batch=m :dora!d@h PRIVMSG #hubbub :  3. announce it in #news",
        ":dora!d@h BATCH -m",
        f"@batch=h;time={_at(-6)};msgid=h8 :bob!b@h PRIVMSG #hubbub :ann: can you check the"
        " docs build?",
        f"@batch=h;time={_at(-4)};msgid=h9 :carl!c@h PRIVMSG #hubbub :on it, the link checker"
        " timed out",
        f"{S} BATCH -h",
        ":ann!a@h JOIN #ops",
        f"{S} 366 ann #ops :End of NAMES",
        f"@time={_at(-3)} :carl!c@h PRIVMSG #ops :disk on db2 at 81%",
        f"@time={_at(-2)} :carl!c@h PRIVMSG #ops :rotating the logs",
        f"@time={_at(-2)} :carl!c@h PRIVMSG #ops :back to 40%",
        f"@time={_at(-1)} :erin!e@h PRIVMSG ann :lunch after the release?",
        "@+typing=active :bob!b@h TAGMSG #hubbub",
    ]


async def make_screenshot(folder: Path) -> Path:
    """Draw the session and save it as ``folder/screenshot-chat.svg``; its path."""
    client = offline_app().client
    app = ChatApp(client, clock=lambda: FIXED_TIME, monotonic=lambda: 0.0)
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, *session_lines())
        await until(pilot, lambda: "bob is typing…" in screen_text(app), "the typing line")
        await until(pilot, lambda: "erin (1) [1]" in screen_text(app), "erin's message")
        await pilot.pause()
        app.save_screenshot(filename=FILENAME, path=str(folder))
    return folder / FILENAME


def main() -> None:
    """Rewrite the screenshot in docs/ (or in the folder given)."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS
    print(asyncio.run(make_screenshot(folder)))


if __name__ == "__main__":
    main()
