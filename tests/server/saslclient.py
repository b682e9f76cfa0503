"""The client side of SASL for tests: just enough PLAIN and SCRAM-SHA-256 to drive the server,
written apart from the server's code so that the two check each other."""

from __future__ import annotations

import base64
import hashlib
import hmac


def plain(user: str, password: str, authzid: str = "") -> bytes:
    """A PLAIN response (RFC 4616)."""
    return f"{authzid}\0{user}\0{password}".encode()


def b64(data: bytes) -> str:
    """``data`` as one ``AUTHENTICATE`` parameter (``+`` when empty)."""
    return base64.b64encode(data).decode() or "+"


class ScramClient:
    """SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677)."""

    def __init__(
        self, user: str, password: str, nonce: str = "clientnonce0123", gs2: str = "n,,"
    ) -> None:
        self.user = user
        self.password = password
        self.nonce = nonce
        self.gs2 = gs2
        self.bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return (self.gs2 + self.bare).encode()

    def final(self, server_first: bytes, password: str | None = None) -> bytes:
        text = server_first.decode()
        attrs = dict(part.split("=", 1) for part in text.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256",
            (password if password is not None else self.password).encode(),
            base64.b64decode(attrs["s"]),
            int(attrs["i"]),
        )
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        binding = base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={binding},r={attrs['r']}"
        auth = f"{self.bare},{text},{without_proof}".encode()
        signature = hmac.new(stored_key, auth, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self.server_signature = hmac.new(server_key, auth, "sha256").digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def check(self, server_final: bytes) -> bool:
        return server_final == b"v=" + base64.b64encode(self.server_signature)
