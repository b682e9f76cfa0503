"""SASL for the server: PLAIN (RFC 4616) and SCRAM-SHA-256 (RFC 5802, RFC 7677), pure.

A mechanism is a small state machine: :meth:`ServerMechanism.step` takes the client's next
response (decoded bytes; empty for ``AUTHENTICATE +``) and returns what to do next: send a
:class:`Challenge`, check a password off the event loop (:class:`CheckPassword`, PLAIN),
log in (:class:`Success`) or refuse (:class:`Failure`). Nothing here blocks except
:func:`make_scram_credentials`, which derives a key and belongs on a worker thread.

IRC carries the exchange base64-encoded in ``AUTHENTICATE`` lines of at most 400 bytes
(https://ircv3.net/specs/extensions/sasl-3.1): :mod:`hubbub.protocol.sasl` does that framing,
for the server and the client alike; :data:`MAX_PAYLOAD` is the server's bound on a response.

Passwords are used as their UTF-8 bytes, without SASLprep, like hubbub's client: the two
agree on every password, and for ASCII ones SASLprep changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from hubbub.storage.base import ScramCredentials

__all__ = [
    "MAX_PAYLOAD",
    "MECHANISMS",
    "SCRAM_ITERATIONS",
    "Challenge",
    "CheckPassword",
    "Failure",
    "PlainMechanism",
    "ScramSha256Mechanism",
    "ServerMechanism",
    "Step",
    "Success",
    "make_scram_credentials",
]

MAX_PAYLOAD = 4096
"""The longest base64 client response accepted, over all its lines: beyond it the
authentication fails (904), as IRCv3 SASL says; 905 is for one line over 400 bytes
(:data:`hubbub.protocol.sasl.CHUNK`)."""

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
"""The mechanisms the server offers, as shown in ``sasl=`` and RPL_SASLMECHS."""

SCRAM_ITERATIONS = 4096
"""PBKDF2 iterations of new SCRAM verifiers: RFC 7677's minimum, and what clients expect."""

_HASH = "sha256"


# -- what a step asks for ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``data`` to the client and wait for its next response."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CheckPassword:
    """Check ``password`` against the account ``username`` (slow: off the event loop);
    log in if it matches."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Success:
    """The client proved it owns the account ``username``."""

    username: str


@dataclass(frozen=True, slots=True)
class Failure:
    """Authentication failed; ``reason`` is for the log, never for the client.
    ``guessed``: the account whose password (proof) was wrong, if any (it counts against
    the account's allowance of failed logins)."""

    reason: str
    guessed: str = ""


Step = Challenge | CheckPassword | Success | Failure


class ServerMechanism(ABC):
    """The server side of one SASL authentication exchange."""

    name: str

    @abstractmethod
    def step(self, response: bytes) -> Step:
        """Take the client's next response; say what happens next."""


# -- PLAIN ---------------------------------------------------------------------------------


class PlainMechanism(ServerMechanism):
    """``PLAIN``: ``authzid NUL authcid NUL password`` in one response."""

    name = "PLAIN"

    def __init__(self) -> None:
        self._done = False

    def step(self, response: bytes) -> Step:
        if self._done:
            return Failure("PLAIN takes a single response")
        self._done = True
        parts = response.split(b"\0")
        if len(parts) != 3:
            return Failure("malformed PLAIN response")
        try:
            authzid, authcid, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            return Failure("PLAIN response is not UTF-8")
        if not authcid or not password:
            return Failure("empty PLAIN user name or password")
        if authzid and authzid != authcid:
            return Failure("PLAIN authorization identity differs from the user")
        return CheckPassword(authcid, password)


# -- SCRAM-SHA-256 -------------------------------------------------------------------------


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, _HASH).digest()


def make_scram_credentials(
    password: str, iterations: int = SCRAM_ITERATIONS, salt: bytes | None = None
) -> ScramCredentials:
    """The SCRAM-SHA-256 verifier of ``password`` (slow by design: keep it off the loop)."""
    if salt is None:
        salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(_HASH, password.encode("utf-8"), salt, iterations)
    stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
    server_key = _hmac(salted, b"Server Key")
    return ScramCredentials(salt, iterations, stored_key, server_key)


_DECOY_KEY = secrets.token_bytes(32)
"""Keys the made-up salts of unknown users: stable for a run, unpredictable to clients."""


def _decoy(username: str) -> ScramCredentials:
    """Credentials for a user that does not exist, so that the exchange looks the same as for
    one that does (no account enumeration); no proof can match them."""
    salt = _hmac(_DECOY_KEY, username.encode("utf-8"))[:16]
    return ScramCredentials(salt, SCRAM_ITERATIONS, secrets.token_bytes(32), b"")


def _unescape_username(text: str) -> str | None:
    # RFC 5802 section 5.1: "=2C" is ",", "=3D" is "=", and any other "=" is an error.
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "=":
            code = text[i + 1 : i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                return None
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _valid_nonce(nonce: str) -> bool:
    return bool(nonce) and all("\x21" <= c <= "\x7e" and c != "," for c in nonce)


class ScramSha256Mechanism(ServerMechanism):
    """``SCRAM-SHA-256`` without channel binding.

    ``lookup`` returns the stored verifier of a user name (None for an unknown user, who is
    refused only at the end, like a wrong password). ``nonce`` fixes the server's part of
    the nonce, for test vectors; it is random otherwise.
    """

    name = "SCRAM-SHA-256"

    def __init__(
        self,
        lookup: Callable[[str], ScramCredentials | None],
        nonce: str | None = None,
    ) -> None:
        self._lookup = lookup
        self._server_nonce = nonce or secrets.token_urlsafe(18)
        self._state = 0
        self._username = ""
        self._known = False
        self._credentials: ScramCredentials | None = None
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def step(self, response: bytes) -> Step:
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail("SCRAM message is not UTF-8")
        self._state += 1
        if self._state == 1:
            return self._client_first(text)
        if self._state == 2:
            return self._client_final(text)
        if self._state == 3:
            # The client acknowledges our signature with an empty response.
            if text:
                return self._fail("unexpected data after the SCRAM server-final message")
            return Success(self._username)
        return self._fail("SCRAM exchange is already complete")

    def _fail(self, reason: str) -> Failure:
        self._state = 99
        return Failure(reason)

    def _client_first(self, text: str) -> Step:
        # gs2-header: "n" (no channel binding) or "y" (the client could, thinks we can't),
        # then an optional "a=" authorization identity; "p=" asks for channel binding,
        # which the plain mechanism does not offer.
        cbind, sep1, rest = text.partition(",")
        authzid, sep2, bare = rest.partition(",")
        if not sep1 or not sep2 or cbind not in ("n", "y"):
            return self._fail("bad SCRAM gs2 header")
        if authzid and not authzid.startswith("a="):
            return self._fail("bad SCRAM authorization identity")
        attrs = bare.split(",")
        if attrs[0].startswith("m="):
            return self._fail("SCRAM mandatory extension not supported")
        if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
            return self._fail("bad SCRAM client-first message")
        username = _unescape_username(attrs[0][2:])
        client_nonce = attrs[1][2:]
        if not username or not _valid_nonce(client_nonce):
            return self._fail("bad SCRAM user name or nonce")
        if authzid:
            wanted = _unescape_username(authzid[2:])
            if wanted != username:
                return self._fail("SCRAM authorization identity differs from the user")
        self._username = username
        self._gs2_header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        credentials = self._lookup(username)
        self._known = credentials is not None
        self._credentials = credentials if credentials is not None else _decoy(username)
        self._nonce = client_nonce + self._server_nonce
        salt = base64.b64encode(self._credentials.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt},i={self._credentials.iterations}"
        return Challenge(self._server_first.encode("utf-8"))

    def _client_final(self, text: str) -> Step:
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        attrs = without_proof.split(",")
        if not sep or len(attrs) < 2:
            return self._fail("bad SCRAM client-final message")
        if not attrs[0].startswith("c=") or not attrs[1].startswith("r="):
            return self._fail("bad SCRAM client-final message")
        try:
            binding = base64.b64decode(attrs[0][2:], validate=True)
            proof = base64.b64decode(proof_b64, validate=True)
        except binascii.Error:
            return self._fail("bad base64 in the SCRAM client-final message")
        if binding != self._gs2_header.encode("utf-8"):
            return self._fail("SCRAM channel binding does not match the gs2 header")
        if attrs[1][2:] != self._nonce:
            return self._fail("SCRAM nonce does not match")
        credentials = self._credentials
        assert credentials is not None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}"
        signature = _hmac(credentials.stored_key, auth_message.encode("utf-8"))
        if len(proof) != len(signature):
            return self._fail("SCRAM proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        matches = hmac.compare_digest(hashlib.sha256(client_key).digest(), credentials.stored_key)
        if not matches or not self._known:
            self._state = 99
            return Failure("SCRAM proof does not match", self._username)
        server_signature = _hmac(credentials.server_key, auth_message.encode("utf-8"))
        return Challenge(b"v=" + base64.b64encode(server_signature))
