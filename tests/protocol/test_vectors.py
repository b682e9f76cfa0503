"""Table tests driven by the public-domain ircdocs parser-test vectors.

A copy of the vectors (CC0, with their LICENSE) lives in ``tests/data/irc-parser-tests/``, so
any clone runs them. A missing file is a failure, never a skip: without it these tests would
prove nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hubbub.protocol import Hostmask, Message, is_valid_hostname, parse, split_source
from hubbub.protocol.masks import mask_matches

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "irc-parser-tests"
"""``tests/data/irc-parser-tests``: the vectors' copy inside the repository."""

_MISSING = "missing"


def _load(filename: str) -> list[Any]:
    """The ``tests`` list of one vector file, or one marker case that fails if it is missing."""
    path = DATA_DIR / filename
    if not path.is_file():
        return [pytest.param(_MISSING, id=f"{filename}-missing")]
    with path.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    cases: list[Any] = doc["tests"]
    return [pytest.param(case, id=f"{filename}-{i}") for i, case in enumerate(cases)]


def _require(case: Any, filename: str) -> dict[str, Any]:
    if case == _MISSING:
        pytest.fail(
            f"IRC parser test vectors not found: {DATA_DIR / filename} does not exist. "
            "They are kept in tests/data/irc-parser-tests/."
        )
    assert isinstance(case, dict)
    return case


def test_vector_directory_exists() -> None:
    assert DATA_DIR.is_dir(), (
        f"IRC parser test vectors not found at {DATA_DIR}; "
        "they are kept in tests/data/irc-parser-tests/"
    )
    for name in (
        "msg-split.yaml",
        "msg-join.yaml",
        "mask-match.yaml",
        "userhost-split.yaml",
        "validate-hostname.yaml",
    ):
        assert (DATA_DIR / name).is_file(), f"missing vector file {DATA_DIR / name}"


@pytest.mark.parametrize("case", _load("msg-split.yaml"))
def test_msg_split(case: Any) -> None:
    vector = _require(case, "msg-split.yaml")
    atoms = vector["atoms"]
    msg = parse(vector["input"])
    assert dict(msg.tags) == (atoms.get("tags") or {})
    assert msg.source == atoms.get("source")
    assert msg.command == atoms["verb"]
    assert list(msg.params) == (atoms.get("params") or [])


@pytest.mark.parametrize("case", _load("msg-join.yaml"))
def test_msg_join(case: Any) -> None:
    vector = _require(case, "msg-join.yaml")
    atoms = vector["atoms"]
    msg = Message(
        command=atoms["verb"],
        params=tuple(atoms.get("params") or ()),
        source=atoms.get("source"),
        tags=atoms.get("tags") or {},
    )
    line = msg.serialize()
    assert line in vector["matches"], f"{vector.get('desc')}: {line!r}"
    # And what we write reads back as what we meant.
    assert parse(line) == msg


def _mask_cases() -> list[Any]:
    out: list[Any] = []
    for param in _load("mask-match.yaml"):
        (case,) = param.values
        if case == _MISSING:
            out.append(param)
            continue
        for subject in case.get("matches") or []:
            out.append(pytest.param((case["mask"], subject, True), id=f"{case['mask']}~{subject}"))
        for subject in case.get("fails") or []:
            out.append(
                pytest.param((case["mask"], subject, False), id=f"{case['mask']}!~{subject}")
            )
    return out


@pytest.mark.parametrize("case", _mask_cases())
def test_mask_match(case: Any) -> None:
    if case == _MISSING:
        _require(case, "mask-match.yaml")
    mask, subject, expected = case
    assert mask_matches(mask, subject) is expected


@pytest.mark.parametrize("case", _load("userhost-split.yaml"))
def test_userhost_split(case: Any) -> None:
    vector = _require(case, "userhost-split.yaml")
    atoms = vector["atoms"]
    expected = Hostmask(atoms.get("nick", ""), atoms.get("user", ""), atoms.get("host", ""))
    assert split_source(vector["source"]) == expected


@pytest.mark.parametrize("case", _load("validate-hostname.yaml"))
def test_validate_hostname(case: Any) -> None:
    vector = _require(case, "validate-hostname.yaml")
    assert is_valid_hostname(vector["host"]) is vector["valid"], vector["host"]
