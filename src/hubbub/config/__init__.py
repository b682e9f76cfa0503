"""The server's configuration: TOML in, a validated frozen ``Config`` out.

Every problem found in a file is collected as a ``ConfigIssue`` that names its key
(``limits.sendq``, ``listen[1].address``), so ``hubbub check-config`` reports all of them at once.
The section dataclasses validate themselves when constructed, so a value built in code (``--listen``
on the command line, ``dataclasses.replace`` in a test) obeys the same rules as one read from a
file. The reference of every key is ``docs/config.md``.

The modules: ``issues`` (the errors and the checks), ``sections`` (one dataclass per table) and
``loading`` (``Config`` and the TOML parser). Password hashing is ``hubbub.passwords``.
"""

from hubbub.config.issues import ConfigError, ConfigIssue, format_issues
from hubbub.config.loading import Config, default_config, load_config, parse_config
from hubbub.config.sections import (
    ACCOUNT_REGISTRATION,
    LOG_LEVELS,
    MAX_PASSWORD_BYTES,
    MIN_ADMIN_TOKEN,
    NICK_PROTECTION,
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
    admin_token_hash,
    admin_token_matches,
    parse_address,
    plugin_name,
)

__all__ = [
    "ACCOUNT_REGISTRATION",
    "MIN_ADMIN_TOKEN",
    "AdminSection",
    "admin_token_hash",
    "admin_token_matches",
    "AccountsSection",
    "AuthSection",
    "CloaksSection",
    "ClusterSection",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "HistoryChannel",
    "HistorySection",
    "ListenSection",
    "LOG_LEVELS",
    "LimitsSection",
    "MAX_PASSWORD_BYTES",
    "NICK_PROTECTION",
    "LoggingSection",
    "MetricsSection",
    "OperSection",
    "WebircSection",
    "PluginsSection",
    "ServerSection",
    "StorageSection",
    "StsSection",
    "default_config",
    "format_issues",
    "load_config",
    "parse_address",
    "parse_config",
    "plugin_name",
]
