"""The IRCv3 capability registry: every capability hubbub offers, and the bit it owns.

Bits let a session's capabilities be tested with one ``&`` and let messages be cached per
distinct set of capabilities that changes how they are serialised.
"""

from __future__ import annotations

import enum


class Cap(enum.IntFlag):
    """Capabilities a client can enable with ``CAP REQ``."""

    NONE = 0
    MESSAGE_TAGS = enum.auto()
    SERVER_TIME = enum.auto()
    ACCOUNT_TAG = enum.auto()
    BATCH = enum.auto()
    LABELED_RESPONSE = enum.auto()
    ECHO_MESSAGE = enum.auto()
    MULTI_PREFIX = enum.auto()
    USERHOST_IN_NAMES = enum.auto()
    EXTENDED_JOIN = enum.auto()
    AWAY_NOTIFY = enum.auto()
    ACCOUNT_NOTIFY = enum.auto()
    CHGHOST = enum.auto()
    INVITE_NOTIFY = enum.auto()
    SETNAME = enum.auto()
    CAP_NOTIFY = enum.auto()
    EXTENDED_MONITOR = enum.auto()
    NO_IMPLICIT_NAMES = enum.auto()
    SASL = enum.auto()
    STS = enum.auto()


CAP_NAMES: dict[Cap, str] = {
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
}
CAPS_BY_NAME: dict[str, Cap] = {name: cap for cap, name in CAP_NAMES.items()}

RENDER_CAPS = Cap.MESSAGE_TAGS | Cap.SERVER_TIME | Cap.ACCOUNT_TAG
"""The capabilities that change how one message is serialised (which tags it carries)."""


def visible_tags(tags: dict[str, str], caps: Cap) -> dict[str, str]:
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
