"""SASL for the client: PLAIN (RFC 4616) and SCRAM-SHA-256 (RFC 5802, RFC 7677), pure.

A mechanism is a small state machine: :meth:`Mechanism.respond` takes the server's challenge
(decoded bytes; empty for the initial ``AUTHENTICATE +``) and returns the client's response.
IRC's base64 framing of ``AUTHENTICATE`` (400-byte chunks, ``+`` for empty, described at
https://ircv3.net/specs/extensions/sasl-3.1) is :mod:`hubbub.protocol.sasl`, shared with the
server; :class:`ChallengeReader` reads server challenges with it, bounded by
:data:`MAX_CHALLENGE`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod

from hubbub.protocol.numbers import parse_number
from hubbub.protocol.sasl import PayloadError, Reassembler

MAX_CHALLENGE = 4096
"""The longest base64 challenge accepted from a server, over all its ``AUTHENTICATE`` lines
(a SCRAM challenge is about 100): a server that sends more fails the exchange."""

MECHANISMS = ("SCRAM-SHA-256", "PLAIN")
"""The mechanisms this client speaks, in order of preference."""


class SaslError(Exception):
    """The server's SASL exchange is invalid (bad challenge, failed server signature)."""


class Mechanism(ABC):
    """One SASL authentication exchange."""

    name: str

    @abstractmethod
    def respond(self, challenge: bytes) -> bytes:
        """The response to ``challenge``; raises :class:`SaslError` for a bad one."""

    @property
    def done(self) -> bool:
        """True once the exchange needs no more responses from us."""
        return False


class Plain(Mechanism):
    """``PLAIN``: authzid NUL authcid NUL password, in one go (use it only over TLS)."""

    name = "PLAIN"

    def __init__(self, username: str, password: str, authzid: str = "") -> None:
        self._payload = b"\0".join(s.encode("utf-8") for s in (authzid, username, password))
        self._sent = False

    def respond(self, challenge: bytes) -> bytes:
        if self._sent:
            raise SaslError("PLAIN takes a single step")
        self._sent = True
        return self._payload

    @property
    def done(self) -> bool:
        return self._sent


def _escape_username(name: str) -> str:
    # RFC 5802 section 5.1: "=" and "," are escaped as "=3D" and "=2C". (SASLprep is not
    # applied: IRC account names are ASCII in practice.)
    return name.replace("=", "=3D").replace(",", "=2C")


def _parse_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise SaslError(f"malformed SCRAM attribute {part!r}")
        out[key] = value
    return out


class ScramSha256(Mechanism):
    """``SCRAM-SHA-256`` without channel binding: the password never crosses the wire, and
    the server proves it knows the verifier too."""

    name = "SCRAM-SHA-256"
    _hash = "sha256"

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        self._username = username
        self._password = password
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._step = 0
        self._client_first_bare = ""
        self._server_signature = b""

    def _hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self._hash).digest()

    def respond(self, challenge: bytes) -> bytes:
        self._step += 1
        if self._step == 1:
            self._client_first_bare = f"n={_escape_username(self._username)},r={self._nonce}"
            return ("n,," + self._client_first_bare).encode("utf-8")
        if self._step == 2:
            return self._client_final(challenge)
        if self._step == 3:
            self._verify(challenge)
            return b""
        raise SaslError("SCRAM exchange is already complete")

    def _client_final(self, challenge: bytes) -> bytes:
        server_first = challenge.decode("utf-8", "replace")
        attrs = _parse_attributes(server_first)
        if "m" in attrs:
            raise SaslError("SCRAM server asked for an unsupported extension")
        try:
            nonce, salt_b64, iterations = attrs["r"], attrs["s"], parse_number(attrs["i"])
            if iterations is None:
                raise ValueError("not a number")
            salt = base64.b64decode(salt_b64, validate=True)
        except (KeyError, ValueError, binascii.Error) as exc:
            raise SaslError(f"bad SCRAM server-first message {server_first!r}") from exc
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError("SCRAM server nonce does not extend ours")
        if not 1 <= iterations <= 10_000_000:
            raise SaslError(f"unreasonable SCRAM iteration count {iterations}")
        salted = hashlib.pbkdf2_hmac(self._hash, self._password.encode("utf-8"), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._hash, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()
        client_signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        server_key = self._hmac(salted, b"Server Key")
        self._server_signature = self._hmac(server_key, auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify(self, challenge: bytes) -> None:
        attrs = _parse_attributes(challenge.decode("utf-8", "replace"))
        if "e" in attrs:
            raise SaslError(f"SCRAM server error: {attrs['e']}")
        try:
            signature = base64.b64decode(attrs["v"], validate=True)
        except (KeyError, binascii.Error) as exc:
            raise SaslError("bad SCRAM server-final message") from exc
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError("SCRAM server signature does not match: not the real server?")

    @property
    def done(self) -> bool:
        return self._step >= 3


def make_mechanism(name: str, username: str, password: str) -> Mechanism:
    """The mechanism called ``name`` (one of :data:`MECHANISMS`)."""
    if name == "PLAIN":
        return Plain(username, password)
    if name == "SCRAM-SHA-256":
        return ScramSha256(username, password)
    raise ValueError(f"unsupported SASL mechanism {name!r}")


class ChallengeReader:
    """Reassembles a server challenge from ``AUTHENTICATE`` lines, at most ``max_size`` base64
    characters of it: beyond that, or on a line that is not base64, :class:`SaslError`."""

    def __init__(self, max_size: int = MAX_CHALLENGE) -> None:
        self._reader = Reassembler(max_size)

    def feed(self, param: str) -> bytes | None:
        """Add one line's parameter; return the whole challenge once it is complete."""
        try:
            return self._reader.feed(param)
        except PayloadError as exc:
            raise SaslError(f"server sent a bad AUTHENTICATE: {exc}") from exc
