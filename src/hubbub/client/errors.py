"""The client library's exceptions: each says in plain words what went wrong."""

from __future__ import annotations


class ClientError(Exception):
    """The base of the client library's errors."""


class ConnectionFailed(ClientError):
    """The connection could not be made (refused, unreachable, timed out, bad address)."""


class TLSFailed(ConnectionFailed):
    """The TLS handshake failed (untrusted certificate, wrong host name, not a TLS port)."""


class RegistrationFailed(ClientError):
    """The server closed the connection before welcoming us (bad password, banned, SASL)."""


class NotConnected(ClientError):
    """A command was sent while there is no connection (closed, or reconnecting)."""
