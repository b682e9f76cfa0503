"""Password hashing (hubbub.passwords): argon2id round trips, plain text, broken hashes."""

from __future__ import annotations

import pytest

from hubbub.passwords import check_password, hash_password, is_malformed_hash


def test_argon2_round_trip() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert check_password(hashed, "correct horse")
    assert not check_password(hashed, "correct horse!")
    assert not check_password(hashed, "")
    assert hash_password("correct horse") != hashed  # salted


def test_check_password_never_raises_on_a_broken_hash() -> None:
    assert not check_password("$argon2id$v=19$m=65536,t=3,p=4$broken", "x")
    assert not check_password("$argon2id$", "$argon2id$")


def test_plain_text_passwords() -> None:
    assert check_password("hunter2", "hunter2")
    assert not check_password("hunter2", "hunter3")
    assert check_password("pässwörd", "pässwörd")
    assert not check_password("pässwörd", "passwort")


def test_empty_passwords_are_never_accepted() -> None:
    assert not check_password("", "")
    assert not check_password("", "anything")
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_malformed_hash_is_only_a_broken_argon2_string() -> None:
    assert not is_malformed_hash(hash_password("s3cret"))
    assert not is_malformed_hash("hunter2")  # plain text is not a hash at all
    assert not is_malformed_hash("")
    assert is_malformed_hash("$argon2id$nope")
    assert is_malformed_hash("$argon2id$v=19$m=65536,t=3,p=4$broken")
