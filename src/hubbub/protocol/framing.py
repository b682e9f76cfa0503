"""Turning a byte stream into lines.

Lines end with LF; a CR before it is removed (Modern IRC asks for CR LF, but clients that
send a bare LF are common and harmless). A line longer than the limit is discarded up to its
end, and reported as a :class:`LineTooLong` in its place, so one bad line never desynchronises
the stream or costs unbounded memory.
"""

from __future__ import annotations

from hubbub.protocol.errors import LineTooLong
from hubbub.protocol.message import MAX_INPUT_BYTES


class LineBuffer:
    """Bytes in, complete lines out. Memory held is bounded by ``max_len``, the most bytes a
    line may have before its LF (a CR included)."""

    __slots__ = ("_buf", "_discarding", "blank_lines", "max_len")

    def __init__(self, max_len: int = MAX_INPUT_BYTES, *, blank_lines: bool = False) -> None:
        self._buf = b""
        self._discarding = False
        self.max_len = max_len
        self.blank_lines = blank_lines
        """Return empty lines too, as ``b""``: the server counts them against flood control
        (a stream of bare LFs costs it a loop turn each), then ignores them."""

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add data; return the lines it completes (without line endings), in order.

        Empty lines are dropped (or returned as ``b""``, see :attr:`blank_lines`). An
        over-long line appears as a :class:`LineTooLong`.
        """
        blank = self.blank_lines
        buf = self._buf + data if self._buf else data
        out: list[bytes | LineTooLong] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            else:
                line = buf[start:end]
                # The CR counts towards max_len: a held partial line cannot know whether
                # its last CR ends the line, and the result must not depend on how the
                # stream was split into reads.
                if len(line) > self.max_len:
                    out.append(LineTooLong(f"line over {self.max_len} bytes"))
                else:
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    if line or blank:
                        out.append(line)
            start = end + 1
        rest = buf[start:]
        if len(rest) > self.max_len:
            if not self._discarding:
                out.append(LineTooLong(f"line over {self.max_len} bytes"))
            self._discarding = True
            rest = b""
        elif self._discarding:
            rest = b""
        self._buf = rest
        return out

    @property
    def idle(self) -> bool:
        """True when no partial line is held (the next byte starts a line)."""
        return not self._buf and not self._discarding

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete line."""
        return len(self._buf)
