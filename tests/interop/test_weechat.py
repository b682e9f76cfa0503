"""Interop with a real client: weechat-headless joins a channel and chats with a test client.

WeeChat negotiates its IRCv3 capabilities on its own; the test checks that server-time and
echo-message end up enabled (WeeChat 3.8 knows server-time but only asks for echo-message when
told to, so it is named explicitly in ``irc.server.local.capabilities``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

from hubbub.net.app import App
from hubbub.protocol.caps import Cap
from tests.e2e.conformance import Net
from tests.timeouts import TIMEOUT

WEECHAT = shutil.which("weechat-headless")
"""Debian package ``weechat-headless`` (``make system-deps`` installs it)."""

QUIT_AFTER = 6
"""Seconds after start-up at which WeeChat quits (it must have chatted by then)."""


def weechat_commands(host: str, port: int) -> str:
    return ";".join(
        [
            "/set logger.file.auto_log on",
            f"/server add local {host}/{port} -notls",
            "/set irc.server.local.nicks weebot",
            "/set irc.server.local.autojoin #chan",
            '/set irc.server.local.capabilities "*,echo-message"',
            "/connect local",
            "/wait 3 /msg -server local #chan hello from weechat",
            f"/wait {QUIT_AFTER} /quit",
        ]
    )


def read_log(logs: Path, name: str) -> str:
    path = logs / name
    assert path.is_file(), f"no {name} in {sorted(p.name for p in logs.glob('*'))}"
    return path.read_text(encoding="utf-8", errors="replace")


async def test_weechat_chats_with_a_test_client(hubbub_app: App, tmp_path: Path) -> None:
    assert WEECHAT is not None, "weechat-headless is not installed"
    host, port = hubbub_app.address()
    home = tmp_path / "weechat"
    home.mkdir()
    async with Net(hubbub_app) as net:
        tester = await net.client("tester")
        await tester.send("JOIN #chan")
        await tester.expect("366")
        proc = await asyncio.create_subprocess_exec(
            WEECHAT,
            "--dir",
            str(home),
            "--run-command",
            weechat_commands(host, port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            join = await tester.expect("JOIN", timeout=TIMEOUT + QUIT_AFTER)
            assert join.source is not None
            assert join.source.startswith("weebot!")
            assert join.params == ("#chan",)

            # what WeeChat negotiated, as the server sees it
            weebot = next(s for s in hubbub_app.server.sessions if s.user.nick == "weebot")
            assert weebot.caps & Cap.SERVER_TIME, weebot.caps
            assert weebot.caps & Cap.ECHO_MESSAGE, weebot.caps

            await tester.send("PRIVMSG #chan :hello from tester")
            msg = await tester.expect("PRIVMSG", timeout=TIMEOUT + QUIT_AFTER)
            assert msg.source is not None
            assert msg.source.startswith("weebot!")
            assert msg.params == ("#chan", "hello from weechat")

            quit_msg = await tester.expect("QUIT", timeout=TIMEOUT + QUIT_AFTER)
            assert quit_msg.source is not None
            assert quit_msg.source.startswith("weebot!")
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    logs = home / "logs"
    channel_log = read_log(logs, "irc.local.#chan.weechatlog")
    assert "hello from tester" in channel_log
    assert "hello from weechat" in channel_log
    server_log = read_log(logs, "irc.server.local.weechatlog")
    enabled = [line for line in server_log.splitlines() if "client capability, enabled:" in line]
    assert enabled, server_log
    caps = set(enabled[-1].split("enabled:", 1)[1].split())
    assert {"server-time", "echo-message"} <= caps, caps
