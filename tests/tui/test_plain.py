"""``hubbub chat --plain`` as a process: stdin lines out, arriving messages printed."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from hubbub.client import ChatMessage, Join, Quit
from hubbub.tui.plain import format_message
from tests.client.conftest import LiveServer
from tests.client.helpers import expect, make_client
from tests.client.ngircd import Ngircd, free_port
from tests.timeouts import TIMEOUT


async def start_plain(
    *args: str, stdin: int | None = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub.tui",
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_lines_go_out_and_messages_come_in(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "ann", channels=["#plain"]) as ann:
        await expect(ann, Join)
        proc = await start_plain(
            live_server.address, "--plain", "--nick", "bob", "--join", "#plain"
        )
        await expect(ann, Join, lambda e: e.nick == "bob")
        await ann.send_message("#plain", "hello bob")
        await ann.send_action("#plain", "waves")
        await ann.send_message("bob", "private word")
        assert proc.stdout is not None
        assert proc.stdin is not None
        async with asyncio.timeout(TIMEOUT):
            got = [(await proc.stdout.readline()).decode().rstrip("\n") for _ in range(3)]
        assert got == [
            "[#plain] <ann> hello bob",
            "[#plain] * ann waves",
            "[ann] <ann> private word",
        ]

        proc.stdin.write(b"first line\n\nsecond line\n")
        await proc.stdin.drain()
        texts = [
            (await expect(ann, ChatMessage, lambda e: e.source == "bob")).text for _ in range(2)
        ]
        assert texts == ["first line", "second line"]

        proc.stdin.write(b"last words\n")
        proc.stdin.close()  # EOF: the line before it still arrives, then bob quits
        code, _, err = await finish(proc)
        assert code == 0, err
        last = await expect(ann, ChatMessage, lambda e: e.source == "bob")
        assert last.text == "last words"
        await expect(ann, Quit, lambda e: e.nick == "bob")


async def test_to_target_and_input_from_a_file(ngircd: Ngircd, tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("one\ntwo\nthree\n")
    async with make_client(ngircd.address, "ann") as ann:
        with lines.open("rb") as source:
            proc = await start_plain(
                ngircd.address, "--plain", "--nick", "bot", "--to", "ann", stdin=source.fileno()
            )
            code, _, err = await finish(proc)
        assert code == 0, err
        texts = [
            (await expect(ann, ChatMessage, lambda e: e.source == "bot")).text for _ in range(3)
        ]
        assert texts == ["one", "two", "three"]


async def test_connection_refused_exits_1() -> None:
    proc = await start_plain(f"127.0.0.1:{free_port()}", "--plain", "--join", "#x")
    code, out, err = await finish(proc)
    assert code == 1
    assert "connection refused" in err
    assert out == ""


async def test_lost_connection_exits_1(ngircd: Ngircd) -> None:
    proc = await start_plain(ngircd.address, "--plain", "--nick", "bob", "--join", "#x")
    async with make_client(ngircd.address, "ann", channels=["#x"]) as ann:
        await expect(ann, Join, lambda e: e.nick == "bob")
    ngircd.stop()
    code, _, err = await finish(proc)
    assert code == 1
    assert "connection lost" in err


async def test_untrusted_tls_exits_1_and_insecure_works(ngircd: Ngircd) -> None:
    proc = await start_plain(ngircd.tls_address, "--tls", "--plain", "--to", "nobody")
    code, _, err = await finish(proc)
    assert code == 1
    assert "not trusted" in err
    proc = await start_plain(ngircd.tls_address, "--tls", "--insecure", "--plain", "--to", "ann")
    assert proc.stdin is not None
    proc.stdin.close()
    code, _, err = await finish(proc)
    assert code == 0, err


async def test_plain_needs_a_target() -> None:
    proc = await start_plain("--plain")
    code, _, err = await finish(proc)
    assert code == 2
    assert "--join" in err


async def test_errors_from_the_server_go_to_stderr(ngircd: Ngircd) -> None:
    proc = await start_plain(ngircd.address, "--plain", "--nick", "bob", "--to", "nobody")
    assert proc.stdin is not None
    proc.stdin.write(b"anyone there?\n")
    proc.stdin.close()
    code, out, err = await finish(proc)
    assert code == 0
    assert "nobody: No such nick" in err
    assert out == ""


def test_format_message_strips_control_characters() -> None:
    event = ChatMessage("b\x1bob", "#c", "\x02hi\x02 \x1b[2J", "#c", action=False)
    assert format_message(event) == "[#c] <bob> hi [2J"
    assert format_message(replace(event, notice=True)) == "[#c] -bob- hi [2J"
    assert format_message(replace(event, action=True, text="waves")) == "[#c] * bob waves"


def test_format_message_puts_the_lines_of_a_multiline_message_under_its_text() -> None:
    event = ChatMessage("bob", "#c", "first\n\x02second\x02\nthird", "#c", action=False)
    assert format_message(event) == "[#c] <bob> first\n           second\n           third"
