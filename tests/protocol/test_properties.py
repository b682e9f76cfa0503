"""Property tests: what we write reads back, and no input makes the parser raise anything but
:class:`ProtocolError`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol import (
    LineBuffer,
    LineTooLong,
    Message,
    ProtocolError,
    decode,
    parse,
    parse_bytes,
)
from hubbub.protocol.masks import normalize_ban_mask
from hubbub.protocol.message import MAX_SERVER_TAG_BYTES, check_length
from hubbub.protocol.tags import escape_value, parse_tags, serialize_tags, unescape_value

# --- valid messages ---------------------------------------------------------------------------

_NO_CRLF_NUL = st.characters(exclude_characters="\0\r\n", exclude_categories=["Cs"])
_NO_SPACE = st.characters(exclude_characters="\0\r\n ", exclude_categories=["Cs"])
_NO_SPACE_COLON = st.characters(exclude_characters="\0\r\n :", exclude_categories=["Cs"])

tag_keys = st.from_regex(r"\A\+?([a-z0-9][a-z0-9.-]{0,12}/)?[A-Za-z0-9-]{1,12}\Z", fullmatch=True)
# Tag values may hold anything but NUL: ; space \ CR LF are escaped on the wire.
tag_values = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=20)
tag_dicts = st.dictionaries(tag_keys, tag_values, max_size=5)
sources = st.none() | st.text(_NO_SPACE, min_size=1, max_size=30)
commands = st.from_regex(r"\A([A-Za-z]{1,12}|[0-9]{3})\Z", fullmatch=True)
middles = st.builds(
    lambda first, rest: first + rest,
    st.text(_NO_SPACE_COLON, min_size=1, max_size=1),
    st.text(_NO_SPACE, max_size=15),
)
trailings = st.text(_NO_CRLF_NUL, max_size=40)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    params = draw(st.lists(middles, max_size=14))
    if draw(st.booleans()):
        params.append(draw(trailings))
    return Message(
        command=draw(commands),
        params=tuple(params),
        source=draw(sources),
        tags=draw(tag_dicts),
    )


@given(messages())
def test_parse_serialize_round_trip(msg: Message) -> None:
    assert parse(msg.serialize()) == msg


@given(messages())
def test_to_bytes_round_trip(msg: Message) -> None:
    raw = msg.to_bytes()
    assert raw.endswith(b"\r\n")
    assert parse(decode(raw[:-2]).text) == msg


# --- hostile input ----------------------------------------------------------------------------

# Bytes that mean something to the parser, so short examples reach deep into it.
_IRCISH = st.sampled_from(
    [b"@", b":", b" ", b"  ", b"\r", b"\n", b"\r\n", b"\0", b"=", b";", b"\\", b"\\s", b"+"]
    + [b"a", b"PRIVMSG", b"001", b"#c", b"\xff", b"\xc3", b"\xc3\xa9", b"\xed\xa0\x80"]
)
hostile_bytes = st.binary(max_size=200) | st.lists(_IRCISH, max_size=60).map(b"".join)


@given(hostile_bytes)
def test_decode_never_raises(raw: bytes) -> None:
    text, utf8 = decode(raw)
    assert text.encode("utf-8" if utf8 else "latin-1") == raw


@given(hostile_bytes)
def test_parse_bytes_raises_only_protocol_errors(raw: bytes) -> None:
    try:
        msg = parse_bytes(raw)
    except ProtocolError:
        return
    assert msg.command
    assert " " not in msg.command


@given(st.binary(min_size=500, max_size=9000) | hostile_bytes)
def test_check_length_raises_only_protocol_errors(raw: bytes) -> None:
    for limit in (MAX_SERVER_TAG_BYTES, 4096, 1):
        try:
            check_length(raw, limit)
        except ProtocolError:
            pass


@given(st.text(max_size=100))
def test_parse_text_raises_only_protocol_errors(line: str) -> None:
    try:
        parse(line)
    except ProtocolError:
        pass


@given(st.lists(hostile_bytes, max_size=10), st.integers(min_value=1, max_value=64))
def test_line_buffer_feed_never_raises(chunks: list[bytes], max_len: int) -> None:
    buf = LineBuffer(max_len)
    for chunk in chunks:
        for item in buf.feed(chunk):
            if not isinstance(item, LineTooLong):
                assert isinstance(item, bytes)
                assert item
                assert b"\n" not in item


# --- tags ---------------------------------------------------------------------------------------


@given(st.text())
def test_tag_escape_round_trip(value: str) -> None:
    escaped = escape_value(value)
    for ch in "; \r\n":
        assert ch not in escaped
    assert unescape_value(escaped) == value


@given(tag_dicts)
def test_tag_section_round_trip(tags: dict[str, str]) -> None:
    assert parse_tags(serialize_tags(tags)) == tags


@given(st.text())
def test_tag_unescape_never_raises(raw: str) -> None:
    unescape_value(raw)


# --- framing ------------------------------------------------------------------------------------

_STREAM = st.lists(
    st.sampled_from([b"a", b"bc", b"defgh", b"\r", b"\n", b"\r\n", b" ", b"\xff"]), max_size=80
).map(b"".join)

_TOO_LONG = "too long"


def _normalise(items: list[bytes | LineTooLong]) -> list[bytes | str]:
    return [_TOO_LONG if isinstance(item, LineTooLong) else item for item in items]


def _model(stream: bytes, max_len: int) -> list[bytes | str]:
    """What a LineBuffer must produce from ``stream``, however it arrives."""
    *complete, tail = stream.split(b"\n")
    out: list[bytes | str] = []
    for raw in complete:
        if len(raw) > max_len:
            out.append(_TOO_LONG)
        else:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line:
                out.append(line)
    if len(tail) > max_len:
        out.append(_TOO_LONG)
    return out


@st.composite
def split_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    stream = draw(_STREAM)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    return stream, [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@given(split_streams(), st.integers(min_value=1, max_value=12))
def test_line_buffer_split_invariance(split: tuple[bytes, list[bytes]], max_len: int) -> None:
    stream, chunks = split
    whole = LineBuffer(max_len)
    expected = _normalise(whole.feed(stream))
    assert expected == _model(stream, max_len)

    pieces = LineBuffer(max_len)
    got: list[bytes | str] = []
    for chunk in chunks:
        got.extend(_normalise(pieces.feed(chunk)))
    assert got == expected
    assert pieces.pending == whole.pending


@given(st.lists(hostile_bytes | _STREAM, max_size=20), st.integers(min_value=1, max_value=40))
def test_line_buffer_memory_bounded(chunks: list[bytes], max_len: int) -> None:
    buf = LineBuffer(max_len)
    for chunk in chunks:
        buf.feed(chunk)
        assert buf.pending <= max_len


# --- masks --------------------------------------------------------------------------------------


@given(st.text(st.characters(exclude_characters=" ", exclude_categories=["Cs"])))
def test_normalize_ban_mask_is_complete_and_idempotent(mask: str) -> None:
    normal = normalize_ban_mask(mask)
    nick, bang, rest = normal.partition("!")
    user, at, host = rest.partition("@")
    assert bang
    assert at
    assert nick
    assert user
    assert host
    assert normalize_ban_mask(normal) == normal
