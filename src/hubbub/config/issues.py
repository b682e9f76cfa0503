"""Configuration problems: each one names its key, so all of them are reported at once.

``ConfigIssue`` is one problem, ``ConfigError`` carries every problem of a file; the small checks
below are what the section dataclasses (``hubbub.config.sections``) validate themselves with.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass

from hubbub.passwords import is_malformed_hash

__all__ = ["ConfigError", "ConfigIssue", "format_issues"]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with a configuration: the dotted key it concerns and what is wrong.

    ``key`` is empty for problems of the whole file (unreadable, not TOML). ``line`` is set when
    the problem has a known line in the file (TOML syntax errors).
    """

    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(Exception):
    """A configuration was rejected; ``issues`` holds every problem found, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        return format_issues(self)


def format_issues(err: ConfigError, prefix: str = "") -> str:
    """Every issue of ``err`` on its own line, ``key: message`` (just ``message`` without a key).

    ``prefix`` is put, as given, in front of every line: ``format_issues(err, "hubbub.toml: ")``
    gives ``hubbub.toml: key: message``, the form ``hubbub check-config`` prints.
    """
    return "\n".join(f"{prefix}{issue}" for issue in err.issues)


class _Issues:
    """Collects issues while a section validates itself, then raises them together."""

    def __init__(self) -> None:
        self.items: list[ConfigIssue] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(ConfigIssue(key, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def _single_line(issues: _Issues, key: str, value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        issues.add(key, "must be a single line (no CR, LF or NUL)")


def _no_space(issues: _Issues, key: str, value: str, what: str) -> None:
    if not value:
        issues.add(key, f"{what} must not be empty")
    elif any(c.isspace() or ord(c) < 32 for c in value):
        issues.add(key, f"{what} must not contain spaces or control characters")


def _int_range(issues: _Issues, key: str, value: int, low: int, high: int | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        issues.add(key, f"must be {bound}, got {value}")


def _positive(issues: _Issues, key: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        issues.add(key, f"must be a positive number, got {value}")


def _networks(issues: _Issues, key: str, entries: Iterable[str]) -> None:
    """Each of ``entries`` must be an IP address or network (``key[i]`` names a bad one)."""
    for i, entry in enumerate(entries):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            issues.add(f"{key}[{i}]", f"not an IP address or network: {entry!r}")


def _check_argon2(issues: _Issues, key: str, value: str) -> None:
    if is_malformed_hash(value):
        issues.add(key, "looks like an argon2 hash but is not a valid one")
