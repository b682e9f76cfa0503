"""TLS over real sockets: good, mismatched and expired certificates, plain text on a TLS port,
certificate reload on REHASH, wss://, and ``hubbub gen-cert``."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import logging
import ssl
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hubbub.config import Config, ListenSection, load_config
from hubbub.net import certs
from hubbub.net.app import App
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.net.test_websocket import WSClient, http_get_at, transports  # noqa: F401
from tests.timeouts import TIMEOUT

AppFactory = Callable[[Config], Any]
# (``transports``, imported above, is autouse: each test here runs on the epoll hub and on
# asyncio's transports, as in test_websocket.py)


def write_cert(
    directory: Path,
    hostnames: Sequence[str],
    *,
    valid_from: datetime.timedelta = datetime.timedelta(days=-1),
    valid_until: datetime.timedelta = datetime.timedelta(days=1),
    name: str = "cert",
) -> tuple[Path, Path]:
    """A self-signed certificate for ``hostnames``, valid between now + the two offsets."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_until)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(cafile: Path) -> ssl.SSLContext:
    """A client context that trusts only ``cafile`` and checks host names."""
    return ssl.create_default_context(cafile=str(cafile))


def tls_config(cert: Path, key: Path, websocket: bool = False) -> Config:
    return make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", tls=True, cert=str(cert), key=str(key)),
            ListenSection(
                address="127.0.0.1:0", tls=True, cert=str(cert), key=str(key), websocket=True
            ),
        )
        if websocket
        else (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", tls=True, cert=str(cert), key=str(key)),
        )
    )


async def peer_certificate(host: str, port: int, ctx: ssl.SSLContext) -> x509.Certificate:
    """The certificate the server presents (after a verified handshake)."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname="localhost"), TIMEOUT
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der)
    finally:
        writer.close()


async def read_until_closed(client: IRCTestClient) -> None:
    """Read until the connection ends (raises EOFError), checking nothing IRC comes back."""
    while True:
        line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
        if not line:
            raise EOFError
        assert not line.startswith(b":"), line


async def test_good_certificate(app_factory: AppFactory, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    app = await app_factory(tls_config(cert, key))
    host, port = app.address("ircs")
    client = await IRCTestClient.connect(host, port, tls=client_context(cert))
    ssl_object = client.writer.get_extra_info("ssl_object")
    assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
    await client.register("secure")
    await client.send("WHOIS secure")
    await client.expect("671")  # RPL_WHOISSECURE: the core knows the connection is TLS
    # ... and a plain-text client on the other listener does not get it.
    plain = await IRCTestClient.connect(*app.address("irc"))
    await plain.register("plain")
    await plain.send("WHOIS plain")
    replies = await plain.collect_until("318")
    assert "671" not in [m.command for m in replies]
    await client.close()
    await plain.close()


async def test_hostname_mismatch_fails_on_the_client(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    cert, key = write_cert(tmp_path, ["irc.example.org"])
    app = await app_factory(tls_config(cert, key))
    host, port = app.address("ircs")
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await IRCTestClient.connect(host, port, tls=client_context(cert))
    assert "mismatch" in str(info.value.verify_message)
    # The server carries on.
    ctx = client_context(cert)
    ctx.check_hostname = False
    client = await IRCTestClient.connect(host, port, tls=ctx)
    await client.register("stillfine")
    await client.close()


async def test_expired_certificate_fails_on_the_client(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    cert, key = write_cert(
        tmp_path,
        ["localhost", "127.0.0.1"],
        valid_from=datetime.timedelta(days=-30),
        valid_until=datetime.timedelta(days=-1),
    )
    app = await app_factory(tls_config(cert, key))
    host, port = app.address("ircs")
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await IRCTestClient.connect(host, port, tls=client_context(cert))
    assert "expired" in str(info.value.verify_message)
    plain = await IRCTestClient.connect(*app.address("irc"))
    await plain.register("unharmed")
    await plain.close()


async def test_plain_text_on_a_tls_port_is_closed(app_factory: AppFactory, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    app = await app_factory(tls_config(cert, key))
    host, port = app.address("ircs")
    # Someone already connected over TLS is not disturbed by what follows.
    bystander = await IRCTestClient.connect(host, port, tls=client_context(cert))
    await bystander.register("bystander")

    confused = await IRCTestClient.connect(host, port)
    await confused.send("NICK confused", "USER u 0 * :plain text on a TLS port")
    with pytest.raises((EOFError, ConnectionError)):
        await read_until_closed(confused)
    await confused.close()
    assert not any(s.user.nick == "confused" for s in app.server.sessions)

    await bystander.assert_nothing_pending()
    await bystander.close()


async def test_failed_handshakes_are_logged_and_plain_text_answered(
    app_factory: AppFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    app = await app_factory(tls_config(cert, key))
    host, port = app.address("ircs")
    caplog.set_level(logging.INFO, logger="hubbub")

    confused = await IRCTestClient.connect(host, port)
    await confused.send("NICK confused")
    error = await confused.read_message()
    assert error.command == "ERROR"
    assert "TLS" in error.params[0]
    await confused.close()

    with pytest.raises(ssl.SSLCertVerificationError):
        await IRCTestClient.connect(host, port, tls=ssl.create_default_context())

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("hubbub")]

    # The server sees the failed handshake a moment after the client gives up: poll the log
    # (nothing to await there), bounded by the suite's timeout.
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while sum("TLS" in m and "127.0.0.1" in m for m in logged()) < 2:
        assert asyncio.get_running_loop().time() < deadline, logged()
        await asyncio.sleep(0.01)


async def test_certificates_reload_on_rehash(tmp_path: Path) -> None:
    """A good certificate replaces the old one on every TLS listener (IRC and WebSocket); a
    bad one (a key that does not match) is refused and the old one stays in service."""
    first_cert, first_key = write_cert(tmp_path, ["localhost", "127.0.0.1"], name="first")
    config_file = tmp_path / "hubbub.toml"
    tls = 'tls = true\ncert = "live.pem"\nkey = "live.key"\n'
    config_file.write_text(
        '[[listen]]\naddress = "127.0.0.1:0"\n'
        f'[[listen]]\naddress = "127.0.0.1:0"\n{tls}'
        f'[[listen]]\naddress = "127.0.0.1:0"\nwebsocket = true\n{tls}'
        "[limits]\nflood = false\n"
        '[[oper]]\nname = "admin"\npassword = "opersecret"\n'
    )
    (tmp_path / "live.pem").write_bytes(first_cert.read_bytes())
    (tmp_path / "live.key").write_bytes(first_key.read_bytes())
    app = App(load_config(config_file))
    await app.start()
    try:
        ircs, wss = app.address("ircs"), app.address("wss")
        before = await peer_certificate(*ircs, client_context(first_cert))
        oper = await IRCTestClient.connect(*app.address("irc"))
        await oper.register("oper")
        await oper.send("OPER admin opersecret")
        await oper.expect("381")

        second_cert, second_key = write_cert(tmp_path, ["localhost", "127.0.0.1"], name="second")
        third_cert, third_key = write_cert(tmp_path, ["localhost", "127.0.0.1"], name="third")
        (tmp_path / "live.pem").write_bytes(second_cert.read_bytes())
        (tmp_path / "live.key").write_bytes(third_key.read_bytes())  # not second's key
        await oper.send("REHASH")
        failed = await oper.expect(lambda m: m.command in ("382", "NOTICE"))
        assert failed.command == "NOTICE"
        assert "REHASH failed" in failed.params[-1]
        for address in (ircs, wss):
            kept = await peer_certificate(*address, client_context(first_cert))
            assert kept.serial_number == before.serial_number

        (tmp_path / "live.key").write_bytes(second_key.read_bytes())
        await oper.send("REHASH")
        await oper.expect("382")
        for address in (ircs, wss):
            after = await peer_certificate(*address, client_context(second_cert))
            assert after.serial_number != before.serial_number
        await oper.close()
    finally:
        await app.stop("test over")


async def test_secure_websocket(app_factory: AppFactory, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certs.make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    app = await app_factory(tls_config(cert, key, websocket=True))
    host, port = app.address("wss")
    ctx = client_context(cert)
    web = await WSClient.connect(f"wss://{host}:{port}/irc", tls=ctx)
    await web.register("wssuser")
    await web.send("WHOIS wssuser")
    await web.expect("671")
    await web.close()

    # The page itself over https, with the same headers.
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), TIMEOUT)
    writer.write(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200")
    assert b"frame-ancestors 'none'" in raw
    # Plain http to the https port gets nothing useful (and the server carries on).
    with pytest.raises((ValueError, IndexError, ConnectionError)):
        await http_get_at(host, port, "/")
    web = await WSClient.connect(f"wss://{host}:{port}/irc", tls=ctx)
    await web.register("again")
    await web.close()


# --- hubbub gen-cert --------------------------------------------------------------------------


def gen_cert(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    certs.configure_parser(parser)
    return certs.run(parser.parse_args(list(argv)))


def test_gen_cert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    args = ("--cert", str(cert), "--key", str(key), "--host", "irc.test", "--host", "10.1.2.3")
    assert gen_cert(*args) == 0
    assert "wrote" in capsys.readouterr().out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    sans = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["irc.test"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]
    # The pair loads as a server certificate.
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)

    assert gen_cert(*args) == 1, "existing files are not overwritten"
    assert "already exists" in capsys.readouterr().err
    assert gen_cert(*args, "--force") == 0


def test_gen_cert_defaults_cover_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert gen_cert() == 0
    loaded = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    sans = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert gen_cert("--days", "0", "--force") == 1
