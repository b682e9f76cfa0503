"""The e-mail check of REGISTER: the same answers as the old single regex, without its
quadratic backtracking on an address such as ``a@....…@``."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.server.accounts import valid_email

OLD_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
"""The check REGISTER used to make, kept as the oracle."""


@settings(max_examples=500)
@given(st.text("ab.@, \t\u00a0é", max_size=16))
def test_valid_email_agrees_with_the_old_regex(email: str) -> None:
    assert valid_email(email) is (OLD_EMAIL.fullmatch(email) is not None)


def test_valid_email_examples() -> None:
    assert valid_email("me@example.org")
    assert valid_email("a@b.c")
    assert valid_email("a@b..c")
    assert not valid_email("a@.b")
    assert not valid_email("a@b.")
    assert not valid_email("a@b")
    assert not valid_email("a@" + "." * 5000 + "@")
    assert not valid_email("a b@c.d")
