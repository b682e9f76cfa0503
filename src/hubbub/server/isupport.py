"""The server's ISUPPORT (``005``) tokens, derived from its config."""

from __future__ import annotations

from hubbub.config import Config
from hubbub.protocol.casemap import CHANTYPES
from hubbub.protocol.isupport import chunk, format_tokens
from hubbub.server.channel import (
    FLAG_MODES,
    KEYLEN,
    LIST_MODES,
    MAX_LIST_MASKS,
    PREFIX_MODES,
    PREFIX_SYMBOLS,
)
from hubbub.server.extbans import ACCOUNT_EXTBAN, EXTBAN


def build_isupport(config: Config, history: bool = False) -> list[list[str]]:
    """The ISUPPORT tokens, split into the groups of one ``005`` line each (``history``:
    the server keeps history, and says how much CHATHISTORY gives)."""
    limits = config.limits
    targmax = ",".join(
        [
            f"PRIVMSG:{limits.max_targets}",
            f"NOTICE:{limits.max_targets}",
            f"TAGMSG:{limits.max_targets}",
            "JOIN:",
            "PART:",
            f"KICK:{limits.max_targets}",
            "NAMES:1",
            "WHOIS:1",
            f"WHOWAS:{limits.max_targets}",
            f"LIST:{MAX_LIST_MASKS}",
            "MONITOR:",
        ]
    )
    tokens: dict[str, str | int | None] = {
        "ACCOUNTEXTBAN": ACCOUNT_EXTBAN,
        "AWAYLEN": limits.awaylen,
        "BOT": "B",
        "CASEMAPPING": config.server.casemapping,
        "CHANLIMIT": f"{CHANTYPES}:{limits.max_channels}",
        "CHANMODES": f"{LIST_MODES},k,l,{FLAG_MODES}",
        "CHANNELLEN": limits.channellen,
        "CHANTYPES": CHANTYPES,
        "ELIST": "CMNTU",
        "EXCEPTS": "e",
        "EXTBAN": EXTBAN,
        "HOSTLEN": 64,
        "INVEX": "I",
        "KEYLEN": KEYLEN,
        "KICKLEN": limits.kicklen,
        "MAXLIST": f"{LIST_MODES}:{limits.max_list_entries}",
        "MODES": limits.max_modes,
        "MONITOR": limits.monitor,
        "NAMELEN": limits.realnamelen,
        "NETWORK": config.server.network,
        "NICKLEN": limits.nicklen,
        "PREFIX": f"({PREFIX_MODES}){PREFIX_SYMBOLS}",
        "SAFELIST": None,
        "STATUSMSG": PREFIX_SYMBOLS,
        "TARGMAX": targmax,
        "TOPICLEN": limits.topiclen,
        "USERLEN": limits.userlen,
        "UTF8ONLY": None,
        "WHOX": None,
    }
    if history and config.history.enabled:
        tokens["CHATHISTORY"] = config.history.request_limit
        tokens["MSGREFTYPES"] = "timestamp,msgid"
    return chunk(format_tokens(tokens))
