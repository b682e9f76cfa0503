"""SASL mechanisms: PLAIN, SCRAM-SHA-256 against RFC 7677's test vector, and the framing."""

from __future__ import annotations

import base64

import pytest

from hubbub.client.sasl import (
    CHUNK,
    ChallengeReader,
    Plain,
    SaslError,
    ScramSha256,
    encode_response,
    make_mechanism,
)
from tests.rfc7677 import CLIENT_FINAL, CLIENT_NONCE, SERVER_FINAL, SERVER_FIRST


def test_scram_sha256_matches_rfc7677_vector() -> None:
    mech = ScramSha256("user", "pencil", nonce=CLIENT_NONCE)
    assert mech.respond(b"") == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert mech.respond(SERVER_FIRST) == CLIENT_FINAL
    assert not mech.done
    assert mech.respond(SERVER_FINAL) == b""
    assert mech.done


def test_scram_rejects_a_wrong_server_signature() -> None:
    mech = ScramSha256("user", "pencil", nonce=CLIENT_NONCE)
    mech.respond(b"")
    mech.respond(SERVER_FIRST)
    bad = b"v=" + base64.b64encode(b"\0" * 32)
    with pytest.raises(SaslError, match="signature"):
        mech.respond(bad)


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # nonce not ours
        b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # not extended
        b"r=rOprNGfwEbeRWgbNEkqOxx,s=!!,i=4096",  # bad salt
        b"r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==",  # no iterations
        b"garbage",
    ],
)
def test_scram_rejects_bad_server_first(server_first: bytes) -> None:
    mech = ScramSha256("user", "pencil", nonce=CLIENT_NONCE)
    mech.respond(b"")
    with pytest.raises(SaslError):
        mech.respond(server_first)


def test_scram_server_error_is_reported() -> None:
    mech = ScramSha256("user", "pencil", nonce=CLIENT_NONCE)
    mech.respond(b"")
    mech.respond(SERVER_FIRST)
    with pytest.raises(SaslError, match="invalid-proof"):
        mech.respond(b"e=invalid-proof")


def test_scram_escapes_username() -> None:
    mech = ScramSha256("a=b,c", "pw", nonce="n")
    assert mech.respond(b"") == b"n,,n=a=3Db=2Cc,r=n"


def test_plain_is_one_step() -> None:
    mech = Plain("ann", "secret")
    assert mech.respond(b"") == b"\0ann\0secret"
    assert mech.done
    with pytest.raises(SaslError):
        mech.respond(b"")


def test_make_mechanism() -> None:
    assert make_mechanism("PLAIN", "u", "p").name == "PLAIN"
    assert make_mechanism("SCRAM-SHA-256", "u", "p").name == "SCRAM-SHA-256"
    with pytest.raises(ValueError, match="unsupported"):
        make_mechanism("EXTERNAL", "u", "p")


def test_encode_response_chunks_and_terminates() -> None:
    assert encode_response(b"") == ["+"]
    assert encode_response(b"abc") == ["YWJj"]
    exact = b"x" * 300  # 400 base64 characters: needs a "+" after it
    assert encode_response(exact) == [base64.b64encode(exact).decode(), "+"]
    longer = b"y" * 500
    chunks = encode_response(longer)
    assert [len(c) for c in chunks[:-1]] == [CHUNK]
    assert base64.b64decode("".join(chunks)) == longer


def test_challenge_reader_reassembles() -> None:
    reader = ChallengeReader()
    data = b"z" * 450
    chunks = encode_response(data)
    results = [reader.feed(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1)
    assert results[-1] == data
    assert reader.feed("+") == b""
    with pytest.raises(SaslError):
        reader.feed("not base64!")
