"""IRCv3 ``draft/multiline`` over real sockets: a pasted block sent as one batch reaches a
client with the capability as the batch, one without it as separate lines, and its sender
as a labelled echo; with history, CHATHISTORY gives it back as one nested batch.

Written from https://ircv3.net/specs/extensions/multiline (examples of the spec).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from hubbub.client import ChatMessage, Join
from hubbub.config import Config, HistorySection
from hubbub.net.app import App
from hubbub.protocol.message import Message
from hubbub.storage import SqliteStorage
from tests.client.helpers import expect, make_client
from tests.conftest import make_config
from tests.e2e.conformance import Net, drain, join, mask
from tests.e2e.ircclient import IRCTestClient

ML = "draft/multiline batch message-tags server-time echo-message labeled-response"


def batch_of(
    messages: list[Message], kind: str = "draft/multiline"
) -> tuple[Message, list[Message]]:
    """The opening BATCH of the first ``kind`` batch and the messages tagged with it."""
    start = next(
        m
        for m in messages
        if m.command == "BATCH" and m.params[0][0] == "+" and m.params[1] == kind
    )
    ref = start.params[0][1:]
    return start, [m for m in messages if m.tags.get("batch") == ref]


async def paste(client: IRCTestClient, label: str) -> None:
    """The spec's example batch, labelled."""
    await client.send(
        f"@label={label} BATCH +123 draft/multiline #room",
        "@batch=123 PRIVMSG #room hello",
        "@batch=123 PRIVMSG #room :",
        "@batch=123 privmsg #room :how is ",
        "@batch=123;draft/multiline-concat PRIVMSG #room :everyone?",
        "BATCH -123",
    )


async def test_a_pasted_block_is_one_message(app_factory: Callable[[Config], Any]) -> None:
    config = make_config()
    app = await app_factory(dataclasses.replace(config, history=HistorySection(enabled=False)))
    async with Net(app) as net:
        raw = await net.raw()
        await raw.send("CAP LS 302")
        ls = await raw.expect(lambda m: m.command == "CAP" and m.params[1] == "LS")
        assert "draft/multiline=max-bytes=4096,max-lines=100" in ls.params[-1].split()

        alice = await net.client("alice", ML)
        bob = await net.client("bob", "draft/multiline batch message-tags")
        carol = await net.client("carol", "message-tags")
        await join("#room", alice, bob, carol)
        await paste(alice, "p1")

        echo = await alice.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
        start, lines = batch_of(echo)
        assert start.tags["label"] == "p1"
        assert start.source == mask("alice")
        msgid = start.tags["msgid"]
        assert [m.params for m in lines if m.command == "PRIVMSG"] == [
            ("#room", "hello"),
            ("#room", ""),
            ("#room", "how is "),
            ("#room", "everyone?"),
        ]

        got = await bob.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
        theirs, lines = batch_of(got)
        assert theirs.tags["msgid"] == msgid
        assert "label" not in theirs.tags
        assert [("draft/multiline-concat" in m.tags) for m in lines] == [
            False,
            False,
            False,
            True,
        ]

        fallback = [m for m in await drain(carol) if m.command == "PRIVMSG"]
        assert [m.params[1] for m in fallback] == ["hello", "how is ", "everyone?"]
        assert [m.tags.get("msgid") for m in fallback] == [msgid, None, None]

        await alice.send(
            "BATCH +bad draft/multiline #room", "@batch=bad PRIVMSG #elsewhere :x", "BATCH -bad"
        )
        fail = await alice.expect("FAIL")
        assert fail.params == (
            "BATCH",
            "MULTILINE_INVALID_TARGET",
            "#room",
            "#elsewhere",
            "Invalid multiline target",
        )
        await bob.assert_nothing_pending()


@pytest.mark.skipif(
    not hasattr(SqliteStorage, "history"), reason="the SQLite history store is not merged yet"
)
async def test_history_gives_it_back_as_one_nested_batch(net: Net) -> None:
    alice = await net.client("alice", ML + " draft/chathistory")
    await join("#room", alice)
    await paste(alice, "p2")
    await alice.collect_until(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
    await alice.send("CHATHISTORY LATEST #room * 10")
    got = await alice.collect_until(
        lambda m: m.command == "BATCH" and m.params[0][0] == "-" and "batch" not in m.tags
    )
    outer, inside = batch_of(got, "chathistory")
    start, lines = batch_of(got)
    assert start in inside
    assert [m.params[1] for m in lines if m.command == "PRIVMSG"] == [
        "hello",
        "",
        "how is ",
        "everyone?",
    ]
    assert outer.params[2] == "#room"


@pytest.mark.skipif(
    not hasattr(SqliteStorage, "history"), reason="the SQLite history store is not merged yet"
)
async def test_the_client_library_sends_and_reads_one_message(hubbub_app: App) -> None:
    host, port = hubbub_app.address()
    address = f"{host}:{port}"
    async with (
        make_client(address, "alice", channels=["#room"]) as alice,
        make_client(address, "bob", channels=["#room"]) as bob,
    ):
        for client in (alice, bob):
            await expect(client, Join, lambda e: e.is_self)
        assert "draft/multiline" in alice.state.caps
        await alice.send_message("#room", "first line\n\nsecond, a long one " + "x" * 600)
        text = "first line\n\nsecond, a long one " + "x" * 600
        got = await expect(bob, ChatMessage, lambda m: m.source == "alice")
        assert got.text == text
        mine = await expect(alice, ChatMessage, lambda m: m.from_self)  # (the echo)
        assert (mine.text, mine.msgid) == (text, got.msgid)
        past = await bob.history("#room")
        assert [(m.text, m.msgid) for m in past if m.is_message] == [(text, got.msgid)]
