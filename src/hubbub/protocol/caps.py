"""The IRCv3 capability registry: every capability hubbub offers, and the bit it owns.

Bits let a session's capabilities be tested with one ``&`` and let messages be cached per
distinct set of capabilities that changes how they are serialised.
"""

from __future__ import annotations

from typing import Final

CapBits = int
"""A set of capabilities, as an ``int`` of :class:`Cap` bits."""


class Cap:
    """Capabilities a client can enable with ``CAP REQ``, one bit each.

    Plain ``int`` constants rather than :class:`enum.IntFlag`: flag arithmetic on an enum costs
    microseconds per operation, and these tests sit on the message fan-out path.
    """

    NONE: Final = 0
    MESSAGE_TAGS: Final = 1 << 0
    SERVER_TIME: Final = 1 << 1
    ACCOUNT_TAG: Final = 1 << 2
    BATCH: Final = 1 << 3
    LABELED_RESPONSE: Final = 1 << 4
    ECHO_MESSAGE: Final = 1 << 5
    MULTI_PREFIX: Final = 1 << 6
    USERHOST_IN_NAMES: Final = 1 << 7
    EXTENDED_JOIN: Final = 1 << 8
    AWAY_NOTIFY: Final = 1 << 9
    ACCOUNT_NOTIFY: Final = 1 << 10
    CHGHOST: Final = 1 << 11
    INVITE_NOTIFY: Final = 1 << 12
    SETNAME: Final = 1 << 13
    CAP_NOTIFY: Final = 1 << 14
    EXTENDED_MONITOR: Final = 1 << 15
    NO_IMPLICIT_NAMES: Final = 1 << 16
    SASL: Final = 1 << 17
    STS: Final = 1 << 18
    ACCOUNT_REGISTRATION: Final = 1 << 19
    CHATHISTORY: Final = 1 << 20
    EVENT_PLAYBACK: Final = 1 << 21
    READ_MARKER: Final = 1 << 22
    MESSAGE_REDACTION: Final = 1 << 23
    SEARCH: Final = 1 << 24
    MULTILINE: Final = 1 << 25


CAP_NAMES: dict[CapBits, str] = {
    Cap.MESSAGE_TAGS: "message-tags",
    Cap.SERVER_TIME: "server-time",
    Cap.ACCOUNT_TAG: "account-tag",
    Cap.BATCH: "batch",
    Cap.LABELED_RESPONSE: "labeled-response",
    Cap.ECHO_MESSAGE: "echo-message",
    Cap.MULTI_PREFIX: "multi-prefix",
    Cap.USERHOST_IN_NAMES: "userhost-in-names",
    Cap.EXTENDED_JOIN: "extended-join",
    Cap.AWAY_NOTIFY: "away-notify",
    Cap.ACCOUNT_NOTIFY: "account-notify",
    Cap.CHGHOST: "chghost",
    Cap.INVITE_NOTIFY: "invite-notify",
    Cap.SETNAME: "setname",
    Cap.CAP_NOTIFY: "cap-notify",
    Cap.EXTENDED_MONITOR: "extended-monitor",
    Cap.NO_IMPLICIT_NAMES: "draft/no-implicit-names",
    Cap.SASL: "sasl",
    Cap.STS: "sts",
    Cap.ACCOUNT_REGISTRATION: "draft/account-registration",
    Cap.CHATHISTORY: "draft/chathistory",
    Cap.EVENT_PLAYBACK: "draft/event-playback",
    Cap.READ_MARKER: "draft/read-marker",
    Cap.MESSAGE_REDACTION: "draft/message-redaction",
    Cap.SEARCH: "soju.im/search",
    Cap.MULTILINE: "draft/multiline",
}
CAPS_BY_NAME: dict[str, CapBits] = {name: cap for cap, name in CAP_NAMES.items()}

RENDER_CAPS: Final = Cap.MESSAGE_TAGS | Cap.SERVER_TIME | Cap.ACCOUNT_TAG
"""The capabilities that change how one message is serialised (which tags it carries)."""


def visible_tags(tags: dict[str, str], caps: CapBits) -> dict[str, str]:
    """The tags of a message that a client with ``caps`` may receive.

    ``message-tags`` opens every tag; otherwise ``time`` needs ``server-time`` and
    ``account`` needs ``account-tag``. ``batch`` and ``label`` are added per recipient.
    """
    if caps & Cap.MESSAGE_TAGS:
        return tags
    out = {}
    if caps & Cap.SERVER_TIME and "time" in tags:
        out["time"] = tags["time"]
    if caps & Cap.ACCOUNT_TAG and "account" in tags:
        out["account"] = tags["account"]
    return out
