"""``draft/multiline`` in ``hubbub chat`` at a real terminal (tmux) against ``hubbub serve``: a
block pasted (bracketed paste, as a terminal sends it) goes as one batch to a client with the
capability and as separate lines to one without; a block received is drawn as one message,
its later lines indented under its text."""

from __future__ import annotations

from tests.tui.test_tmux_history import server  # noqa: F401  (the fixture)
from tests.tui.test_tmux_terminal import RawUser
from tests.tui.tmux import Tmux, chat_command

WIDTH, HEIGHT = 120, 30


def log_rows(screen: str, text: str, count: int) -> list[str]:
    """``count`` rows of the conversation from the one holding ``text`` (the log's column)."""
    rows = screen.split("\n")
    first = next(i for i, row in enumerate(rows) if text in row)
    return [row.split("│")[1].rstrip() for row in rows[first : first + count]]


def test_paste_goes_as_one_batch_and_a_batch_is_drawn_as_one_message(
    tmux: Tmux,
    server: int,  # noqa: F811
) -> None:
    bob = RawUser(server, "bob")  # without the capability
    carol = RawUser(server, "carol")
    try:
        carol.send("CAP REQ :draft/multiline batch")
        carol.expect(" ACK ")
        for user in (bob, carol):
            user.send("JOIN #a")
            user.expect(" 366 ")
        pane = tmux.start(chat_command(server, "ann", join=("#a",)), WIDTH, HEIGHT)
        tmux.wait_for(pane, lambda s: "#a (no topic)" in s, "ann in #a")
        carol.expect(":ann!")  # (her JOIN: what follows reaches her)

        tmux.run("set-buffer", "-b", "block", "first of three\nsecond of three\nthird of three")
        tmux.run("paste-buffer", "-p", "-d", "-b", "block", "-t", pane)  # (-p: bracketed)

        start = carol.expect(" BATCH +")
        assert start.endswith(" draft/multiline #a"), start
        ref = start.split(" BATCH +")[1].split()[0]
        for text in ("first of three", "second of three", "third of three"):
            line = carol.expect(" PRIVMSG #a ")
            assert line.startswith(f"@batch={ref}") or f";batch={ref}" in line, line
            assert line.endswith(f":{text}"), line
        carol.expect(f" BATCH -{ref}")
        for text in ("first of three", "second of three", "third of three"):
            assert bob.expect(" PRIVMSG #a ").endswith(f":{text}")

        screen = tmux.wait_for(pane, lambda s: "third of three" in s, "ann's own block")
        rows = log_rows(screen, "<ann> first of three", 3)
        column = rows[0].index("first of three")
        assert rows[1] == " " * column + "second of three", screen
        assert rows[2] == " " * column + "third of three", screen
        assert screen.count("<ann>") == 1, screen

        carol.send(
            "BATCH +c1 draft/multiline #a",
            "@batch=c1 PRIVMSG #a :carol's list:",
            "@batch=c1 PRIVMSG #a :- apples",
            "@batch=c1 PRIVMSG #a :- pears",
            "BATCH -c1",
        )
        screen = tmux.wait_for(pane, lambda s: "- pears" in s, "carol's block")
        rows = log_rows(screen, "<carol> carol's list:", 3)
        column = rows[0].index("carol's list:")
        assert rows[1:] == [" " * column + "- apples", " " * column + "- pears"], screen
        assert screen.count("<carol>") == 1, screen
    finally:
        bob.close()
        carol.close()
