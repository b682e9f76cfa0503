"""The whole configuration, ``Config``, and reading it from a TOML file.

``parse_config`` checks every key of every table against its section's fields and reports all
problems at once, each under its dotted key (``limits.sendq``, ``listen[1].address``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TypeVar, get_type_hints

from hubbub.config.issues import ConfigError, ConfigIssue
from hubbub.config.sections import (
    AccountsSection,
    AdminSection,
    AuthSection,
    CloaksSection,
    ClusterSection,
    HistoryChannel,
    HistorySection,
    LimitsSection,
    ListenSection,
    LoggingSection,
    MetricsSection,
    OperSection,
    PluginsSection,
    ServerSection,
    StorageSection,
    StsSection,
    WebircSection,
    _cross_issues,
    _default_listeners,
    _resolve,
)

__all__ = ["Config", "default_config", "load_config", "parse_config"]


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
    history: HistorySection = field(default_factory=HistorySection)
    sts: StsSection = field(default_factory=StsSection)
    cloaks: CloaksSection = field(default_factory=CloaksSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    opers: tuple[OperSection, ...] = ()
    webirc: tuple[WebircSection, ...] = ()
    logging: LoggingSection = field(default_factory=LoggingSection)
    plugins: PluginsSection = field(default_factory=PluginsSection)
    admin: AdminSection = field(default_factory=AdminSection)
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
        if (
            self.metrics.enabled
            and not self.admin.enabled
            and not any(x.websocket for x in self.listen)
        ):
            issues.append(
                ConfigIssue(
                    "metrics.enabled",
                    "needs an HTTP listener to serve it (websocket = true, or [admin] enabled)",
                )
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

    def warnings(self) -> list[ConfigIssue]:
        """What is valid but works otherwise than one would expect: ``hubbub check-config``
        prints it and ``hubbub serve`` logs it at start."""
        found: list[ConfigIssue] = []
        if self.cluster.redis and not self.storage.url:
            found.append(ConfigIssue("storage.url", CLUSTER_WITHOUT_DATABASE))
            if self.cloaks.enabled and not self.cloaks.secret:
                found.append(ConfigIssue("cloaks.secret", CLUSTER_WITHOUT_CLOAK_SECRET))
        return found


CLUSTER_WITHOUT_DATABASE = (
    "warning: empty with [cluster] redis: each node keeps its accounts, registered channels "
    "and history in its own SQLite file, so an account can be logged in to only on the node "
    "where it was registered (its name is still one account in the whole network: Redis "
    "decides which node has it) and a channel registered on one node is not registered on "
    "the others (the workers of one `hubbub serve --workers` share their file and are not "
    "affected); give every node the same PostgreSQL url"
)
"""The warning for a cluster whose nodes do not share one database."""

CLUSTER_WITHOUT_CLOAK_SECRET = (
    "warning: empty with [cluster] redis and no shared database: each node makes its own, so "
    "one address gets a different cloak on each node and a ban on a cloak stops it on one "
    "node only; set the same secret on every node"
)
"""The warning for a cluster whose nodes would each make their own cloak secret."""


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
    "history": HistorySection,
    "sts": StsSection,
    "cloaks": CloaksSection,
    "metrics": MetricsSection,
    "admin": AdminSection,
    "logging": LoggingSection,
}
_ARRAYS: dict[str, type] = {
    "listen": ListenSection,
    "oper": OperSection,
    "webirc": WebircSection,
}


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
    if hint == (int | None):
        hint = int
    elif hint == (float | None):
        hint = float
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
    arrays: dict[str, list[tuple[int, object]]] = {"listen": [], "oper": [], "webirc": []}
    for name, value in data.items():
        if name == "history" and isinstance(value, dict) and "channels" in value:
            history = _build_history(value, out)
            if history is not None:
                sections[name] = history
        elif name == "plugins":
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
    webirc = [item for _, item in arrays["webirc"] if isinstance(item, WebircSection)]
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
        history=_pick(sections, "history", defaults.history),
        sts=_pick(sections, "sts", defaults.sts),
        cloaks=_pick(sections, "cloaks", defaults.cloaks),
        metrics=_pick(sections, "metrics", defaults.metrics),
        opers=tuple(item for _, item in opers),
        webirc=tuple(webirc),
        logging=_pick(sections, "logging", defaults.logging),
        plugins=_pick(sections, "plugins", defaults.plugins),
        admin=_pick(sections, "admin", defaults.admin),
        path=path,
    )


def _build_history(table: Mapping[str, object], out: list[ConfigIssue]) -> HistorySection | None:
    """``[history]`` with its ``[history.channels."#name"]`` tables."""
    channels = table["channels"]
    if not isinstance(channels, dict):
        out.append(ConfigIssue("history.channels", f"expected table, got {_toml_type(channels)}"))
        return None
    built: dict[str, HistoryChannel] = {}
    for name, value in channels.items():
        where = f'history.channels."{name}"'
        if not isinstance(value, dict):
            out.append(ConfigIssue(where, f"expected table, got {_toml_type(value)}"))
            continue
        channel = _build(HistoryChannel, value, where, out)
        if channel is not None:
            built[name] = channel
    rest = {k: v for k, v in table.items() if k != "channels"}
    section = _build(HistorySection, rest, "history", out)
    if section is None:
        return None
    try:
        return dataclasses.replace(section, channels=built)
    except ConfigError as err:
        out.extend(ConfigIssue(f"history.{issue.key}", issue.message) for issue in err.issues)
        return None


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
