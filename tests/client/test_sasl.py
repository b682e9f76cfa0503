"""SASL mechanisms: PLAIN, SCRAM-SHA-256 against RFC 7677's test vector, and the framing."""

from __future__ import annotations

import base64

import pytest

from hubbub.client.sasl import (
    MAX_CHALLENGE,
    ChallengeReader,
    Plain,
    SaslError,
    ScramSha256,
    make_mechanism,
)
from hubbub.protocol.sasl import CHUNK, chunk
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


def test_challenge_reader_reassembles() -> None:
    reader = ChallengeReader()
    data = b"z" * 450
    chunks = chunk(data)
    results = [reader.feed(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1)
    assert results[-1] == data
    assert reader.feed("+") == b""
    with pytest.raises(SaslError):
        reader.feed("not base64!")
    with pytest.raises(SaslError):
        reader.feed("caf\u00e9")  # not even ASCII


def test_challenge_reader_is_bounded() -> None:
    """A server that sends full chunks forever gets a SaslError, not our memory."""
    reader = ChallengeReader()
    fed = 0
    with pytest.raises(SaslError, match="longer than"):  # noqa: PT012 - many lines reach it
        while True:
            assert reader.feed("A" * CHUNK) is None
            fed += CHUNK
            assert fed <= MAX_CHALLENGE
    assert fed == MAX_CHALLENGE // CHUNK * CHUNK
    assert reader.feed("YWJj") == b"abc"  # the next challenge starts afresh


def test_challenge_reader_refuses_an_over_long_line() -> None:
    with pytest.raises(SaslError):
        ChallengeReader().feed("A" * (CHUNK + 1))
