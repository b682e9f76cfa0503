"""Numbers from a server or a user in the client library: ``²`` passes ``str.isdigit`` but
is not a number (``int()`` raised on it)."""

from __future__ import annotations

import pytest

from hubbub.client.state import ClientState
from hubbub.client.text import alternative_nick, parse_address
from hubbub.protocol import parse


def test_isupport_nicklen_not_a_number() -> None:
    state = ClientState("ann")
    state.apply(parse(":srv 005 ann NICKLEN=² :are supported"))
    assert state.nicklen == 30


def test_alternative_nick_after_a_superscript() -> None:
    assert alternative_nick("abc²", max_len=4) == "abc1"


@pytest.mark.parametrize("text", ["host:²", "host:6²", "host:" + "9" * 5000])
def test_parse_address_rejects_non_ascii_ports(text: str) -> None:
    with pytest.raises(ValueError, match="bad port"):
        parse_address(text)
