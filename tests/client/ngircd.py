"""Run Debian's ngircd on loopback for tests: a second, independent IRC server.

:func:`start_ngircd` writes a config into a directory, starts ``ngircd -n`` (no daemon) on
free ports of 127.0.0.1 (plain, and TLS when given a certificate), and waits until it accepts.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.timeouts import TIMEOUT

NGIRCD = shutil.which("ngircd") or "/usr/sbin/ngircd"


def have_ngircd() -> bool:
    """True if ngircd is installed."""
    return Path(NGIRCD).exists()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Ngircd:
    """A running ngircd."""

    process: subprocess.Popen[bytes]
    port: int
    tls_port: int | None
    directory: Path
    password: str | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` of the plain-text listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def tls_address(self) -> str:
        """``127.0.0.1:PORT`` of the TLS listener."""
        assert self.tls_port is not None
        return f"127.0.0.1:{self.tls_port}"

    def stop(self) -> None:
        """Kill the server and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)

    def log(self) -> str:
        """What the server has logged so far."""
        return (self.directory / "ngircd.log").read_text(errors="replace")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``localhost`` / 127.0.0.1 (made with openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT * 3,
    )
    key.chmod(0o644)
    return cert, key


@dataclass
class NgircdConfig:
    """A written config: its path and the ports it listens on."""

    path: Path
    port: int
    tls_port: int | None


def write_config(
    directory: Path,
    cert: tuple[Path, Path] | None = None,
    password: str | None = None,
    port: int | None = None,
) -> NgircdConfig:
    """Write an ngircd config into ``directory``: 127.0.0.1 only, on ``port`` (or a free one)
    and a TLS port when given a certificate; no PAM, ident, DNS or flood penalties."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # ngircd drops root for "nobody"
    port = port or free_port()
    tls_port = free_port() if cert else None
    lines = [
        "[Global]",
        "Name = irc.ngircd.test",
        "Info = hubbub test server",
        "Listen = 127.0.0.1",
        f"Ports = {port}",
        "MotdPhrase = ngircd for hubbub tests",
        "AdminInfo1 = tests",
        "AdminInfo2 = tests",
        "AdminEMail = tests@localhost",
    ]
    if password:
        lines.append(f"Password = {password}")
    lines += [
        "[Limits]",
        "MaxNickLength = 30",
        "MaxConnectionsIP = 0",
        "MaxPenaltyTime = 0",
        "PingTimeout = 120",
        "[Options]",
        "PAM = no",
        "Ident = no",
        "DNS = no",
        "RequireAuthPing = no",
    ]
    if cert:
        lines += ["[SSL]", f"CertFile = {cert[0]}", f"KeyFile = {cert[1]}", f"Ports = {tls_port}"]
    conf = directory / "ngircd.conf"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o644)
    return NgircdConfig(conf, port, tls_port)


def wait_listening(port: int, alive: Callable[[], bool] = lambda: True) -> None:
    """Return once 127.0.0.1:``port`` accepts connections (at most TIMEOUT seconds)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        if not alive():
            raise RuntimeError(f"the server for port {port} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port} after {TIMEOUT} s") from None
            time.sleep(0.05)


def start_ngircd(
    directory: Path,
    cert: tuple[Path, Path] | None = None,
    password: str | None = None,
    port: int | None = None,
) -> Ngircd:
    """Start ngircd with its config in ``directory`` (on ``port``, or a free one); returns
    once it accepts connections."""
    config = write_config(directory, cert, password, port)
    log = (directory / "ngircd.log").open("wb")
    process = subprocess.Popen(
        [NGIRCD, "-n", "-f", str(config.path)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Ngircd(process, config.port, config.tls_port, directory, password)
    try:
        for p in [config.port] + ([config.tls_port] if config.tls_port else []):
            wait_listening(p, lambda: process.poll() is None)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"{exc}:\n{server.log()}") from None
    return server
