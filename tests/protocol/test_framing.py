"""LineBuffer: bytes in, lines out, bounded memory."""

from __future__ import annotations

from hubbub.protocol import MAX_INPUT_BYTES, LineBuffer, LineTooLong


def test_default_limit() -> None:
    assert LineBuffer().max_len == MAX_INPUT_BYTES


def test_crlf_and_bare_lf() -> None:
    buf = LineBuffer()
    assert buf.feed(b"NICK a\r\nUSER a 0 * :A\nPING x\r\n") == [
        b"NICK a",
        b"USER a 0 * :A",
        b"PING x",
    ]
    assert buf.pending == 0


def test_partial_lines_are_held() -> None:
    buf = LineBuffer()
    assert buf.feed(b"PRIV") == []
    assert buf.pending == 4
    assert buf.feed(b"MSG #c :hi\r") == []
    assert buf.feed(b"\nPI") == [b"PRIVMSG #c :hi"]
    assert buf.pending == 2
    assert buf.feed(b"NG\n") == [b"PING"]


def test_empty_lines_are_dropped() -> None:
    assert LineBuffer().feed(b"\r\n\n\r\nA\r\n\r\n") == [b"A"]
    assert LineBuffer().feed(b"") == []
    # (the server's buffers return them, for flood control to count)
    assert LineBuffer(blank_lines=True).feed(b"\r\n\nA\r\n") == [b"", b"", b"A"]


def test_only_one_cr_is_removed() -> None:
    assert LineBuffer().feed(b"A\r\r\n") == [b"A\r"]


def test_long_complete_line_reported_and_skipped() -> None:
    buf = LineBuffer(max_len=5)
    out = buf.feed(b"abcdef\nok\n")
    assert len(out) == 2
    assert isinstance(out[0], LineTooLong)
    assert out[1] == b"ok"


def test_line_of_exactly_max_len() -> None:
    assert LineBuffer(max_len=5).feed(b"abcde\n") == [b"abcde"]
    buf = LineBuffer(max_len=5)
    assert buf.feed(b"abcde") == []
    assert buf.feed(b"\n") == [b"abcde"]


def test_cr_counts_towards_the_limit_however_the_line_arrives() -> None:
    whole = LineBuffer(max_len=5).feed(b"abcde\r\nok\n")
    split = LineBuffer(max_len=5)
    pieces = split.feed(b"abcde\r") + split.feed(b"\nok\n")
    for out in (whole, pieces):
        assert len(out) == 2
        assert isinstance(out[0], LineTooLong)
        assert out[1] == b"ok"
    assert LineBuffer(max_len=6).feed(b"abcde\r\n") == [b"abcde"]


def test_long_partial_line_discarded_until_its_end() -> None:
    buf = LineBuffer(max_len=5)
    out = buf.feed(b"abcdefgh")
    assert len(out) == 1
    assert isinstance(out[0], LineTooLong)
    assert buf.pending == 0
    assert buf.feed(b"more garbage") == []  # reported once
    assert buf.pending == 0
    assert buf.feed(b"still\nPING\n") == [b"PING"]


def test_flood_without_newline_stays_bounded() -> None:
    buf = LineBuffer(max_len=100)
    reports = 0
    for _ in range(1000):
        reports += len(buf.feed(b"x" * 1000))
        assert buf.pending <= 100
    assert reports == 1
    assert buf.feed(b"\nQUIT\n") == [b"QUIT"]
