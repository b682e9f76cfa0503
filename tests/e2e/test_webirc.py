"""WEBIRC over real sockets: a gateway on this machine names its users' addresses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hubbub.config import Config, WebircSection
from hubbub.passwords import hash_password
from tests.cloaks import HOST, cloak_of
from tests.conftest import make_config
from tests.e2e.conformance import Net
from tests.e2e.test_limits import assert_closed

PASSWORD = "gateway-secret"


def webirc_config(**limits: Any) -> Config:
    block = WebircSection(password=hash_password(PASSWORD), hosts=("127.0.0.1",), name="lounge")
    return dataclasses.replace(make_config(**limits), webirc=(block,))


async def test_a_gateway_gives_its_user_the_address_it_names(
    app_factory: Callable[[Config], Any],
) -> None:
    app = await app_factory(webirc_config(max_clients_per_ip=1))
    async with Net(app) as net:
        oper_view = await net.client("watcher")  # (127.0.0.1: the gateway's own address)
        user = await net.raw()
        await user.send(f"WEBIRC {PASSWORD} thelounge user.example 203.0.113.5 :secure")
        await user.register("webuser")
        await user.send("WHOIS webuser")
        whois = {m.command: m.params for m in await user.collect_until("318")}
        assert whois["311"][3] == cloak_of("203.0.113.5")
        assert whois["338"][3] == "203.0.113.5"
        assert whois["320"][-1].endswith("WebIRC gateway lounge")
        assert "671" in whois  # (secure: the gateway is on this machine)
        # another user of the gateway with another address: max_clients_per_ip is theirs
        other = await net.raw()
        await other.send(f"WEBIRC {PASSWORD} thelounge h 203.0.113.6")
        await other.register("other")
        await oper_view.send("WHOIS other")
        assert (await oper_view.expect("311")).params[3] == cloak_of("203.0.113.6")
        # the same address again: refused
        again = await net.raw()
        await again.send(f"WEBIRC {PASSWORD} thelounge h 203.0.113.5")
        error = await again.expect("ERROR")
        assert error.params[0].endswith("(Too many connections from your IP address)")
        await assert_closed(again)
        assert app.server.ip_counts == {"127.0.0.1": 1, "203.0.113.5": 1, "203.0.113.6": 1}


async def test_a_wrong_webirc_password_is_refused(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(webirc_config())
    async with Net(app) as net:
        client = await net.raw()
        await client.send("WEBIRC wrong thelounge h 203.0.113.5", "NICK sneaky", "USER u 0 * :x")
        error = await client.expect("ERROR")
        assert error.params == (f"Closing Link: {HOST} (Invalid WebIRC password)",)
        await assert_closed(client)


async def test_webirc_after_registration_is_refused(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(webirc_config())
    async with Net(app) as net:
        client = await net.client("registered")
        await client.send(f"WEBIRC {PASSWORD} thelounge h 203.0.113.5")
        refused = await client.expect("462")
        assert refused.params == ("registered", "You may not reregister")
        await client.send("WHOIS registered")
        assert (await client.expect("338")).params[3] == "127.0.0.1"
