"""WebSocket frames (RFC 6455) for the server side of an established connection, sans I/O.

The epoll hub's WebSocket clients (:mod:`hubbub.net.epoll`) use this instead of a
``websockets`` connection object per client: an idle client then keeps no parser, no queue
and no task, only what a frame left half read (usually nothing). The opening handshake is
``websockets``' own (its sans-I/O :class:`~websockets.server.ServerProtocol`); once it is done,
frames in are :func:`read_frames`, lines out are :func:`frame_lines`.

What is enforced on the way in: client frames are masked; control frames are short and not
fragmented; reserved bits and opcodes are unused (no extension is ever negotiated); a message
(all its fragments) is at most ``max_size`` bytes (else close code 1009); a text message is
valid UTF-8 (else 1007). Anything else wrong closes with 1002.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "CLOSE_BAD_DATA",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Partial",
    "ProtocolViolation",
    "Received",
    "close_frame",
    "frame",
    "frame_lines",
    "read_frames",
    "valid_close_code",
    "valid_utf8",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_BAD_DATA = 1007
"""A text message that is not UTF-8."""
CLOSE_TOO_BIG = 1009

_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_DATA = frozenset({OP_TEXT, OP_BINARY})


class ProtocolViolation(Exception):
    """The client broke the protocol: close the connection with :attr:`code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Received(NamedTuple):
    """One complete message (``OP_TEXT``, ``OP_BINARY``) or control frame, unmasked."""

    opcode: int
    data: bytes


class Partial(NamedTuple):
    """What a read left unfinished: the bytes of an incomplete frame, and the opcode and
    payload so far of a message whose last fragment has not come yet (0 and b"" if none).

    Both grow in place (bytearrays): a client may send any number of fragments, empty
    ones too, or a frame of ``max_size`` bytes in reads of a few bytes each, and each read
    must cost in proportion to what it brings, not a copy of all that came before it."""

    tail: bytes | bytearray
    opcode: int
    fragments: bytes | bytearray


def read_frames(
    data: bytes | bytearray, partial: Partial | None, max_size: int
) -> tuple[list[Received], Partial | None, int]:
    """The messages and control frames that ``data`` completes, after what ``partial``
    held; what is left unfinished (None when nothing is); and how many frames were read
    whole (each costs a turn of this loop: a flood of empty fragments or pings, which
    complete no line, is charged by the caller for them). Raises
    :class:`ProtocolViolation` for a frame the connection must be closed for."""
    opcode = 0
    fragments: bytes | bytearray = b""
    if partial is not None:
        tail = partial.tail
        if tail:
            if isinstance(tail, bytearray):
                tail += data
            else:
                tail = tail + data
            data = tail
        opcode, fragments = partial.opcode, partial.fragments
    held = len(fragments)
    out: list[Received] = []
    frames = 0
    pos, end = 0, len(data)
    while end - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        if b0 & 0x70:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if not b1 & 0x80:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "unmasked frame from a client")
        fin, op, size = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        head = 2
        if size == 126:
            if end - pos < 4:
                break
            (size,) = struct.unpack_from("!H", data, pos + 2)
            head = 4
        elif size == 127:
            if end - pos < 10:
                break
            (size,) = struct.unpack_from("!Q", data, pos + 2)
            head = 10
        if op in _CONTROL:
            if not fin or size > 125:
                raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "bad control frame")
        elif op in _DATA:
            if fragments or opcode:
                raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "a new message inside another")
        elif op != OP_CONTINUATION:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {op}")
        elif not opcode:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "continuation of nothing")
        if op not in _CONTROL and held + size > max_size:
            raise ProtocolViolation(CLOSE_TOO_BIG, f"message over {max_size} bytes")
        if end - pos < head + 4 + size:
            break
        mask = data[pos + head : pos + head + 4]
        start = pos + head + 4
        payload = apply_mask(data[start : start + size], mask)
        pos = start + size
        frames += 1
        if op in _CONTROL:
            out.append(Received(op, payload))
            continue
        if op != OP_CONTINUATION:
            opcode = op
        if not fin:
            if isinstance(fragments, bytearray):
                fragments += payload
            else:
                fragments = bytearray(payload)
            held += size
            continue
        if fragments:
            fragments += payload
            payload = bytes(fragments)
        fragments, held = b"", 0
        if opcode == OP_TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolViolation(CLOSE_BAD_DATA, "invalid UTF-8 in a text message") from None
        out.append(Received(opcode, payload))
        opcode = 0
    if pos >= end:
        if not opcode:
            return out, None, frames
        return out, Partial(b"", opcode, fragments), frames
    rest = data if pos == 0 and isinstance(data, bytearray) else bytearray(data[pos:])
    return out, Partial(rest, opcode, fragments), frames


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked frame (a server's), final."""
    size = len(payload)
    if size < 126:
        return bytes((0x80 | opcode, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


def valid_utf8(line: bytes) -> bytes:
    """``line`` as it is when it is UTF-8, else with what is not replaced by U+FFFD: what a
    text frame may carry."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("utf-8", "replace").encode("utf-8")
    return line


def frame_lines(data: bytes, binary: bool) -> bytes:
    """IRC lines (each ending in CR LF) as frames, one line a message without its CR LF: a
    binary frame for ``binary`` (``binary.ircv3.net``), else a text frame, with bytes that
    are not UTF-8 replaced."""
    parts: list[bytes] = []
    if binary:
        for line in data.split(b"\r\n"):
            if line:
                parts.append(frame(OP_BINARY, line))
    else:
        for line in data.split(b"\r\n"):
            if line:
                parts.append(frame(OP_TEXT, line if line.isascii() else valid_utf8(line)))
    return b"".join(parts)


def valid_close_code(code: int) -> bool:
    """Whether a peer may send the close code ``code`` (RFC 6455 7.4): the defined ones
    that are not reserved for use inside an endpoint (1005, 1006, 1015), and 3000-4999."""
    return code in _CLOSE_CODES or 3000 <= code <= 4999


_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and a short ``reason``."""
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:123])
