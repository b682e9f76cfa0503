"""The docs describe the code: every command and offered capability is in docs/protocol.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hubbub.protocol.caps import CAP_NAMES
from hubbub.server.commands import COMMANDS
from hubbub.server.commands.registration import ADVERTISED

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_command_is_documented() -> None:
    text = (DOCS / "protocol.md").read_text()
    missing = [name for name in COMMANDS if f"`{name}`" not in text]
    assert missing == []


def test_every_offered_capability_is_documented() -> None:
    text = (DOCS / "protocol.md").read_text()
    missing = [CAP_NAMES[cap] for cap in ADVERTISED if f"`{CAP_NAMES[cap]}`" not in text]
    assert missing == []


def test_every_limit_is_documented() -> None:
    from hubbub.config import LimitsSection

    text = (DOCS / "security.md").read_text()
    missing = [f.name for f in dataclasses.fields(LimitsSection) if f"`{f.name}`" not in text]
    assert missing == []


def test_every_accounts_key_is_documented() -> None:
    from hubbub.config import AccountsSection

    config = (DOCS / "config.md").read_text()
    security = (DOCS / "security.md").read_text()
    keys = [f.name for f in dataclasses.fields(AccountsSection)]
    assert [key for key in keys if f"`{key}`" not in config] == []
    assert [key for key in keys if key not in security] == []


def test_every_history_key_is_documented() -> None:
    from hubbub.config import HistoryChannel, HistorySection

    config = (DOCS / "config.md").read_text()
    keys = [f.name for cls in (HistorySection, HistoryChannel) for f in dataclasses.fields(cls)]
    assert [key for key in keys if f"`{key}`" not in config] == []


def test_every_admin_endpoint_and_key_is_documented() -> None:
    from hubbub.config import AdminSection
    from hubbub.server.admin import ACTIONS

    api = (DOCS / "admin-api.md").read_text()
    assert [name for name in ACTIONS if f"`POST /v1/{name}`" not in api] == []
    config = (DOCS / "config.md").read_text()
    keys = [f.name for f in dataclasses.fields(AdminSection) if f.init]
    assert [key for key in keys if f"`{key}`" not in config] == []
    security = (DOCS / "security.md").read_text()
    limits = [key for key in keys if key.startswith("max_") or key == "timeout"]
    assert [key for key in limits if f"`{key}`" not in security] == []
