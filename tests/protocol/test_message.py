"""Messages: parsing, serialising, byte limits and decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol import (
    MAX_CLIENT_TAG_BYTES,
    MAX_LINE_BYTES,
    MAX_SERVER_TAG_BYTES,
    Decoded,
    LineTooLong,
    MalformedMessage,
    Message,
    ProtocolError,
    TagsTooLong,
    check_length,
    decode,
    parse,
    parse_bytes,
    split_source,
)
from hubbub.protocol.message import MAX_BODY_BYTES, cut_utf8, fit_body


def _tags_of(size: int) -> bytes:
    """A tag section of exactly ``size`` bytes, ``@`` and the trailing space included."""
    assert size >= 4
    return b"@a=" + b"x" * (size - 4) + b" "


# --- line limits --------------------------------------------------------------------------------


def test_line_limit_constants() -> None:
    assert MAX_LINE_BYTES == 512
    assert MAX_CLIENT_TAG_BYTES == 4096
    assert MAX_SERVER_TAG_BYTES == 8191


def test_line_of_512_bytes_with_crlf_is_accepted() -> None:
    body = b"PRIVMSG #c :" + b"x" * (510 - len(b"PRIVMSG #c :"))
    assert len(body) + 2 == 512
    check_length(body)
    assert parse_bytes(body).params[-1] == "x" * (510 - len(b"PRIVMSG #c :"))


def test_line_of_513_bytes_with_crlf_is_too_long() -> None:
    body = b"PRIVMSG #c :" + b"x" * (511 - len(b"PRIVMSG #c :"))
    with pytest.raises(LineTooLong):
        check_length(body)
    with pytest.raises(LineTooLong):
        parse_bytes(body)


def test_tags_do_not_count_towards_the_512_bytes() -> None:
    body = b"PRIVMSG #c :" + b"x" * (510 - len(b"PRIVMSG #c :"))
    msg = parse_bytes(_tags_of(1000) + body)
    assert msg.tags["a"] == "x" * 996
    with pytest.raises(LineTooLong):
        parse_bytes(_tags_of(1000) + body + b"x")


def test_client_tags_up_to_4096_bytes() -> None:
    parse_bytes(_tags_of(MAX_CLIENT_TAG_BYTES) + b"TAGMSG #c")
    with pytest.raises(TagsTooLong):
        parse_bytes(_tags_of(MAX_CLIENT_TAG_BYTES + 1) + b"TAGMSG #c")
    with pytest.raises(TagsTooLong):
        check_length(_tags_of(MAX_CLIENT_TAG_BYTES + 1) + b"TAGMSG #c")


def test_server_tag_limit_is_larger() -> None:
    line = _tags_of(MAX_SERVER_TAG_BYTES) + b"PRIVMSG #c :hi"
    assert parse_bytes(line, MAX_SERVER_TAG_BYTES).command == "PRIVMSG"
    with pytest.raises(TagsTooLong):
        parse_bytes(_tags_of(MAX_SERVER_TAG_BYTES + 1) + b"X", MAX_SERVER_TAG_BYTES)


def test_tag_section_without_command_is_checked_and_rejected() -> None:
    with pytest.raises(TagsTooLong):
        check_length(b"@" + b"a" * MAX_CLIENT_TAG_BYTES)
    with pytest.raises(MalformedMessage):
        parse_bytes(b"@a=b")


def test_limit_errors_are_protocol_errors() -> None:
    assert issubclass(LineTooLong, ProtocolError)
    assert issubclass(TagsTooLong, ProtocolError)
    assert issubclass(MalformedMessage, ProtocolError)
    assert issubclass(ProtocolError, ValueError)


# --- decoding -----------------------------------------------------------------------------------


def test_valid_utf8_decodes_as_utf8() -> None:
    assert decode("PRIVMSG #c :café ☕".encode()) == Decoded("PRIVMSG #c :café ☕", True)


def test_invalid_utf8_falls_back_to_latin1() -> None:
    decoded = decode(b"PRIVMSG #c :caf\xe9")
    assert decoded.utf8 is False
    assert decoded.text == "PRIVMSG #c :café"
    assert parse_bytes(b"PRIVMSG #c :caf\xe9").params == ("#c", "café")


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"ok\x80"],
)
def test_every_invalid_utf8_sequence_is_latin1(raw: bytes) -> None:
    text, utf8 = decode(raw)
    assert not utf8
    assert text.encode("latin-1") == raw


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["", " ", "   ", ":src", ":src ", ": PRIVMSG x", "@a=b", "@a=b :s"]
)
def test_lines_without_a_command_are_malformed(line: str) -> None:
    with pytest.raises(MalformedMessage):
        parse(line)


@pytest.mark.parametrize("ch", ["\0", "\r", "\n"])
def test_nul_cr_lf_are_malformed(ch: str) -> None:
    with pytest.raises(MalformedMessage):
        parse(f"PRIVMSG #c :a{ch}b")
    with pytest.raises(MalformedMessage):
        parse_bytes(f"PRIVMSG #c :a{ch}b".encode())


def test_parse_full_line() -> None:
    msg = parse("@time=2024-01-01T00:00:00Z;+draft/reply=1 :n!u@h PRIVMSG #c :hello  world ")
    assert msg == Message(
        "PRIVMSG",
        ("#c", "hello  world "),
        "n!u@h",
        {"time": "2024-01-01T00:00:00Z", "+draft/reply": "1"},
    )
    assert split_source(msg.source or "").host == "h"


def test_parse_without_tags_has_empty_mapping() -> None:
    msg = parse("PING :x")
    assert msg.tags == {}
    assert msg.source is None


def test_message_is_frozen() -> None:
    msg = Message("PING", ("x",))
    with pytest.raises(AttributeError):
        msg.command = "PONG"  # type: ignore[misc]


def test_with_tags_replaces_tags() -> None:
    msg = Message("PRIVMSG", ("#c", "hi"), "n!u@h", {"a": "1"})
    tagged = msg.with_tags({"b": "2"})
    assert tagged == Message("PRIVMSG", ("#c", "hi"), "n!u@h", {"b": "2"})
    assert msg.tags == {"a": "1"}


# --- serialising --------------------------------------------------------------------------------


def test_serialize_uses_trailing_only_when_needed() -> None:
    assert Message("JOIN", ("#c",)).serialize() == "JOIN #c"
    assert Message("PRIVMSG", ("#c", "hi there")).serialize() == "PRIVMSG #c :hi there"
    assert Message("PRIVMSG", ("#c", ":)")).serialize() == "PRIVMSG #c ::)"
    assert Message("TOPIC", ("#c", "")).serialize() == "TOPIC #c :"
    assert Message("PING").serialize() == "PING"
    assert str(Message("PING", ("x",))) == "PING x"


def test_serialize_tags_and_source() -> None:
    msg = Message("TAGMSG", ("#c",), "n!u@h", {"+typing": "active", "k": "", "v": "a b;c"})
    assert msg.serialize() == "@+typing=active;k;v=a\\sb\\:c :n!u@h TAGMSG #c"


def test_to_bytes_appends_crlf() -> None:
    assert Message("PRIVMSG", ("#c", "café")).to_bytes() == "PRIVMSG #c :café\r\n".encode()


@pytest.mark.parametrize(
    "msg",
    [
        Message(""),
        Message("PRIV MSG"),
        Message(":PRIVMSG", ("#c",)),
        Message("@PRIVMSG", ("#c",)),
        Message("PRIVMSG", ("#a b", "x")),
        Message("PRIVMSG", ("", "x")),
        Message("PRIVMSG", (":a", "x")),
        Message("PRIVMSG", ("#c", "a\r\nQUIT")),
        Message("PRIVMSG", ("#c", "a\0b")),
        Message("PRIVMSG", ("#c\n", "x")),
        Message("PRIVMSG", ("#c", "x"), source="n!u@h QUIT"),
        Message("PRIVMSG", ("#c", "x"), source="n\r\n"),
        Message("PRIVMSG", ("#c", "x"), tags={"a b": "1"}),
        Message("PRIVMSG", ("#c", "x"), tags={"a;b": "1"}),
        Message("PRIVMSG", ("#c", "x"), tags={"a=b": "1"}),
        Message("PRIVMSG", ("#c", "x"), tags={"": "1"}),
        Message("PRIVMSG", ("#c", "x"), tags={"a": "\0"}),
    ],
)
def test_serialize_refuses_messages_without_a_wire_form(msg: Message) -> None:
    with pytest.raises(ProtocolError):
        msg.serialize()


def test_serialize_without_tags() -> None:
    msg = Message("PRIVMSG", ("#c", "hi there"), "n!u@h", {"time": "x"})
    assert msg.serialize_without_tags() == ":n!u@h PRIVMSG #c :hi there"
    assert msg.serialize() == "@time=x " + msg.serialize_without_tags()


# --- fitting a server's line in 512 bytes -------------------------------------------------------


def test_cut_utf8_never_splits_a_character() -> None:
    data = "aé€😀".encode()  # 1, 2, 3 and 4 bytes
    assert [cut_utf8(data, size) for size in range(11)] == [
        b"",
        b"a",
        b"a",
        "aé".encode(),
        "aé".encode(),
        "aé".encode(),
        "aé€".encode(),
        "aé€".encode(),
        "aé€".encode(),
        "aé€".encode(),
        data,
    ]
    assert cut_utf8(data, -3) == b""


def test_fit_body_leaves_a_short_line_alone() -> None:
    msg = Message("PRIVMSG", ("#c", "hi there"), "n!u@h")
    assert fit_body(msg) == b":n!u@h PRIVMSG #c :hi there"


def test_fit_body_cuts_the_trailing_text_at_a_character() -> None:
    msg = Message("TOPIC", ("#c", "é" * 400), "n!u@h")
    body = fit_body(msg)
    assert len(body) <= MAX_BODY_BYTES
    assert len(body) >= MAX_BODY_BYTES - 1  # as much as fits
    text = parse(body.decode()).params[1]  # (decodes: no character was cut in two)
    assert set(text) == {"é"}


def test_fit_body_cuts_a_long_echo_rather_than_a_short_text() -> None:
    echo = "x" * 500
    msg = Message("401", ("me", echo, "No such nick/channel"), "irc.example")
    params = parse(fit_body(msg).decode()).params
    assert params[0] == "me"
    assert params[2] == "No such nick/channel"
    assert echo.startswith(params[1])
    assert len(fit_body(msg)) == MAX_BODY_BYTES


def test_fit_body_cuts_a_source_too_long_for_any_line(caplog: pytest.LogCaptureFixture) -> None:
    msg = Message("NOTICE", ("me", "hi"), "n" * 600)
    with caplog.at_level("WARNING", logger="hubbub.protocol"):
        body = fit_body(msg)
    assert len(body) == MAX_BODY_BYTES
    assert "was cut to fit" in caplog.text


@given(
    st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="\0\r\n :", exclude_categories=["Cs"]),
            min_size=1,
            max_size=300,
        ),
        min_size=0,
        max_size=6,
    ),
    st.text(alphabet=st.characters(exclude_characters="\0\r\n", exclude_categories=["Cs"])),
)
def test_fit_body_always_fits_and_keeps_a_parseable_line(middle: list[str], last: str) -> None:
    msg = Message("PRIVMSG", (*middle, last), "nick!user@host")
    body = fit_body(msg)
    assert len(body) <= MAX_BODY_BYTES
    fitted = parse(body.decode())  # valid UTF-8, a valid line
    assert fitted.source == "nick!user@host"
    assert len(fitted.params) in (len(middle), len(middle) + 1)  # (an emptied last may go)
    for original, kept in zip(middle, fitted.params, strict=False):
        assert original.startswith(kept)
        assert kept
    if len(msg.serialize_without_tags().encode()) <= MAX_BODY_BYTES:
        assert fitted.params == msg.params
