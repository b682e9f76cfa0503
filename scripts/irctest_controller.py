"""An irctest controller for hubbub: run the IRC conformance suite of progval/irctest (the one
ergo, InspIRCd, UnrealIRCd and others are checked with) against this checkout.

    git clone https://github.com/progval/irctest /tmp/irctest
    cp scripts/irctest_controller.py /tmp/irctest/irctest/controllers/hubbub.py
    python3 -m venv /tmp/itvenv && /tmp/itvenv/bin/pip install -r /tmp/irctest/requirements.txt
    cd /tmp/irctest && HUBBUB=$OLDPWD/.venv/bin/hubbub /tmp/itvenv/bin/python -m pytest \
        --controller irctest.controllers.hubbub \
        -m "not implementation-specific and not deprecated" irctest/server_tests/

It starts ``hubbub serve`` with a config of its own in irctest's temporary directory, as the
other controllers start their servers. Not part of ``make test`` (irctest is not on PyPI and
its tests change upstream): docs/protocol.md says when it was last run and what it gave.
"""

import os
from typing import Optional, Type

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.cases import BaseServerTestCase
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities, OptionalBehaviors

HUBBUB = os.environ.get("HUBBUB", "hubbub")

TEMPLATE = """
[server]
name = "My.Little.Server"
network = "MyLittleNetwork"
description = "test server"

[[listen]]
address = "{hostname}:{port}"
{tls}
{ws}
[limits]
flood = false
nicklen = 32
max_clients_per_ip = 1000
connect_burst = 0

[accounts]
registration = "{registration}"
password_min_length = 1
nick_protection = "off"

{password}

[storage]
path = "{directory}/hubbub.db"

[history]
enabled = {history}

[[oper]]
name = "operuser"
password = "operpassword"

[logging]
level = "{level}"
"""


class HubbubController(BaseServerController, DirectoryBasedController):
    software_name = "hubbub"
    supported_sasl_mechanisms = {"PLAIN", "SCRAM-SHA-256"}
    supports_sts = False
    extban_mute_char = "m"
    _port_wait_interval = 0.05

    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_NOTIFY,
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.EXTENDED_MONITOR,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTILINE,
            Capabilities.MULTI_PREFIX,
            Capabilities.READ_MARKER,
            Capabilities.SERVER_TIME,
            Capabilities.SETNAME,
        )
    )
    optional_behaviors = frozenset(
        (
            OptionalBehaviors.BAN_EXCEPTION_MODE,
            OptionalBehaviors.INVITE_EXCEPTION_MODE,
            OptionalBehaviors.MULTI_JOIN,
            OptionalBehaviors.MULTI_PRIVMSG,
            OptionalBehaviors.CAP_REQ_MINUS,
            OptionalBehaviors.SASL_AFTER_REGISTRATION,
        )
    )
    isupport = {
        "BOT": "B",
        "INVEX": patma.ANYOPTSTR,
        "MONITOR": patma.ANYSTR,
        "MSGREFTYPES": patma.ANYSTR,
        "PREFIX": "(ov)@+",
        "STATUSMSG": "@+",
        "TARGMAX": patma.ANYSTR,
        "UTF8ONLY": None,
        "WHOX": None,
    }

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str] = None,
        websocket_port: Optional[int] = None,
    ) -> None:
        if self.test_config.account_registration_requires_email:
            raise NotImplementedByController("account registration with email verification")
        self.create_config()
        self.port = port
        self.hostname = hostname
        assert self.directory
        tls = ""
        if ssl:
            self.gen_ssl()
            tls = f'tls = true\ncert = "{self.pem_path}"\nkey = "{self.key_path}"'
        ws = ""
        if websocket_hostname and websocket_port:
            address = f"{websocket_hostname}:{websocket_port}"
            ws = f'[[listen]]\naddress = "{address}"\nwebsocket = true\n'
            if ssl:
                ws += tls + "\n"
        config = TEMPLATE.format(
            hostname=hostname,
            port=port,
            tls=tls,
            ws=ws,
            password=f'[auth]\npassword = "{password}"' if password else "",
            directory=self.directory,
            history="true",  # (hubbub keeps history by default; chathistory tests need it)
            level="DEBUG" if self.debug_mode else "WARNING",
            registration=(
                "open" if self.test_config.account_registration_before_connect else "after-connect"
            ),
        )
        with self.open_file("server.toml", "w") as fd:
            fd.write(config)
        self.proc = self.execute([HUBBUB, "serve", "--config", str(self.directory / "server.toml")])

    def wait_for_services(self) -> None:
        pass

    def registerUser(
        self,
        case: BaseServerTestCase,
        username: str,
        password: Optional[str] = None,
    ) -> None:
        client = case.addClient(show_io=False)
        case.sendLine(client, "CAP LS 302")
        case.sendLine(client, "NICK " + username)
        case.sendLine(client, "USER r e g :user")
        case.sendLine(client, "CAP END")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        assert password
        case.sendLine(client, "NS REGISTER " + password)
        msgs = case.getMessages(client)
        while not msgs:
            msgs = case.getMessages(client)
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)


def get_irctest_controller_class() -> Type[HubbubController]:
    return HubbubController
