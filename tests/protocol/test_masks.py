"""Wildcard masks and ban-mask normalisation."""

from __future__ import annotations

import functools
import itertools
import operator
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import Casemapping, mask_matches, normalize_ban_mask
from hubbub.protocol.casemap import fold
from hubbub.protocol.masks import Mask, compile_mask


@pytest.mark.parametrize(
    ("mask", "subject", "expected"),
    [
        ("*", "", True),
        ("*", "anything!at@all", True),
        ("?", "", False),
        ("?", "x", True),
        ("??", "x", False),
        ("a*b", "ab", True),
        ("a*b", "axxb", True),
        ("a*b", "axxbc", False),
        ("*!*@*.example.org", "n!u@host.example.org", True),
        ("*!*@*.example.org", "n!u@example.org", False),
        ("n!u@h", "N!U@H", True),
        ("a.b", "axb", False),
        ("a+b", "aab", False),
        ("(a)", "(a)", True),
        ("a\\b", "a\\b", True),
        ("*", "line\nbreak", True),
        ("a?c", "a\nc", True),
    ],
)
def test_mask_matches(mask: str, subject: str, expected: bool) -> None:
    assert mask_matches(mask, subject) is expected


def test_mask_matching_follows_the_casemapping() -> None:
    assert mask_matches("[foo]*", "{FOO}bar")
    assert mask_matches("[foo]*", "{FOO}bar", Casemapping.RFC1459)
    assert not mask_matches("[foo]*", "{FOO}bar", Casemapping.ASCII)
    assert mask_matches("[FOO]*", "[foo]bar", Casemapping.ASCII)
    assert mask_matches("~x", "^X", Casemapping.RFC1459)
    assert not mask_matches("~x", "^X", Casemapping.STRICT_RFC1459)


@pytest.mark.parametrize(
    ("mask", "normal"),
    [
        ("nick", "nick!*@*"),
        ("*", "*!*@*"),
        ("user@host", "*!user@host"),
        ("nick!user", "nick!user@*"),
        ("nick!user@host", "nick!user@host"),
        ("host.example.org", "*!*@host.example.org"),
        ("2001:db8::1", "*!*@2001:db8::1"),
        ("*!*@*", "*!*@*"),
        ("!u@h", "*!u@h"),
        ("n!@h", "n!*@h"),
        ("n!u@", "n!u@*"),
        ("nick!", "nick!*@*"),
        ("user@", "*!user@*"),
        ("@host", "*!*@host"),
        ("!", "*!*@*"),
        ("@", "*!*@*"),
        ("", "*!*@*"),
    ],
)
def test_normalize_ban_mask(mask: str, normal: str) -> None:
    assert normalize_ban_mask(mask) == normal


# --- no backtracking ------------------------------------------------------------------------
#
# The old matcher turned the mask into a regular expression (`*` -> `.*`), which backtracks:
# one WHO with `*a*a*a*a*b` against a 300-character real name held the event loop for seconds.
# The matcher below must agree with it on ordinary masks and stay bounded on hostile ones.


@functools.lru_cache(maxsize=1024)
def _old_pattern(mask: str) -> re.Pattern[str]:
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in mask]
    return re.compile("".join(parts), re.DOTALL)


def old_mask_matches(mask: str, subject: str, mapping: Casemapping) -> bool:
    """The regex-based matcher hubbub used to have: the oracle for ordinary masks."""
    return _old_pattern(fold(mask, mapping)).fullmatch(fold(subject, mapping)) is not None


def table_matches(mask: str, subject: str) -> bool:
    """Glob matching by dynamic programming over (mask, subject) prefixes: slow but plainly
    right and polynomial, an oracle for masks too hostile for the regex one."""
    row = [True] + [False] * len(subject)  # row[j]: mask[:i] matches subject[:j]
    for ch in mask:
        if ch == "*":
            row = list(itertools.accumulate(row, operator.or_))
        else:
            row = [False] + [
                row[j] and (ch == "?" or ch == subject[j]) for j in range(len(subject))
            ]
    return row[-1]


MASK_PIECES = ["*", "**", "?", "a", "b", "ab", "A", "[", "{", "\\", "|", "~", "^", ".", "!", "@"]
SUBJECT_CHARS = "aAbB[{]}\\|~^.!@?*\n"


@st.composite
def mask_and_subject(draw: st.DrawFn) -> tuple[str, str]:
    """An ordinary mask (at most a dozen pieces) with a subject that often matches it: the
    mask with its wildcards filled in, then perhaps mutated."""
    pieces = draw(st.lists(st.sampled_from(MASK_PIECES), max_size=12))
    mask = "".join(pieces)
    if draw(st.booleans()):
        return mask, draw(st.text(SUBJECT_CHARS, max_size=20))
    filled = []
    for ch in mask:
        if ch == "*":
            filled.append(draw(st.text(SUBJECT_CHARS, max_size=4)))
        elif ch == "?":
            filled.append(draw(st.sampled_from(SUBJECT_CHARS)))
        else:
            filled.append(ch)
    subject = "".join(filled)
    if subject and draw(st.booleans()):
        i = draw(st.integers(0, len(subject) - 1))
        subject = subject[:i] + draw(st.text(SUBJECT_CHARS, max_size=2)) + subject[i + 1 :]
    return mask, subject


@settings(max_examples=500)
@given(case=mask_and_subject(), mapping=st.sampled_from(list(Casemapping)))
def test_matcher_agrees_with_the_old_regex_matcher(
    case: tuple[str, str], mapping: Casemapping
) -> None:
    mask, subject = case
    expected = old_mask_matches(mask, subject, mapping)
    assert mask_matches(mask, subject, mapping) is expected
    assert Mask(mask, mapping).matches(subject) is expected
    assert table_matches(fold(mask, mapping), fold(subject, mapping)) is expected
    if expected:  # (could_match only ever rules out: never a subject that matches)
        compiled = Mask(mask, mapping)
        assert compiled.could_match(fold(subject, mapping))
        assert compiled.could_match(fold("other\n" + subject + "\nmore", mapping))


def test_could_match_rules_out_a_subject_without_a_literal_run_of_the_mask() -> None:
    mask = Mask("*nomatch*!*@*zz")
    assert not mask.could_match("alice\n~a\nhost.example\nalice!~a@host.example")
    assert mask.could_match("nomatch!a@zz")  # (a candidate; matches_folded decides)
    assert Mask("*").could_match("")


class CountingStr(str):
    """A subject that counts the characters the matcher's string searches span: every
    ``find`` and ``startswith`` on it, charged the whole stretch it may look at."""

    spanned = 0
    calls = 0

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        lo = 0 if start is None else start
        hi = len(self) if end is None else end
        CountingStr.calls += 1
        CountingStr.spanned += max(0, (hi if found < 0 else found + len(sub)) - lo)
        return found

    def startswith(self, prefix: Any, start: Any = None, end: Any = None) -> bool:
        CountingStr.calls += 1
        CountingStr.spanned += len(prefix)
        return super().startswith(prefix, start, end)


HOSTILE = [
    ("*a" * 31 + "*!x", "a" * 300 + "!y@host"),  # the ban that cost 22 s per match
    ("*a" * 31 + "*!x*", "a" * 300 + "!y@host"),
    ("*a*a*a*a*b", "a" * 300),  # WHO against a long real name
    ("*a*a*a*a*b*", "a" * 300),
    ("#*a*a*a*a*a*a*a*b", "#" + "a" * 60),  # LIST against a long channel name
    ("*a" * 300 + "*b", "a" * 2000),
    ("*a" * 300 + "*b", "a" * 2000 + "b"),
    ("*" * 500 + "a", "a" * 2000),
    ("*?" * 200 + "*b", "x" * 1000),
    ("*a?a?a?a?a?a?a?a?b*", "a" * 2000),
    ("*a?a?a?a?a?a?a?a?b*", "a" * 2000 + "b"),
    ("*" + "ab?" * 100 + "*c", "ab" * 1000),
    ("?" * 300 + "*" + "?" * 300, "x" * 599),
    ("?" * 300 + "*" + "?" * 300, "x" * 600),
    ("a*" * 200, "a" * 199),
    ("a*" * 200, "a" * 200),
]


@pytest.mark.parametrize(("mask", "subject"), HOSTILE)
def test_hostile_masks_take_bounded_work(mask: str, subject: str) -> None:
    """Whatever the stars, matching spans at most len(mask) x len(subject) characters of the
    subject in all (each searched stretch costs at most the needle's length per character):
    nothing retries a placement the way a backtracking regex does. The work is counted, not
    timed."""
    compiled = Mask(mask)
    CountingStr.calls = CountingStr.spanned = 0
    result = compiled.matches_folded(CountingStr(fold(subject)))
    assert result is table_matches(fold(mask), fold(subject))
    assert CountingStr.spanned <= (len(mask) + 1) * (len(subject) + 1)
    assert CountingStr.calls <= (len(mask) + 1) * (len(subject) + 1)


def test_the_classic_catastrophe_is_linear() -> None:
    """``*a*a...*b`` against a run of ``a``: each star's segment is found at once and the
    ``b`` is looked for once, so the work grows with the subject, not with its power."""
    for stars in (10, 100, 300):
        mask = "*a" * stars + "*b"
        CountingStr.calls = CountingStr.spanned = 0
        assert not Mask(mask).matches_folded(CountingStr("a" * 3000))
        assert CountingStr.calls <= stars + 2
        assert CountingStr.spanned <= 2 * 3000


def test_runs_of_stars_collapse() -> None:
    assert Mask("a" + "*" * 1000 + "b")._middle == ()
    assert mask_matches("a" + "*" * 1000 + "b", "a-b")
    assert not mask_matches("a" + "*" * 1000 + "b", "a-c")


def test_compiled_masks_are_cached_per_casemapping() -> None:
    assert compile_mask("[x]*") is compile_mask("[x]*")
    assert compile_mask("[x]*", Casemapping.ASCII) is not compile_mask("[x]*")
    assert compile_mask("[x]*").matches("{X}y")
    assert not compile_mask("[x]*", Casemapping.ASCII).matches("{X}y")
