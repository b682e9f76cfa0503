"""IRC's framing of SASL: base64 payloads split over ``AUTHENTICATE`` lines (pure).

A payload travels base64-encoded in chunks of at most :data:`CHUNK` characters; a chunk shorter
than that ends it, and a lone ``+`` ends one whose last chunk was exactly :data:`CHUNK` long
(or stands for an empty payload). See https://ircv3.net/specs/extensions/sasl-3.1. Both sides
of hubbub use this module: the server to read client responses and send challenges, the client
the other way round.
"""

from __future__ import annotations

import base64
import binascii

from hubbub.protocol.errors import ProtocolError

__all__ = [
    "CHUNK",
    "ChunkTooLong",
    "PayloadError",
    "PayloadTooLarge",
    "Reassembler",
    "chunk",
]

CHUNK = 400
"""The longest base64 payload of one ``AUTHENTICATE`` line."""


def chunk(data: bytes) -> list[str]:
    """The ``AUTHENTICATE`` parameters that carry ``data``: base64 in :data:`CHUNK`-character
    pieces, and a final ``+`` when the last piece is exactly that long (or there is no data)."""
    encoded = base64.b64encode(data).decode("ascii")
    chunks = [encoded[i : i + CHUNK] for i in range(0, len(encoded), CHUNK)]
    if not chunks or len(chunks[-1]) == CHUNK:
        chunks.append("+")
    return chunks


class PayloadError(ProtocolError):
    """``AUTHENTICATE`` data that cannot be a payload: not base64, or too long."""


class ChunkTooLong(PayloadError):
    """One ``AUTHENTICATE`` parameter is longer than :data:`CHUNK` (the server answers 905)."""


class PayloadTooLarge(PayloadError):
    """A payload, over all its ``AUTHENTICATE`` lines, is longer than the reader's bound (the
    server answers 904: a failed authentication, not a too-long line)."""


class Reassembler:
    """Collects one payload from the parameters of successive ``AUTHENTICATE`` lines.

    ``max_size`` bounds the base64 text held for one payload, so a peer that sends full
    chunks forever costs at most that much memory and then gets :class:`PayloadTooLarge`.
    After any error the partial payload is forgotten and the next parameter starts a new one.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < CHUNK:
            raise ValueError(f"max_size must be at least one chunk ({CHUNK}), got {max_size}")
        self.max_size = max_size
        self._parts: list[str] = []
        self._size = 0

    def feed(self, param: str) -> bytes | None:
        """Add one line's parameter; the decoded payload once it is complete, else None.

        Raises :class:`ChunkTooLong`, :class:`PayloadTooLarge`, or :class:`PayloadError` for
        text that is not base64.
        """
        if len(param) > CHUNK:
            self.clear()
            raise ChunkTooLong(f"AUTHENTICATE parameter longer than {CHUNK} bytes")
        if param != "+":
            self._size += len(param)
            if self._size > self.max_size:
                self.clear()
                raise PayloadTooLarge(f"SASL payload longer than {self.max_size} bytes")
            self._parts.append(param)
            if len(param) == CHUNK:
                return None
        encoded = "".join(self._parts)
        self.clear()
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: not ASCII at all
            raise PayloadError("invalid base64 in AUTHENTICATE") from exc

    def clear(self) -> None:
        """Forget a partly received payload."""
        self._parts.clear()
        self._size = 0
