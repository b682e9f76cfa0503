"""The IRC protocol, pure: no sockets, no asyncio. Shared by the server and the client."""

from hubbub.protocol.casemap import (
    Casemapping,
    Folded,
    fold,
    folder,
    is_channel_name,
    is_valid_channel,
    is_valid_hostname,
    is_valid_nick,
)
from hubbub.protocol.errors import (
    InvalidName,
    LineTooLong,
    MalformedMessage,
    ProtocolError,
    TagsTooLong,
)
from hubbub.protocol.framing import LineBuffer
from hubbub.protocol.masks import mask_matches, normalize_ban_mask
from hubbub.protocol.message import (
    MAX_CLIENT_TAG_BYTES,
    MAX_INPUT_BYTES,
    MAX_LINE_BYTES,
    MAX_SERVER_TAG_BYTES,
    Decoded,
    Hostmask,
    Message,
    check_length,
    decode,
    parse,
    parse_bytes,
    split_source,
)

__all__ = [
    "MAX_CLIENT_TAG_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_LINE_BYTES",
    "MAX_SERVER_TAG_BYTES",
    "Casemapping",
    "Decoded",
    "Folded",
    "Hostmask",
    "InvalidName",
    "LineBuffer",
    "LineTooLong",
    "MalformedMessage",
    "Message",
    "ProtocolError",
    "TagsTooLong",
    "check_length",
    "decode",
    "fold",
    "folder",
    "is_channel_name",
    "is_valid_channel",
    "is_valid_hostname",
    "is_valid_nick",
    "mask_matches",
    "normalize_ban_mask",
    "parse",
    "parse_bytes",
    "split_source",
]
