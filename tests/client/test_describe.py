"""Numeric replies as sentences (hubbub.client.describe), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.client.describe import (
    describe_numeric,
    format_duration,
    format_time,
    numeric_text,
    plain_numeric,
)
from hubbub.protocol import numerics as n

SIGNON = int(datetime(2026, 12, 3, 10, 15, tzinfo=UTC).timestamp())
SET = int(datetime(2024, 5, 17, 9, 30, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (-5, "0 s"),
        (23, "23 s"),
        (60, "1 min"),
        (245, "4 min 5 s"),
        (3600, "1 h"),
        (3 * 3600 + 59, "3 h"),
        (86400 + 2 * 3600 + 7, "1 d 2 h"),
        (400 * 86400, "400 d"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_time() -> None:
    assert format_time(SIGNON, UTC) == "2026-12-03 10:15 (UTC)"
    cet = timezone(timedelta(hours=1), "CET")
    assert format_time(SIGNON, cet) == "2026-12-03 11:15 (CET)"
    local = datetime.fromtimestamp(SIGNON).strftime("%Y-%m-%d %H:%M")
    assert format_time(SIGNON) == f"{local} (local time)"
    assert format_time(10**20, UTC) == f"{10**20} (Unix time)"


# Each numeric as a server sends it (our own nick already dropped, as in Numeric.params).
SENTENCES = [
    (n.RPL_WHOISUSER, ("dave", "~d", "example.org", "*", "Dave Example"),
     "dave is ~d@example.org, real name: Dave Example"),
    (n.RPL_WHOISSERVER, ("dave", "irc.example.org", "An example server"),
     "dave's server: irc.example.org (An example server)"),
    (n.RPL_WHOISIDLE, ("dave", "23", str(SIGNON), "seconds idle, signon time"),
     "dave has been idle 23 s, signed on at 2026-12-03 10:15 (UTC)"),
    (n.RPL_WHOISIDLE, ("dave", "93784", "seconds idle"), "dave has been idle 1 d 2 h"),
    (n.RPL_WHOISCHANNELS, ("dave", "@#a +#b #c "), "dave is in @#a, +#b, #c"),
    (n.RPL_WHOISACCOUNT, ("dave", "davey", "is logged in as"), "dave is logged in as davey"),
    (n.RPL_WHOISSECURE, ("dave", "is using a secure connection"),
     "dave is using a secure connection"),
    (n.RPL_WHOISSECURE, ("dave",), "dave is using a secure connection"),
    (n.RPL_WHOISOPERATOR, ("dave", "is a Network Administrator"),
     "dave is a Network Administrator"),
    (n.RPL_WHOISBOT, ("dave", "is a bot"), "dave is a bot"),
    (n.RPL_WHOISACTUALLY, ("dave", "~d@10.0.0.1", "10.0.0.1", "Actual user@host, Actual IP"),
     "dave really connects from ~d@10.0.0.1 (10.0.0.1)"),
    (n.RPL_ENDOFWHOIS, ("dave", "End of /WHOIS list"), "end of WHOIS for dave"),
    (n.RPL_WHOWASUSER, ("dave", "~d", "example.org", "*", "Dave Example"),
     "dave was ~d@example.org, real name: Dave Example"),
    (n.RPL_ENDOFWHOWAS, ("dave", "End of WHOWAS"), "end of WHOWAS for dave"),
    (n.RPL_AWAY, ("dave", "out for lunch"), "dave is away: out for lunch"),
    (n.RPL_TOPICWHOTIME, ("#c", "bob!b@example.org", str(SET)),
     "topic of #c, set by bob on 2024-05-17 09:30 (UTC)"),
    (n.RPL_TOPICWHOTIME, ("#c", "bob", "soon"), "topic of #c, set by bob"),
    (n.RPL_CREATIONTIME, ("#c", str(SET)), "#c was created on 2024-05-17 09:30 (UTC)"),
    (n.RPL_CHANNELMODEIS, ("#c", "+ntl", "10"), "#c has modes +ntl 10"),
    (n.RPL_INVITING, ("dave", "#c"), "you invited dave to #c"),
    (n.RPL_BANLIST, ("#c", "*!*@bad.example", "bob!b@h", str(SET)),
     "#c bans *!*@bad.example, set by bob on 2024-05-17 09:30 (UTC)"),
    (n.RPL_BANLIST, ("#c", "*!*@bad.example"), "#c bans *!*@bad.example"),
    (n.RPL_ENDOFBANLIST, ("#c", "End of channel ban list"), "end of the ban list of #c"),
    (n.RPL_EXCEPTLIST, ("#c", "*!*@ok", "bob", str(SET)),
     "#c exempts from bans *!*@ok, set by bob on 2024-05-17 09:30 (UTC)"),
    (n.RPL_INVEXLIST, ("#c", "*!*@friend"), "#c lets in *!*@friend"),
    (n.RPL_LUSEROP, ("1", "operator(s) online"), "1 operator online"),
    (n.RPL_LUSEROP, ("3", "operator(s) online"), "3 operators online"),
    (n.RPL_LUSERUNKNOWN, ("2", "unknown connection(s)"), "2 unknown connections"),
    (n.RPL_LUSERCHANNELS, ("5", "channels formed"), "5 channels formed"),
    (n.RPL_LOCALUSERS, ("3", "10", "Current local users 3, max 10"),
     "3 users on this server, at most 10 so far"),
    (n.RPL_GLOBALUSERS, ("Current global users: 4",), "Current global users: 4"),
    (n.RPL_LIST, ("#c", "5", "all about c"), "#c (5 users): all about c"),
    (n.RPL_LIST, ("#c", "1", ""), "#c (1 user)"),
    (n.RPL_WHOREPLY, ("#c", "~d", "example.org", "irc.example", "dave", "G*", "0 Dave E"),
     "dave is ~d@example.org in #c, away, an IRC operator, real name: Dave E"),
    (n.RPL_UMODEIS, ("+iw",), "your user modes: +iw"),
    (n.RPL_VERSION, ("hubbub-1.0", "irc.example", "fast"), "irc.example runs hubbub-1.0 (fast)"),
    (n.RPL_MONONLINE, ("dave!d@h,erin!e@h",), "online: dave, erin"),
    (n.RPL_LOGGEDIN, ("ann!a@h", "ann", "You are now logged in as ann"),
     "you are logged in as ann"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "params", "sentence"), SENTENCES)
def test_sentences(code: str, params: tuple[str, ...], sentence: str) -> None:
    assert describe_numeric(code, params, tz=UTC) == sentence


@pytest.mark.parametrize(
    ("code", "params"),
    [
        (n.RPL_WHOISIDLE, ("dave", "a while", "x")),  # not a number
        (n.RPL_WHOISUSER, ("dave",)),  # too short
        (n.RPL_INVITING, ("dave", "")),  # empty where a name belongs
        (n.RPL_TOPICWHOTIME, ("#c",)),
        (n.RPL_LUSEROP, ("-1", "operator(s) online")),
        ("999", ("whatever", "the server says")),  # unknown
        (n.RPL_WHOISUSER, ()),
    ],
)
def test_misfits_and_unknown_numerics_have_no_sentence(code: str, params: tuple[str, ...]) -> None:
    assert describe_numeric(code, params, tz=UTC) is None


def test_numeric_text_falls_back_to_the_parameters() -> None:
    assert numeric_text("999", ("a", "*", "b", "the end")) == "a b the end"
    assert numeric_text(n.RPL_WHOISIDLE, ("dave", "soon", "x")) == "dave soon x"
    assert numeric_text(n.RPL_AWAY, ("dave", "brb"), tz=UTC) == "dave is away: brb"
    assert plain_numeric(()) == ""


def test_idle_signon_in_local_time_by_default() -> None:
    text = describe_numeric(n.RPL_WHOISIDLE, ("dave", "23", str(SIGNON), "seconds idle"))
    local = datetime.fromtimestamp(SIGNON).strftime("%Y-%m-%d %H:%M")
    assert text == f"dave has been idle 23 s, signed on at {local} (local time)"


@given(
    st.sampled_from([code for code, _, _ in SENTENCES] + ["999", "001"]),
    st.lists(st.text(max_size=30) | st.integers(0, 10**25).map(str), max_size=8),
)
def test_never_raises(code: str, params: list[str]) -> None:
    text = numeric_text(code, params, tz=UTC)
    assert isinstance(text, str)
