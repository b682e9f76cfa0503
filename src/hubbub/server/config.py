"""The server's configuration: TOML in, a validated frozen ``Config`` out.

Every problem found in a file is collected as a ``ConfigIssue`` that names its key
(``limits.sendq``, ``listen[1].address``), so ``hubbub check-config`` reports all of them at once.
The section dataclasses validate themselves when constructed, so a value built in code (``--listen``
on the command line, ``dataclasses.replace`` in a test) obeys the same rules as one read from a
file. The reference of every key is ``docs/config.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hmac
import ipaddress
import logging
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, get_type_hints

import argon2
from argon2.exceptions import Argon2Error

from hubbub.protocol.casemap import Casemapping, is_valid_hostname, is_valid_nick
from hubbub.protocol.message import MAX_LINE_BYTES

__all__ = [
    "ACCOUNT_REGISTRATION",
    "AccountsSection",
    "AuthSection",
    "BUILTIN_PLUGINS",
    "CloaksSection",
    "ClusterSection",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ListenSection",
    "LOG_LEVELS",
    "LimitsSection",
    "MAX_PASSWORD_BYTES",
    "NICK_PROTECTION",
    "LoggingSection",
    "OperSection",
    "PluginsSection",
    "ServerSection",
    "StorageSection",
    "StsSection",
    "check_password",
    "default_config",
    "format_issues",
    "hash_password",
    "load_config",
    "parse_address",
    "parse_config",
    "plugin_name",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
"""The values ``[logging] level`` accepts (in any case)."""


# --- issues and errors ------------------------------------------------------------------------


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


def _check_argon2(issues: _Issues, key: str, value: str) -> None:
    if value.startswith("$argon2"):
        try:
            argon2.extract_parameters(value)
        except (Argon2Error, ValueError):
            issues.add(key, "looks like an argon2 hash but is not a valid one")


# --- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSection:
    """``[server]``: who the server says it is."""

    name: str = "hubbub.local"
    network: str = "hubbub"
    motd: str = "Welcome to hubbub!"
    motd_file: str | None = None
    description: str = "a hubbub server"
    admin_name: str = ""
    admin_location: str = ""
    admin_email: str = ""
    casemapping: str = "rfc1459"

    def __post_init__(self) -> None:
        issues = _Issues()
        if not is_valid_hostname(self.name) or len(self.name) > 63:
            issues.add(
                "name",
                f"must look like a host name with a dot, at most 63 characters, "
                f'e.g. "irc.example.org" (got {self.name!r})',
            )
        _no_space(issues, "network", self.network, "the network name")
        if "\0" in self.motd:
            issues.add("motd", "must not contain NUL")
        if self.motd_file is not None and not self.motd_file:
            issues.add("motd_file", "must not be empty")
        for key in ("description", "admin_name", "admin_location", "admin_email"):
            _single_line(issues, key, getattr(self, key))
        known = [c.value for c in Casemapping]
        if self.casemapping not in known:
            issues.add(
                "casemapping",
                f"unknown casemapping {self.casemapping!r} (expected one of: {', '.join(known)})",
            )
        issues.raise_if_any()

    @property
    def casemap(self) -> Casemapping:
        """``casemapping`` as the protocol layer's enum."""
        return Casemapping(self.casemapping)

    def motd_lines(self, base_dir: Path | None = None) -> list[str]:
        """The message of the day as lines: ``motd`` split, or ``motd_file`` read.

        A relative ``motd_file`` is read from ``base_dir`` (the config file's directory) or, when
        that is None, the working directory. This reads the disk: call it at start-up, not per
        connection. Raises ``ConfigError`` (key ``server.motd_file``) if the file cannot be read.
        """
        if self.motd_file is None:
            return self.motd.splitlines()
        path = _resolve(self.motd_file, base_dir)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            issue = ConfigIssue("server.motd_file", f"cannot read {path}: {reason}")
            raise ConfigError([issue]) from None
        return text.splitlines()


def _valid_host(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        return True
    if re.fullmatch(r"[0-9.]+", host):
        return False  # looks like an IPv4 address but is not one
    labels = host.rstrip(".").split(".") if len(host) <= 253 else []
    return bool(labels) and all(
        re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?", label) for label in labels
    )


def parse_address(address: str) -> tuple[str | None, int | None, str | None]:
    """Split a listen address into ``(host, port, unix_path)``.

    Forms: ``"127.0.0.1:6667"``, ``"localhost:6667"``, ``"[::1]:6667"``, ``"unix:/run/x.sock"``.
    For a Unix socket host and port are None; otherwise unix_path is None. Port 0 asks the system
    for a free port. Raises ``ValueError`` saying what is wrong.
    """
    if address.startswith("unix:"):
        path = address[len("unix:") :]
        if not path:
            raise ValueError('a Unix socket address needs a path, e.g. "unix:/run/hubbub.sock"')
        if "\0" in path:
            raise ValueError("a Unix socket path must not contain NUL")
        return None, None, path
    if address.startswith("["):
        end = address.find("]")
        if end == -1:
            raise ValueError('missing "]" after the IPv6 address')
        host = address[1:end]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
        rest = address[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError('expected ":PORT" after "]"')
        port_text = rest[1:]
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise ValueError('expected "HOST:PORT", "[IPv6]:PORT" or "unix:PATH"')
        if ":" in host:
            raise ValueError('put an IPv6 address in brackets, e.g. "[::1]:6667"')
        if not host:
            raise ValueError('missing host before ":PORT" (0.0.0.0 or [::] listen everywhere)')
        if not _valid_host(host):
            raise ValueError(f"{host!r} is not an IP address or host name")
    if not port_text:
        raise ValueError("missing port")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise ValueError("port must be a number from 0 to 65535")
    return host, int(port_text), None


_ORIGIN_RE = re.compile(
    r"https?://(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?/?", re.IGNORECASE
)


@dataclass(frozen=True)
class ListenSection:
    """One ``[[listen]]`` table: a socket the server accepts connections on.

    ``host``, ``port`` and ``unix_path`` are parsed from ``address`` (see ``parse_address``).
    ``origins`` is the WebSocket ``Origin`` allowlist (lower-cased, without a trailing slash);
    empty means the server's own pages (same origin, under its name, an address or
    ``localhost``) and clients that send no ``Origin``.
    """

    address: str
    tls: bool = False
    cert: str | None = None
    key: str | None = None
    websocket: bool = False
    origins: tuple[str, ...] = ()
    host: str | None = field(init=False, default=None)
    port: int | None = field(init=False, default=None)
    unix_path: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        issues = _Issues()
        try:
            host, port, unix_path = parse_address(self.address)
        except ValueError as exc:
            issues.add("address", f"{exc} (in {self.address!r})")
        else:
            object.__setattr__(self, "host", host)
            object.__setattr__(self, "port", port)
            object.__setattr__(self, "unix_path", unix_path)
        if self.tls:
            for key in ("cert", "key"):
                if not getattr(self, key):
                    issues.add(key, "a TLS listener (tls = true) needs both cert and key")
        elif self.cert is not None or self.key is not None:
            issues.add("tls", "cert or key is set but tls is false; add tls = true")
        if self.origins and not self.websocket:
            issues.add("origins", "origins only apply to a WebSocket listener (websocket = true)")
        normalized = []
        for i, origin in enumerate(self.origins):
            if _ORIGIN_RE.fullmatch(origin) is None:
                issues.add(
                    f"origins[{i}]",
                    f'must be "http(s)://host[:port]" with no path, got {origin!r}',
                )
            normalized.append(origin.lower().rstrip("/"))
        object.__setattr__(self, "origins", tuple(normalized))
        issues.raise_if_any()


_LENGTH_LIMITS = {
    "nicklen": 1,
    "channellen": 2,
    "topiclen": 1,
    "kicklen": 1,
    "awaylen": 1,
    "userlen": 1,
    "realnamelen": 1,
}
_COUNT_LIMITS = {
    "flood_burst": 1,
    "sendq": MAX_LINE_BYTES,
    "recvq": MAX_LINE_BYTES,
    "max_clients_per_ip": 1,
    "max_clients": 1,
    "connect_burst": 0,
    "max_channels": 1,
    "max_targets": 1,
    "max_list_entries": 1,
    "max_modes": 1,
    "monitor": 0,
    "whowas": 0,
}


@dataclass(frozen=True)
class LimitsSection:
    """``[limits]``: what one client may do and hold. Every value is described in
    ``docs/config.md``; lengths are in characters, sizes in bytes, times in seconds."""

    flood: bool = True
    flood_burst: int = 20
    flood_rate: float = 4.0
    sendq: int = 1048576
    recvq: int = 32768
    max_clients_per_ip: int = 50
    max_clients: int = 10000
    connect_burst: int = 20
    connect_rate: float = 0.5
    exempt_loopback: bool = True
    """Loopback addresses (``127.*``, ``::1``) skip the connection throttle: this machine's
    own gateways, bouncers and benchmarks. False throttles them like any address."""
    exempt: tuple[str, ...] = ()
    """Addresses and networks (``"192.0.2.10"``, ``"10.0.0.0/8"``) that the per-address
    limits (``max_clients_per_ip``, the connection throttle) do not apply to: a web gateway
    or bouncer that connects many users from one address."""
    registration_timeout: float = 30.0
    ping_interval: float = 90.0
    ping_timeout: float = 120.0
    nicklen: int = 30
    channellen: int = 64
    topiclen: int = 390
    kicklen: int = 390
    awaylen: int = 390
    userlen: int = 18
    realnamelen: int = 390
    max_channels: int = 50
    max_targets: int = 4
    max_list_entries: int = 100
    max_modes: int = 6
    monitor: int = 100
    whowas: int = 100

    def __post_init__(self) -> None:
        issues = _Issues()
        for key, low in _COUNT_LIMITS.items():
            _int_range(issues, key, getattr(self, key), low)
        for key, low in _LENGTH_LIMITS.items():
            # No field can be as long as a whole line (512 bytes with its command and CR LF).
            _int_range(issues, key, getattr(self, key), low, MAX_LINE_BYTES - 12)
        for key in (
            "flood_rate",
            "connect_rate",
            "registration_timeout",
            "ping_interval",
            "ping_timeout",
        ):
            _positive(issues, key, getattr(self, key))
        for i, entry in enumerate(self.exempt):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                issues.add(f"exempt[{i}]", f"not an IP address or network: {entry!r}")
        issues.raise_if_any()


@dataclass(frozen=True)
class AuthSection:
    """``[auth]``: the server password clients send with ``PASS`` (empty: none required)."""

    password: str = ""

    def __post_init__(self) -> None:
        issues = _Issues()
        _single_line(issues, "password", self.password)
        _check_argon2(issues, "password", self.password)
        issues.raise_if_any()


ACCOUNT_REGISTRATION = ("open", "after-connect", "closed")
"""The values of ``[accounts] registration``: who may register an account, and when."""

NICK_PROTECTION = ("guest", "strict", "off")
"""The values of ``[accounts] nick_protection``: what happens to a client that uses a nick
registered as someone else's account."""

MAX_PASSWORD_BYTES = 300
"""Longer account passwords are refused (``UNACCEPTABLE_PASSWORD``): the account-registration
spec's advice, so a password always fits in a ``PRIVMSG NickServ``."""


@dataclass(frozen=True)
class AccountsSection:
    """``[accounts]``: who may register accounts, with what passwords, and how the nick of an
    account is kept for its owner. Described key by key in ``docs/config.md``."""

    registration: str = "open"
    password_min_length: int = 8
    nick_protection: str = "guest"
    nick_grace: float = 30.0
    guest_prefix: str = "Guest"

    def __post_init__(self) -> None:
        issues = _Issues()
        for key, known in (
            ("registration", ACCOUNT_REGISTRATION),
            ("nick_protection", NICK_PROTECTION),
        ):
            value = getattr(self, key)
            if value not in known:
                expected = ", ".join(f'"{k}"' for k in known)
                issues.add(key, f"unknown value {value!r} (expected one of: {expected})")
        # An empty password can never be checked; a minimum above the maximum bars everyone.
        _int_range(issues, "password_min_length", self.password_min_length, 1, MAX_PASSWORD_BYTES)
        _positive(issues, "nick_grace", self.nick_grace)
        # Guest nicks are this prefix and digits: it must be able to start a nick.
        if not is_valid_nick(self.guest_prefix, 20):
            issues.add(
                "guest_prefix",
                f"must be 1 to 20 nick characters, not starting with a digit or '-' "
                f"(got {self.guest_prefix!r})",
            )
        issues.raise_if_any()


MIN_CLOAK_SECRET = 16
"""The shortest ``[cloaks] secret`` accepted: a short one could be guessed, and with it every
cloak turned back into its address."""

_CLOAK_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_CLOAK_SUFFIX_RE = re.compile(rf"{_CLOAK_LABEL}(?:\.{_CLOAK_LABEL})*")
MAX_CLOAK_SUFFIX = 32
"""The longest ``[cloaks] suffix``: with three 8-character hashes a cloak stays under 64."""


@dataclass(frozen=True)
class CloaksSection:
    """``[cloaks]``: what other users see instead of a client's IP address.

    ``secret`` keys the hash (empty: one generated on first start and kept in the database);
    ``suffix`` ends every cloak (``A1B2C3D4.E5F6A7B8.9C0D1E2F.IP``). With ``enabled`` false
    everyone sees everyone's address.
    """

    enabled: bool = True
    secret: str = ""
    suffix: str = "IP"

    def __post_init__(self) -> None:
        issues = _Issues()
        _single_line(issues, "secret", self.secret)
        if self.secret and len(self.secret) < MIN_CLOAK_SECRET:
            issues.add(
                "secret",
                f"must be at least {MIN_CLOAK_SECRET} characters (or empty: one is generated "
                f"and kept in the database)",
            )
        if _CLOAK_SUFFIX_RE.fullmatch(self.suffix) is None or len(self.suffix) > MAX_CLOAK_SUFFIX:
            issues.add(
                "suffix",
                f"must look like a host name's last labels (letters, digits, inner '-', "
                f"labels joined by '.'), at most {MAX_CLOAK_SUFFIX} characters, "
                f"got {self.suffix!r}",
            )
        issues.raise_if_any()


@dataclass(frozen=True)
class StorageSection:
    """``[storage]``: the SQLite file (``path``), or a PostgreSQL ``url`` that replaces it."""

    path: str = "hubbub.db"
    url: str = ""

    def __post_init__(self) -> None:
        issues = _Issues()
        if not self.path and not self.url:
            issues.add("path", "must not be empty (or set url)")
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            issues.add("url", f'must be a "postgresql://..." URL, got {self.url!r}')
        issues.raise_if_any()


@dataclass(frozen=True)
class ClusterSection:
    """``[cluster]``: the Redis URL that joins this node to a network (empty: standalone)."""

    redis: str = ""

    def __post_init__(self) -> None:
        issues = _Issues()
        if self.redis and not self.redis.startswith(("redis://", "rediss://", "unix://")):
            issues.add(
                "redis", f'must be a "redis://", "rediss://" or "unix://" URL, got {self.redis!r}'
            )
        issues.raise_if_any()


@dataclass(frozen=True)
class StsSection:
    """``[sts]``: IRCv3 Strict Transport Security, telling plain-text clients to use TLS.

    ``port`` 0 means the first TLS (non-WebSocket) listener's port; ``duration`` is how long, in
    seconds, clients keep the policy; ``preload`` allows the network on preload lists.
    """

    enabled: bool = False
    port: int = 0
    duration: int = 2592000
    preload: bool = False

    def __post_init__(self) -> None:
        issues = _Issues()
        _int_range(issues, "port", self.port, 0, 65535)
        _int_range(issues, "duration", self.duration, 0)
        issues.raise_if_any()


@dataclass(frozen=True)
class OperSection:
    """One ``[[oper]]`` table: an operator account for ``OPER name password``.

    ``password`` is plain text or an argon2 hash from ``hubbub hash-password``; ``host`` is the
    hostmask (``*`` wildcards) the operator's connection must match.
    """

    name: str
    password: str
    host: str = "*"

    def __post_init__(self) -> None:
        issues = _Issues()
        _no_space(issues, "name", self.name, "the oper name")
        if self.name.startswith(":"):
            issues.add("name", 'the oper name must not start with ":"')
        if not self.password:
            issues.add("password", "must not be empty")
        _single_line(issues, "password", self.password)
        _check_argon2(issues, "password", self.password)
        _no_space(issues, "host", self.host, "the host mask")
        issues.raise_if_any()


@dataclass(frozen=True)
class LoggingSection:
    """``[logging]``: the log level, one of ``LOG_LEVELS`` (stored upper-case)."""

    level: str = "INFO"

    def __post_init__(self) -> None:
        given = self.level
        object.__setattr__(self, "level", given.upper())
        if self.level not in LOG_LEVELS:
            message = f"unknown log level {given!r} (expected one of: {', '.join(LOG_LEVELS)})"
            raise ConfigError([ConfigIssue("level", message)])

    @property
    def level_number(self) -> int:
        """The level as a ``logging`` number (``logging.INFO`` ...)."""
        return int(getattr(logging, self.level))


BUILTIN_PLUGINS = ("hubbub.plugins.nickserv",)
"""Plugins that come with hubbub and load without being named in ``[plugins] modules``
(NickServ, when the server has account storage); each may still have its own table."""

_MODULE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PLUGIN_FILE_RE = re.compile(r"[^\0\r\n]*[A-Za-z_][A-Za-z0-9_]*\.py")


def plugin_name(module: str) -> str:
    """The name of the plugin ``module`` names (a dotted module name or a ``.py`` file): its
    last component, ``seen`` for ``examples.seen`` or ``plugins/seen.py``. Its own settings
    are the ``[plugins.<name>]`` table; its logger is ``hubbub.plugin.<name>``."""
    if module.endswith(".py"):
        return Path(module).stem
    return module.rpartition(".")[2]


_BUILTIN_NAMES = frozenset(plugin_name(m) for m in BUILTIN_PLUGINS)


def _frozen(value: Any) -> Any:
    """A TOML value made read-only all the way down (tables as mapping proxies, arrays as
    tuples): a plugin cannot change the config it was given, nor another plugin's."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class PluginsSection:
    """``[plugins]``: the Python modules loaded as plugins (``modules``, dotted names or
    ``.py`` files) and each plugin's own table (``[plugins.<name>]``, in ``settings``)."""

    modules: tuple[str, ...] = ()
    settings: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    """Each plugin's own ``[plugins.<name>]`` table, by plugin name, read-only."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", _frozen(dict(self.settings)))
        issues = _Issues()
        names: dict[str, str] = {}
        for module in self.modules:
            if not (_MODULE_NAME_RE.fullmatch(module) or _PLUGIN_FILE_RE.fullmatch(module)):
                issues.add(
                    "modules",
                    f'{module!r} is neither a module name (like "examples.seen") nor a .py file',
                )
                continue
            name = plugin_name(module)
            if names.get(name) == module:
                issues.add("modules", f"{module!r} is listed twice")
            elif module not in BUILTIN_PLUGINS and name in _BUILTIN_NAMES:
                issues.add("modules", f"{module!r} is named {name!r}, like a built-in plugin")
            elif name in names:
                issues.add(
                    "modules",
                    f"{module!r} and {names[name]!r} are both plugins named {name!r}",
                )
            names[name] = module
        known = {*names, *_BUILTIN_NAMES}
        for name, table in self.settings.items():
            if not isinstance(table, Mapping):
                issues.add(name, "expected table")
            elif name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                issues.add(
                    name, f"a table for no plugin: no module in modules is named {name!r}{hint}"
                )
        issues.raise_if_any()

    def table(self, module: str) -> Mapping[str, Any]:
        """The settings of the plugin ``module`` names (empty when it has no table)."""
        return self.settings.get(plugin_name(module), MappingProxyType({}))

    def resolved(self, base_dir: Path | None) -> tuple[str, ...]:
        """``modules`` with each ``.py`` file made a path relative to ``base_dir`` (the
        config file's directory)."""
        return tuple(str(_resolve(m, base_dir)) if m.endswith(".py") else m for m in self.modules)


def _default_listeners() -> tuple[ListenSection, ...]:
    return (
        ListenSection(address="127.0.0.1:6667"),
        ListenSection(address="127.0.0.1:8080", websocket=True),
    )


def _cross_issues(
    addresses: Iterable[tuple[int, str]], oper_names: Iterable[tuple[int, str]]
) -> list[ConfigIssue]:
    """Problems between entries: two listeners on one socket, two opers with one name.

    Takes ``(index, address)`` and ``(index, name)`` pairs; invalid addresses are skipped (they
    are reported on their own)."""
    issues: list[ConfigIssue] = []
    seen: dict[object, int] = {}
    for i, address in addresses:
        try:
            host, port, unix_path = parse_address(address)
        except ValueError:
            continue
        if port == 0:
            continue  # every port 0 listener gets its own free port
        where = unix_path if unix_path is not None else (host, port)
        if where in seen:
            issues.append(
                ConfigIssue(f"listen[{i}].address", f"same address as listen[{seen[where]}]")
            )
        else:
            seen[where] = i
    names: dict[str, int] = {}
    for i, name in oper_names:
        folded = name.lower()
        if folded in names:
            issues.append(
                ConfigIssue(
                    f"oper[{i}].name",
                    f"duplicate oper name {name!r} (also oper[{names[folded]}])",
                )
            )
        else:
            names[folded] = i
    return issues


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``path`` is the file it was loaded from (None if built in code)."""

    server: ServerSection = field(default_factory=ServerSection)
    listen: tuple[ListenSection, ...] = field(default_factory=_default_listeners)
    limits: LimitsSection = field(default_factory=LimitsSection)
    auth: AuthSection = field(default_factory=AuthSection)
    accounts: AccountsSection = field(default_factory=AccountsSection)
    storage: StorageSection = field(default_factory=StorageSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    sts: StsSection = field(default_factory=StsSection)
    cloaks: CloaksSection = field(default_factory=CloaksSection)
    opers: tuple[OperSection, ...] = ()
    logging: LoggingSection = field(default_factory=LoggingSection)
    plugins: PluginsSection = field(default_factory=PluginsSection)
    path: Path | None = None

    def __post_init__(self) -> None:
        issues = _cross_issues(
            ((i, item.address) for i, item in enumerate(self.listen)),
            ((i, item.name) for i, item in enumerate(self.opers)),
        )
        if not self.listen:
            issues.append(ConfigIssue("listen", "at least one listener is needed"))
        if self.sts.enabled and not any(x.tls and not x.websocket for x in self.listen):
            issues.append(
                ConfigIssue("sts.enabled", "needs a TLS listener (tls = true, not websocket)")
            )
        if issues:
            raise ConfigError(issues)

    @property
    def base_dir(self) -> Path | None:
        """The directory relative file names in the config are read from (None: the cwd)."""
        return self.path.parent if self.path is not None else None

    def resolve_path(self, value: str) -> Path:
        """A file name from the config (cert, key, motd_file, storage path) as a usable path:
        relative names are relative to the config file's directory."""
        return _resolve(value, self.base_dir)

    def motd_lines(self) -> list[str]:
        """``server.motd_lines`` with the config file's directory as the base."""
        return self.server.motd_lines(self.base_dir)


def _resolve(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        return base_dir / path
    return path


def default_config() -> Config:
    """The configuration with no file: IRC on 127.0.0.1:6667, the web client and WebSocket on
    127.0.0.1:8080, SQLite at ``./hubbub.db``."""
    return Config()


# --- parsing ----------------------------------------------------------------------------------

_T = TypeVar("_T")

_SECTIONS: dict[str, type] = {
    "server": ServerSection,
    "limits": LimitsSection,
    "auth": AuthSection,
    "accounts": AccountsSection,
    "storage": StorageSection,
    "cluster": ClusterSection,
    "sts": StsSection,
    "cloaks": CloaksSection,
    "logging": LoggingSection,
}
_ARRAYS: dict[str, type] = {"listen": ListenSection, "oper": OperSection}


def _schema(cls: type) -> dict[str, object]:
    """The keys a section accepts, each with its type."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _required(cls: type) -> list[str]:
    """The keys a section cannot do without (no default)."""
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


def _toml_type(value: object) -> str:
    # bool before int: True is an int to Python but not to TOML.
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "datetime"),
        (date, "date"),
        (time, "time"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return " (true)" if value else " (false)"
    if isinstance(value, list | dict):
        return ""
    text = repr(value) if isinstance(value, str) else str(value)
    return f" ({text if len(text) <= 40 else text[:37] + '...'})"


class _WrongType(Exception):
    pass


def _convert(value: object, hint: object) -> object:
    """``value`` as the type ``hint`` names, or ``_WrongType`` saying what was expected."""
    if hint is bool:
        ok, want = isinstance(value, bool), "boolean"
    elif hint is int:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "integer"
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer too big for a float: out of range anyway
                return math.inf
        ok, want = False, "number"
    elif hint is str or hint == (str | None):
        ok, want = isinstance(value, str), "string"
    elif hint == tuple[str, ...]:
        want = "array of strings"
        if isinstance(value, list):
            bad = [item for item in value if not isinstance(item, str)]
            if not bad:
                return tuple(value)
            raise _WrongType(f"expected {want}, got an array containing {_toml_type(bad[0])}")
        ok = False
    else:  # pragma: no cover - a section field of a type the parser does not know
        raise TypeError(f"no TOML conversion for {hint!r}")
    if not ok:
        raise _WrongType(f"expected {want}, got {_toml_type(value)}{_shown(value)}")
    return value


def _unknown(kind: str, key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f'unknown {kind} (did you mean "{close[0]}"?)' if close else f"unknown {kind}"


def _build(
    cls: type[_T], table: Mapping[str, object], prefix: str, out: list[ConfigIssue]
) -> _T | None:
    """Type-check ``table`` against the section class ``cls`` and construct it.

    Every issue goes to ``out`` with ``prefix`` on its key. A key of the wrong type is reported
    and left at its default, so the other keys are still range-checked. Returns None if the
    section could not be built.
    """
    schema = _schema(cls)
    kwargs: dict[str, object] = {}
    complete = True
    for key, value in table.items():
        if key not in schema:
            out.append(ConfigIssue(f"{prefix}.{key}", _unknown("key", key, schema)))
            continue
        try:
            kwargs[key] = _convert(value, schema[key])
        except _WrongType as exc:
            out.append(ConfigIssue(f"{prefix}.{key}", str(exc)))
            if key in _required(cls):
                complete = False
    for key in _required(cls):
        if key not in table:
            out.append(ConfigIssue(f"{prefix}.{key}", "missing required key"))
            complete = False
    if not complete:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as err:
        out.extend(
            ConfigIssue(f"{prefix}.{issue.key}" if issue.key else prefix, issue.message)
            for issue in err.issues
        )
        return None


def _file_issues(key: str, value: str | None, base_dir: Path | None) -> list[ConfigIssue]:
    if not value:
        return []
    path = _resolve(value, base_dir)
    if path.is_file():
        return []
    return [ConfigIssue(key, f"file not found: {path}")]


def parse_config(text: str, path: Path | None = None, *, check_files: bool = False) -> Config:
    """Parse and validate the TOML ``text`` of a config file that lives at ``path``.

    Raises ``ConfigError`` listing every problem found, not only the first. With ``check_files``
    the files it names (``cert``, ``key``, ``motd_file``) must exist, relative names being
    relative to the directory of ``path``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ConfigError([ConfigIssue("", f"not valid TOML: {exc}", line)]) from None

    out: list[ConfigIssue] = []
    sections: dict[str, object] = {}
    arrays: dict[str, list[tuple[int, object]]] = {"listen": [], "oper": []}
    for name, value in data.items():
        if name == "plugins":
            if not isinstance(value, dict):
                out.append(ConfigIssue(name, f"expected table, got {_toml_type(value)}"))
                continue
            plugins = _build_plugins(value, out)
            if plugins is not None:
                sections[name] = plugins
        elif name in _SECTIONS:
            if not isinstance(value, dict):
                hint = f" ([{name}], not [[{name}]])" if isinstance(value, list) else ""
                out.append(ConfigIssue(name, f"expected table{hint}, got {_toml_type(value)}"))
                continue
            built = _build(_SECTIONS[name], value, name, out)
            if built is not None:
                sections[name] = built
        elif name in _ARRAYS:
            if not isinstance(value, list):
                hint = f" ([[{name}]], not [{name}])" if isinstance(value, dict) else ""
                out.append(
                    ConfigIssue(name, f"expected array of tables{hint}, got {_toml_type(value)}")
                )
                continue
            if not value:
                out.append(ConfigIssue(name, "empty array: give at least one, or leave it out"))
            for i, item in enumerate(value):
                where = f"{name}[{i}]"
                if not isinstance(item, dict):
                    out.append(ConfigIssue(where, f"expected table, got {_toml_type(item)}"))
                    continue
                built = _build(_ARRAYS[name], item, where, out)
                if built is not None:
                    arrays[name].append((i, built))
        elif isinstance(value, dict | list):
            known_sections = [*_SECTIONS, *_ARRAYS, "plugins"]
            out.append(ConfigIssue(name, _unknown("section", name, known_sections)))
        else:
            homes = [f"[{s}]" for s, cls in _SECTIONS.items() if name in _schema(cls)]
            hint = (
                f" (keys belong in a section: did you mean it under {homes[0]}?)" if homes else ""
            )
            out.append(ConfigIssue(name, f"unknown key{hint}"))

    for section, first, second in (("server", "motd", "motd_file"), ("storage", "path", "url")):
        table = data.get(section)
        if isinstance(table, dict) and first in table and second in table:
            out.append(ConfigIssue(f"{section}.{second}", f"set {first} or {second}, not both"))

    listen = [(i, item) for i, item in arrays["listen"] if isinstance(item, ListenSection)]
    opers = [(i, item) for i, item in arrays["oper"] if isinstance(item, OperSection)]
    out.extend(
        _cross_issues(_raw_strings(data, "listen", "address"), _raw_strings(data, "oper", "name"))
    )

    if check_files:
        base_dir = path.parent if path is not None else None
        server = sections.get("server")
        if isinstance(server, ServerSection):
            out.extend(_file_issues("server.motd_file", server.motd_file, base_dir))
        for i, item in listen:
            out.extend(_file_issues(f"listen[{i}].cert", item.cert, base_dir))
            out.extend(_file_issues(f"listen[{i}].key", item.key, base_dir))
        plugin_section = sections.get("plugins")
        if isinstance(plugin_section, PluginsSection):
            for module in plugin_section.modules:
                if module.endswith(".py"):
                    out.extend(_file_issues("plugins.modules", module, base_dir))

    if out:
        raise ConfigError(out)
    defaults = Config()
    return Config(
        server=_pick(sections, "server", defaults.server),
        listen=tuple(item for _, item in listen) or defaults.listen,
        limits=_pick(sections, "limits", defaults.limits),
        auth=_pick(sections, "auth", defaults.auth),
        accounts=_pick(sections, "accounts", defaults.accounts),
        storage=_pick(sections, "storage", defaults.storage),
        cluster=_pick(sections, "cluster", defaults.cluster),
        sts=_pick(sections, "sts", defaults.sts),
        cloaks=_pick(sections, "cloaks", defaults.cloaks),
        opers=tuple(item for _, item in opers),
        logging=_pick(sections, "logging", defaults.logging),
        plugins=_pick(sections, "plugins", defaults.plugins),
        path=path,
    )


def _build_plugins(table: Mapping[str, object], out: list[ConfigIssue]) -> PluginsSection | None:
    """``[plugins]``: ``modules``, and a table per plugin whose keys only the plugin knows."""
    modules: tuple[str, ...] = ()
    settings: dict[str, Mapping[str, object]] = {}
    ok = True
    for key, value in table.items():
        if key == "modules":
            try:
                converted = _convert(value, tuple[str, ...])
            except _WrongType as exc:
                out.append(ConfigIssue("plugins.modules", str(exc)))
                ok = False
                continue
            assert isinstance(converted, tuple)
            modules = converted
        elif isinstance(value, dict):
            settings[key] = value
        else:
            out.append(ConfigIssue(f"plugins.{key}", _unknown("key", key, ["modules"])))
            ok = False
    if not ok:
        return None  # (the tables are checked against the modules once those are right)
    try:
        section = PluginsSection(modules=modules, settings=settings)
    except ConfigError as err:
        out.extend(ConfigIssue(f"plugins.{issue.key}", issue.message) for issue in err.issues)
        return None
    return section


def _raw_strings(data: Mapping[str, object], array: str, key: str) -> list[tuple[int, str]]:
    """``(index, value)`` of each string ``key`` in the array of tables ``array``."""
    items = data.get(array)
    if not isinstance(items, list):
        return []
    return [
        (i, item[key])
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get(key), str)
    ]


def _pick(sections: Mapping[str, object], name: str, default: _T) -> _T:
    value = sections.get(name, default)
    assert isinstance(value, type(default))
    return value


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the config file at ``path`` (see ``parse_config``).

    The files the config names must exist. An unreadable file is a ``ConfigError`` whose one issue
    has the key ``""``.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("", f"config file not found: {file}")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue("", f"{file} is a directory, not a config file")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigIssue("", f"cannot read {file}: {reason}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigIssue("", f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    return parse_config(text, file.absolute(), check_files=True)


# --- passwords --------------------------------------------------------------------------------

_HASHER = argon2.PasswordHasher()  # argon2id with the library's recommended parameters


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, for ``[auth]`` or ``[[oper]]`` in a config.

    Deliberately slow (tens of milliseconds): never call it on the event loop thread. Raises
    ``ValueError`` for an empty password.
    """
    if not password:
        raise ValueError("refusing to hash an empty password")
    return _HASHER.hash(password)


def check_password(stored: str, given: str) -> bool:
    """True if ``given`` matches ``stored``, an argon2 hash or a plain-text password.

    Never raises and never accepts an empty password on either side. Plain text is compared in
    constant time. Verifying a hash is slow: keep it off the event loop thread.
    """
    if not stored or not given:
        return False
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, given)
        except (Argon2Error, ValueError):
            return False
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))
