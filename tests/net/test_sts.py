"""IRCv3 STS: plain-text clients are told the TLS port, TLS clients how long to keep it."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import ConfigError, ListenSection, StsSection, parse_config
from hubbub.net import certs
from hubbub.net.app import App
from hubbub.protocol.message import Message
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient


async def cap_ls(client: IRCTestClient, version: str) -> list[str]:
    await client.send(f"CAP LS {version}".strip())
    caps: list[str] = []
    while True:
        msg: Message = await client.expect("CAP")
        caps.extend(msg.params[-1].split())
        if msg.params[2] != "*":
            return caps


async def test_sts_policy_per_connection(app_factory: Callable[..., Any], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    listen = (
        ListenSection(address="127.0.0.1:0"),
        ListenSection(address="127.0.0.1:0", tls=True, cert=str(cert), key=str(key)),
    )
    config = dataclasses.replace(
        make_config(listen=listen), sts=StsSection(enabled=True, duration=86400, preload=True)
    )
    app: App = await app_factory(config)
    tls_host, tls_port = app.address("ircs")

    plain = await IRCTestClient.connect(*app.address("irc"))
    assert f"sts=port={tls_port}" in await cap_ls(plain, "302")
    await plain.send("CAP REQ :sts")
    nak = await plain.expect("CAP")
    assert nak.params[1] == "NAK"
    await plain.close()

    old = await IRCTestClient.connect(*app.address("irc"))
    assert not [c for c in await cap_ls(old, "") if c.startswith("sts")]
    await old.close()

    # A plain CAP LS after a CAP LS 302 is answered as its version asks: no values, and so
    # no sts (a policy is nothing without its value).
    both = await IRCTestClient.connect(*app.address("irc"))
    assert f"sts=port={tls_port}" in await cap_ls(both, "302")
    assert not [c for c in await cap_ls(both, "") if c.startswith("sts")]
    await both.close()

    ctx = ssl.create_default_context(cafile=str(cert))
    secure = await IRCTestClient.connect(tls_host, tls_port, tls=ctx)
    assert "sts=duration=86400,preload" in await cap_ls(secure, "302")
    await secure.close()


async def test_sts_off_by_default(hubbub_app: App) -> None:
    client = await IRCTestClient.connect(*hubbub_app.address())
    assert not [c for c in await cap_ls(client, "302") if c.startswith("sts")]
    await client.close()


def test_sts_needs_a_tls_listener() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[[listen]]\naddress = "127.0.0.1:6667"\n[sts]\nenabled = true\n')
    assert [i.key for i in err.value.issues] == ["sts.enabled"]
