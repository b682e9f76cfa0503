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


class Unsupported(ClientError):
    """The server lacks what a call needs (a capability such as ``draft/chathistory``)."""


class RequestTimeout(ClientError, TimeoutError):
    """The server did not answer a request in time (also a :class:`TimeoutError`)."""


class RequestFailed(ClientError):
    """The server refused a request: a ``FAIL`` (IRCv3 standard replies) or an error numeric.

    ``command`` is the command that failed (``CHATHISTORY``), ``code`` the machine-readable
    reason (``INVALID_TARGET``, or the numeric such as ``421``), ``context`` the parameters
    between them and the text, and ``description`` the server's words.
    """

    def __init__(
        self, command: str, code: str, context: tuple[str, ...] = (), description: str = ""
    ) -> None:
        self.command = command
        self.code = code
        self.context = context
        self.description = description
        where = f" ({' '.join(context)})" if context else ""
        super().__init__(f"{command} failed: {code}{where}: {description or 'no reason given'}")
