"""WebSocket frames, sans I/O: what a client may send, split anywhere, and what is refused."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from hubbub.net import wsframes
from hubbub.net.wsframes import Partial, ProtocolViolation, Received, read_frames

MAX = 4096


def client_frame(opcode: int, data: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """A frame as a client sends it (masked), whether or not it is valid."""
    size = len(data)
    if size < 126:
        head = bytes([(0x80 if fin else 0) | opcode, (0x80 if mask else 0) | size])
    elif size < 65536:
        head = bytes([(0x80 if fin else 0) | opcode, (0x80 if mask else 0) | 126])
        head += struct.pack("!H", size)
    else:
        head = bytes([(0x80 if fin else 0) | opcode, (0x80 if mask else 0) | 127])
        head += struct.pack("!Q", size)
    if not mask:
        return head + data
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_frames_as_websockets_makes_them() -> None:
    for opcode, data, fin in [(Opcode.TEXT, b"NICK a", True), (Opcode.BINARY, b"x" * 300, False)]:
        raw = Frame(opcode, data, fin=fin).serialize(mask=True, extensions=[])
        got, partial, _ = read_frames(raw, None, MAX)
        if fin:
            assert (got, partial) == ([Received(opcode, data)], None)
        else:
            assert (got, partial) == ([], Partial(b"", opcode, data))


def read_all(data: bytes, chunks: list[int] | None = None) -> list[Received]:
    """Everything ``data`` carries, fed whole or in pieces of the given sizes."""
    out: list[Received] = []
    partial: Partial | None = None
    pos = 0
    for size in chunks or [len(data)]:
        got, partial, _ = read_frames(data[pos : pos + size], partial, MAX)
        out.extend(got)
        pos += size
    if pos < len(data):
        got, partial, _ = read_frames(data[pos:], partial, MAX)
        out.extend(got)
    assert partial is None
    return out


def test_one_masked_text_message() -> None:
    assert read_all(client_frame(wsframes.OP_TEXT, b"NICK alice")) == [
        Received(wsframes.OP_TEXT, b"NICK alice")
    ]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5), st.data())
def test_messages_split_anywhere_come_out_whole(messages: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(client_frame(wsframes.OP_BINARY, m) for m in messages)
    cuts = data.draw(st.lists(st.integers(1, 50), max_size=40))
    assert read_all(stream, cuts) == [Received(wsframes.OP_BINARY, m) for m in messages]


def test_fragments_make_one_message_with_control_frames_between() -> None:
    stream = (
        client_frame(wsframes.OP_TEXT, b"PRIVMSG #a :", fin=False)
        + client_frame(wsframes.OP_PING, b"p")
        + client_frame(0, b"h\xc3", fin=False)  # (a character split between fragments)
        + client_frame(0, b"\xa9llo", fin=True)
    )
    assert read_all(stream, [3, 5, 7, 1, 100]) == [
        Received(wsframes.OP_PING, b"p"),
        Received(wsframes.OP_TEXT, "PRIVMSG #a :héllo".encode()),
    ]


def test_sizes_that_need_16_and_64_bit_lengths() -> None:
    medium, large = os.urandom(300), os.urandom(70_000)
    stream = client_frame(wsframes.OP_BINARY, medium) + client_frame(wsframes.OP_BINARY, large)
    got, partial, _ = read_frames(stream, None, 100_000)
    assert partial is None
    assert got == [Received(wsframes.OP_BINARY, medium), Received(wsframes.OP_BINARY, large)]


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (client_frame(wsframes.OP_TEXT, b"x", mask=False), wsframes.CLOSE_PROTOCOL_ERROR),
        (client_frame(wsframes.OP_TEXT, b"caf\xe9"), wsframes.CLOSE_BAD_DATA),
        (client_frame(wsframes.OP_BINARY, b"x" * (MAX + 1)), wsframes.CLOSE_TOO_BIG),
        (
            client_frame(wsframes.OP_TEXT, b"x" * 3000, fin=False) + client_frame(0, b"y" * 3000),
            wsframes.CLOSE_TOO_BIG,
        ),
        (client_frame(0, b"nothing to continue"), wsframes.CLOSE_PROTOCOL_ERROR),
        (
            client_frame(wsframes.OP_TEXT, b"a", fin=False) + client_frame(wsframes.OP_TEXT, b"b"),
            wsframes.CLOSE_PROTOCOL_ERROR,
        ),
        (client_frame(wsframes.OP_PING, b"x" * 126), wsframes.CLOSE_PROTOCOL_ERROR),
        (bytes([0x83, 0x80]) + b"mask", wsframes.CLOSE_PROTOCOL_ERROR),  # opcode 3
        (bytes([0xC1, 0x80]) + b"mask", wsframes.CLOSE_PROTOCOL_ERROR),  # RSV1 without deflate
    ],
)
def test_what_closes_the_connection(stream: bytes, code: int) -> None:
    with pytest.raises(ProtocolViolation) as info:
        read_all(stream)
    assert info.value.code == code


def test_a_frame_too_big_is_refused_from_its_header() -> None:
    head = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 10**9)
    with pytest.raises(ProtocolViolation) as info:
        read_frames(head, None, MAX)
    assert info.value.code == wsframes.CLOSE_TOO_BIG


def test_nothing_is_held_between_whole_frames() -> None:
    _, partial, _ = read_frames(client_frame(wsframes.OP_TEXT, b"PING x"), None, MAX)
    assert partial is None
    _, partial, _ = read_frames(client_frame(wsframes.OP_TEXT, b"PING x")[:3], None, MAX)
    assert partial is not None


def parse_server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Unmasked frames as a client reads them."""
    out = []
    pos = 0
    while pos < len(data):
        op, size = data[pos] & 0x0F, data[pos + 1] & 0x7F
        assert data[pos] & 0x80  # final
        assert not data[pos + 1] & 0x80  # unmasked
        pos += 2
        if size == 126:
            (size,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif size == 127:
            (size,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        out.append((op, data[pos : pos + size]))
        pos += size
    return out


def test_lines_out_are_one_message_each() -> None:
    data = b":srv 001 a :hi\r\n:srv 002 a :" + b"x" * 200 + b"\r\n" + b"y" * 70_000 + b"\r\n"
    assert parse_server_frames(wsframes.frame_lines(data, binary=True)) == [
        (wsframes.OP_BINARY, b":srv 001 a :hi"),
        (wsframes.OP_BINARY, b":srv 002 a :" + b"x" * 200),
        (wsframes.OP_BINARY, b"y" * 70_000),
    ]


def test_text_frames_carry_valid_utf8_only() -> None:
    frames = parse_server_frames(wsframes.frame_lines(b"caf\xe9\r\nh\xc3\xa9\r\n", binary=False))
    assert frames == [(wsframes.OP_TEXT, "caf\ufffd".encode()), (wsframes.OP_TEXT, "hé".encode())]


def test_close_frame() -> None:
    assert parse_server_frames(wsframes.close_frame(1009, "too big")) == [
        (wsframes.OP_CLOSE, struct.pack("!H", 1009) + b"too big")
    ]


def test_close_codes_a_peer_may_send() -> None:
    allowed = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]
    assert all(wsframes.valid_close_code(code) for code in allowed)
    refused = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
    assert not any(wsframes.valid_close_code(code) for code in refused)


def test_any_number_of_empty_fragments_holds_nothing_more() -> None:
    # (they never reach max_size; each once cost a copy of all the fragments before it)
    _, partial, _ = read_frames(client_frame(wsframes.OP_TEXT, b"PI", fin=False), None, MAX)
    empty = client_frame(wsframes.OP_CONTINUATION, b"", fin=False) * 50_000
    for _ in range(4):
        got, partial, _ = read_frames(empty, partial, MAX)
        assert got == []
        assert partial == Partial(b"", wsframes.OP_TEXT, b"PI")
    end = client_frame(wsframes.OP_CONTINUATION, b"NG")
    assert read_frames(end, partial, MAX) == ([Received(wsframes.OP_TEXT, b"PING")], None, 1)


def test_a_big_frame_read_a_few_bytes_at_a_time_is_held_in_one_growing_buffer() -> None:
    # (the unfinished frame was once copied whole at every read: quadratic in its size)
    frame = client_frame(wsframes.OP_BINARY, os.urandom(200_000))
    partial: Partial | None = None
    held: list[object] = []
    for pos in range(0, len(frame) - 64, 64):
        got, partial, _ = read_frames(frame[pos : pos + 64], partial, 1 << 20)
        assert got == []
        assert partial is not None
        held.append(partial.tail)
    assert all(tail is held[0] for tail in held[1:])  # (one buffer, extended in place)
    got, partial, _ = read_frames(frame[len(held) * 64 :], partial, 1 << 20)
    assert partial is None
    assert [len(m.data) for m in got] == [200_000]
