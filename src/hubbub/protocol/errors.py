"""The protocol layer's own errors: parsing never raises anything else."""

from __future__ import annotations


class ProtocolError(ValueError):
    """Something a peer sent (or we were asked to send) is not valid IRC."""


class MalformedMessage(ProtocolError):
    """The line cannot be parsed as an IRC message (empty, no command, bad characters)."""


class LineTooLong(ProtocolError):
    """The line, without its tags, is over the 512-byte limit (CR LF included)."""


class TagsTooLong(ProtocolError):
    """The tag section is over the IRCv3 message-tags limit."""


class InvalidName(ProtocolError):
    """A nickname or channel name that the server will not accept."""
