"""The sections of the configuration, one frozen dataclass per TOML table.

Each section validates itself when constructed, so a value built in code (``--listen`` on the
command line, ``dataclasses.replace`` in a test) obeys the same rules as one read from a file.
Problems are raised as one ``ConfigError`` whose keys are relative to the section.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hubbub.config.issues import (
    ConfigError,
    ConfigIssue,
    _check_argon2,
    _int_range,
    _Issues,
    _networks,
    _no_space,
    _positive,
    _single_line,
)
from hubbub.protocol.casemap import Casemapping, is_valid_hostname, is_valid_nick
from hubbub.protocol.message import MAX_LINE_BYTES

__all__ = [
    "ACCOUNT_REGISTRATION",
    "AccountsSection",
    "AdminSection",
    "AuthSection",
    "BUILTIN_PLUGINS",
    "CloaksSection",
    "ClusterSection",
    "HistoryChannel",
    "HistorySection",
    "ListenSection",
    "LOG_LEVELS",
    "LimitsSection",
    "MAX_PASSWORD_BYTES",
    "METRICS_RESERVED_PATHS",
    "MetricsSection",
    "MIN_ADMIN_TOKEN",
    "NICK_PROTECTION",
    "LoggingSection",
    "OperSection",
    "PluginsSection",
    "ServerSection",
    "StorageSection",
    "StsSection",
    "WebircSection",
    "admin_token_hash",
    "admin_token_matches",
    "parse_address",
    "plugin_name",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
"""The values ``[logging] level`` accepts (in any case)."""


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
    "max_access_entries": 1,
    "max_registered_channels": 1,
    "max_modes": 1,
    "monitor": 0,
    "whowas": 0,
    "multiline_max_bytes": 1,
    "multiline_max_lines": 1,
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
    trusted_proxies: tuple[str, ...] = ()
    """Addresses and networks of reverse proxies in front of the WebSocket listeners: a
    connection from one of them is taken to come from the address its ``X-Forwarded-For``
    (or ``X-Real-IP``) names. Their own address is not limited as one client's."""
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
    max_access_entries: int = 50
    """Entries in a registered channel's ChanServ access list."""
    max_registered_channels: int = 15
    """Channels one account may register with ChanServ."""
    max_modes: int = 6
    monitor: int = 100
    whowas: int = 100
    multiline_max_bytes: int = 4096
    """The longest ``draft/multiline`` message: bytes of its lines' texts, with one for each
    line break (the capability's ``max-bytes``)."""
    multiline_max_lines: int = 100
    """Lines in one ``draft/multiline`` batch (the capability's ``max-lines``)."""
    multiline_timeout: float = 10.0
    """Seconds a ``draft/multiline`` batch may stay open without a new line of it (while
    none of the client's input is held by flood control) before it is dropped."""

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
            "multiline_timeout",
        ):
            _positive(issues, key, getattr(self, key))
        _networks(issues, "exempt", self.exempt)
        _networks(issues, "trusted_proxies", self.trusted_proxies)
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
    register_burst: int = 30
    register_per_hour: float = 60.0
    login_burst: int = 10
    login_per_hour: float = 60.0

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
        _int_range(issues, "register_burst", self.register_burst, 0)
        _positive(issues, "register_per_hour", self.register_per_hour)
        _int_range(issues, "login_burst", self.login_burst, 0)
        _positive(issues, "login_per_hour", self.login_per_hour)
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
    pool_size: int = 4
    """With ``url``: the most connections to PostgreSQL this server keeps open at once."""
    connect_timeout: float = 10.0
    """With ``url``: seconds to wait for PostgreSQL (to connect, or for a free connection)
    before the work that needs it fails."""

    def __post_init__(self) -> None:
        issues = _Issues()
        if not self.path and not self.url:
            issues.add("path", "must not be empty (or set url)")
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            issues.add("url", f'must be a "postgresql://..." URL, got {self.url!r}')
        _int_range(issues, "pool_size", self.pool_size, 2, 1000)
        _positive(issues, "connect_timeout", self.connect_timeout)
        issues.raise_if_any()


@dataclass(frozen=True)
class HistoryChannel:
    """``[history.channels."#name"]``: one channel's own retention and join replay (a key
    left out keeps the server-wide value)."""

    max_age_days: float | None = None
    max_lines: int | None = None
    join_replay: int | None = None

    def __post_init__(self) -> None:
        issues = _Issues()
        if self.max_age_days is not None and not self.max_age_days >= 0:
            issues.add("max_age_days", f"must be 0 (forever) or more, got {self.max_age_days}")
        if self.max_lines is not None:
            _int_range(issues, "max_lines", self.max_lines, 0)
        if self.join_replay is not None:
            _int_range(issues, "join_replay", self.join_replay, 0, MAX_JOIN_REPLAY)
        issues.raise_if_any()


MAX_JOIN_REPLAY = 1000
"""The most lines ``join_replay`` may replay."""


@dataclass(frozen=True)
class HistorySection:
    """``[history]``: what is kept of what is said, who may read it, and for how long
    (``docs/history.md``)."""

    enabled: bool = True
    private: bool = True
    """Keep private messages (each readable by its two parties only)."""
    events: bool = True
    """Keep JOIN, PART, QUIT, NICK, MODE, TOPIC and KICK for ``draft/event-playback``."""
    public: bool = False
    """The default of a channel's history setting: False, only its members read it; True,
    anyone may, unless the channel is +s or +p."""
    since_join_when_restricted: bool = True
    """In a +i or +k channel, a member reads only what was said since it joined."""
    since_made: bool = True
    """A channel's history is read from when the channel was last made (a registered one's:
    its registration). False: whoever holds an unregistered channel's name reads all that
    was ever said under it, for a network where everyone trusts everyone."""
    max_age_days: float = 0.0
    """Lines older than this are removed (0: kept until ``max_lines`` pushes them out)."""
    max_lines: int = 1_000_000
    """Per channel or conversation, only the newest this many lines are kept (0: no limit)."""
    join_replay: int = 0
    """Lines replayed on JOIN to a client without ``draft/chathistory`` (0: none)."""
    request_limit: int = 1000
    """The most lines one CHATHISTORY request returns (ISUPPORT ``CHATHISTORY``)."""
    search_limit: int = 100
    """The most lines one SEARCH returns."""
    search_timeout: float = 2.0
    """Seconds a SEARCH may run before it is stopped (``FAIL SEARCH INTERNAL_ERROR``)."""
    purge_interval: float = 600.0
    """Seconds between retention passes."""
    queue_limit: int = 20_000
    """Lines waiting for the disk beyond which the server stops reading from clients until
    the writer has caught up with half of them (backpressure rather than lost history)."""
    commit_interval: float = 0.02
    """Under a steady stream, the least seconds from one history commit to the next (unless
    a quarter of ``queue_limit`` is waiting): fewer, bigger commits (a commit costs three
    fsyncs whatever it holds), for at most this much more wait before a message is
    acknowledged. 0: commit as soon as the previous commit is done."""
    channels: Mapping[str, HistoryChannel] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    """Per-channel settings by channel name (``[history.channels."#name"]``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", MappingProxyType(dict(self.channels)))
        issues = _Issues()
        if not self.max_age_days >= 0:
            issues.add("max_age_days", f"must be 0 (forever) or more, got {self.max_age_days}")
        _int_range(issues, "max_lines", self.max_lines, 0)
        _int_range(issues, "join_replay", self.join_replay, 0, MAX_JOIN_REPLAY)
        _int_range(issues, "request_limit", self.request_limit, 1, 10_000)
        _int_range(issues, "search_limit", self.search_limit, 1, 10_000)
        _int_range(issues, "queue_limit", self.queue_limit, 100)
        if not 0.0 <= self.commit_interval <= 1.0:
            issues.add("commit_interval", f"must be 0 to 1 seconds, got {self.commit_interval}")
        for key in ("search_timeout", "purge_interval"):
            _positive(issues, key, getattr(self, key))
        for name in self.channels:
            if not name or name[0] not in "#&" or " " in name or "," in name:
                issues.add(f'channels."{name}"', "must be a channel name (starting with # or &)")
        issues.raise_if_any()

    def for_channel(self, name: str, fold: Callable[[str], str]) -> HistoryChannel:
        """The settings of the channel ``name`` (folded with ``fold``), server-wide where it
        has none of its own."""
        own = self._folded(fold).get(fold(name))
        return HistoryChannel(
            max_age_days=self.max_age_days
            if own is None or own.max_age_days is None
            else own.max_age_days,
            max_lines=self.max_lines if own is None or own.max_lines is None else own.max_lines,
            join_replay=self.join_replay
            if own is None or own.join_replay is None
            else own.join_replay,
        )

    def _folded(self, fold: Callable[[str], str]) -> dict[str, HistoryChannel]:
        cache: dict[str, HistoryChannel] | None = self.__dict__.get("_folded_cache")
        if cache is None:
            cache = {fold(name): value for name, value in self.channels.items()}
            object.__setattr__(self, "_folded_cache", cache)
        return cache


MAX_NODE_ID = 8
"""The longest ``[cluster] node_id`` (it is in every msgid)."""

MAX_LEASE = 300.0
"""The longest ``[cluster] lease``, in seconds."""


@dataclass(frozen=True)
class ClusterSection:
    """``[cluster]``: the Redis URL that joins this node to a network (empty: standalone),
    and the id that keeps this node's message ids apart from the others'."""

    redis: str = ""
    node_id: str = ""
    """1 to 8 lower-case letters or digits, different on each node of a network; empty:
    made from the server name (alone only: a cluster's nodes must be told theirs)."""
    lease: float = 10.0
    """Seconds: how soon the other nodes take this one for gone once it stops renewing its
    lease (its users quit there)."""
    stream_maxlen: int = 100_000
    """About how many records the Redis stream keeps: how far behind a node may fall (away
    from Redis) and still catch up."""
    outbox: int = 100_000
    """Records a node keeps for Redis while Redis cannot be written; past it, messages are
    dropped and their senders told (changes of the network are kept whatever it holds)."""

    def __post_init__(self) -> None:
        issues = _Issues()
        if not (1.0 <= self.lease <= MAX_LEASE):
            issues.add("lease", f"must be between 1 and {MAX_LEASE:g} seconds, got {self.lease}")
        _int_range(issues, "stream_maxlen", self.stream_maxlen, 1000)
        _int_range(issues, "outbox", self.outbox, 100)
        if self.redis and not self.node_id:
            issues.add("node_id", "required with redis: give each node of the cluster its own")
        node = self.node_id
        if node and not (
            len(node) <= MAX_NODE_ID and node.isascii() and node.isalnum() and node == node.lower()
        ):
            issues.add(
                "node_id",
                f"must be 1 to {MAX_NODE_ID} lower-case ASCII letters or digits, got {node!r}",
            )
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


METRICS_RESERVED_PATHS = frozenset({"/", "/irc"})
"""Paths of the HTTP listener that ``[metrics] path`` cannot take (the IRC WebSocket
endpoint's)."""


@dataclass(frozen=True)
class MetricsSection:
    """``[metrics]``: Prometheus metrics at ``path`` on the HTTP (``websocket = true``)
    listeners, for scrapers whose address is in ``allow`` (addresses and networks; a Unix
    socket listener's clients are local and always allowed). See ``docs/metrics.md``."""

    enabled: bool = False
    path: str = "/metrics"
    allow: tuple[str, ...] = ("127.0.0.0/8", "::1")

    def __post_init__(self) -> None:
        issues = _Issues()
        path = self.path
        if not path.startswith("/"):
            issues.add("path", f'must start with "/", got {path!r}')
        elif any(c.isspace() or ord(c) < 32 or c in "?#" for c in path):
            issues.add("path", "must not contain spaces, control characters, ? or #")
        elif path in METRICS_RESERVED_PATHS:
            issues.add("path", f"{path!r} is the IRC WebSocket endpoint's")
        _networks(issues, "allow", self.allow)
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
class WebircSection:
    """One ``[[webirc]]`` table: a gateway (The Lounge, KiwiIRC...) that connects its users
    from its own address and names each one's with ``WEBIRC password gateway hostname ip``.

    ``password`` is plain text or an argon2 hash from ``hubbub hash-password``; ``hosts``
    are the addresses and networks the gateway connects from (WEBIRC from elsewhere is
    refused, whatever the password).
    """

    password: str
    hosts: tuple[str, ...]
    name: str = ""
    """What the logs call the gateway (else the name it gives in WEBIRC)."""

    def __post_init__(self) -> None:
        issues = _Issues()
        if not self.password:
            issues.add("password", "must not be empty")
        _single_line(issues, "password", self.password)
        _check_argon2(issues, "password", self.password)
        if not self.hosts:
            issues.add("hosts", "at least one address or network is needed")
        _networks(issues, "hosts", self.hosts)
        _single_line(issues, "name", self.name)
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


MIN_ADMIN_TOKEN = 32
"""The shortest ``[admin] tokens`` entry accepted, in characters: a bearer token is the whole
secret, so it must be too long to guess (``secrets.token_urlsafe(32)`` gives 43)."""

_TOKEN68_RE = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""What RFC 6750 allows in a bearer token (``b64token``)."""
_TOKEN_HASH_RE = re.compile(r"sha256:[0-9a-fA-F]{64}")
"""A token given by its SHA-256 (``sha256:`` and 64 hex digits) rather than in the clear."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: where it points can change


@dataclass(frozen=True)
class AdminSection:
    """``[admin]``: the admin HTTP API (JSON, bearer tokens), off by default.

    ``tokens`` holds each accepted token in the clear (at least :data:`MIN_ADMIN_TOKEN`
    characters) or as ``sha256:`` and the hex SHA-256 of it, so the file need not hold the
    secret itself. ``listen`` must be a loopback address unless ``allow_remote`` (tokens
    travel in clear text: put a TLS proxy in front). The other keys bound what one client
    of the API can hold: described in ``docs/config.md`` and ``docs/security.md``.
    """

    enabled: bool = False
    listen: str = "127.0.0.1:8081"
    tokens: tuple[str, ...] = ()
    allow_remote: bool = False
    max_request_bytes: int = 65536
    max_header_bytes: int = 8192
    max_headers: int = 32
    max_connections: int = 16
    timeout: float = 10.0
    host: str = field(init=False, default="")
    port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        issues = _Issues()
        try:
            host, port, unix_path = parse_address(self.listen)
        except ValueError as exc:
            issues.add("listen", f"{exc} (in {self.listen!r})")
        else:
            if unix_path is not None or host is None or port is None:
                issues.add("listen", 'must be "HOST:PORT" (Unix sockets are not supported)')
            else:
                object.__setattr__(self, "host", host)
                object.__setattr__(self, "port", port)
                if not self.allow_remote and not _loopback(host):
                    issues.add(
                        "listen",
                        f"{host!r} is not a loopback address: bearer tokens would cross the "
                        f"network in clear text (listen on 127.0.0.1 and reach it through an "
                        f"SSH tunnel or a TLS proxy, or set allow_remote = true)",
                    )
        if self.enabled and not self.tokens:
            issues.add("tokens", "the admin API is enabled but no token is set")
        for i, token in enumerate(self.tokens):
            if token.startswith("sha256:"):
                if _TOKEN_HASH_RE.fullmatch(token) is None:
                    issues.add(f"tokens[{i}]", 'a hashed token is "sha256:" and 64 hex digits')
            elif len(token) < MIN_ADMIN_TOKEN:
                issues.add(
                    f"tokens[{i}]",
                    f"must be at least {MIN_ADMIN_TOKEN} characters, got {len(token)} "
                    f"(make one with: hubbub gen-token)",
                )
            elif _TOKEN68_RE.fullmatch(token) is None:
                issues.add(
                    f"tokens[{i}]",
                    "may hold only letters, digits and -._~+/ (and = at the end), "
                    "as a bearer token must",
                )
        _int_range(issues, "max_request_bytes", self.max_request_bytes, 2)
        _int_range(issues, "max_header_bytes", self.max_header_bytes, 256)
        _int_range(issues, "max_headers", self.max_headers, 4)
        _int_range(issues, "max_connections", self.max_connections, 1)
        _positive(issues, "timeout", self.timeout)
        issues.raise_if_any()

    def token_digests(self) -> tuple[bytes, ...]:
        """The SHA-256 of every accepted token: a token offered is hashed and compared with
        each of these in constant time (see :func:`admin_token_matches`)."""
        return tuple(
            bytes.fromhex(t[len("sha256:") :]) if t.startswith("sha256:") else _sha256(t)
            for t in self.tokens
        )


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def admin_token_hash(token: str) -> str:
    """The ``sha256:...`` form of ``token`` for ``[admin] tokens``: the config file then
    holds no secret (``hubbub gen-token`` prints it)."""
    return "sha256:" + _sha256(token).hex()


def admin_token_matches(section: AdminSection, offered: str) -> bool:
    """True if ``offered`` is one of the section's tokens.

    Both sides are hashed to 32 bytes and compared with :func:`hmac.compare_digest`, against
    every token without stopping at a match, so the time taken says nothing about the tokens
    (not even their lengths). An empty offer never matches.
    """
    if not offered:
        return False
    digest = _sha256(offered)
    found = False
    for known in section.token_digests():
        found |= hmac.compare_digest(digest, known)
    return found


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


def _resolve(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        return base_dir / path
    return path


# -- plugins ---------------------------------------------------------------------------------

BUILTIN_PLUGINS = ("hubbub.plugins.nickserv", "hubbub.plugins.chanserv")
"""Plugins that come with hubbub and run in every server without being named in
``[plugins] modules`` (NickServ); each may still have its own table."""

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
