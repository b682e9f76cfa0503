"""The servers the comparison runs: hubbub, ngircd, InspIRCd and the bare C relay.

Each is started fresh on a free loopback port with its flood limits raised as far as its
configuration allows, in a scratch directory, in the foreground (so the pid we hold is the
server's own, for its RSS and CPU time).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from hubbub.bench.build import helper

NGIRCD = "/usr/sbin/ngircd"
INSPIRCD = "/usr/sbin/inspircd"


class ServerUnavailable(RuntimeError):
    """The server cannot be run here (not installed, or it failed to start)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``host:port`` accepts a connection; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(f"exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"not listening on {host}:{port} after {timeout:.0f} s")


@dataclass
class Running:
    """A started server: its process, pid and address."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    backlog: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """Terminate the server and wait for it (kill it after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server logged, to explain a failure."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Server(ABC):
    """How to configure and start one kind of server."""

    key: str
    label: str
    listen_backlog: int
    """The backlog the server passes to listen(), when ``ss`` cannot tell: how many
    registrations the generator may have in progress at once without overflowing the server's
    accept queue."""

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this server cannot run here, or None when it can."""

    transports: tuple[str, ...] = ("tcp",)
    """What clients may connect with (``tls``, ``ws``, ``wss`` beside plain ``tcp``): the
    idle connections scenario measures each."""

    @abstractmethod
    def command(self, workdir: Path, host: str, port: int, transport: str = "tcp") -> list[str]:
        """Write the configuration into ``workdir``, with one listener of ``transport`` (one
        of :attr:`transports`); return the command that runs the server."""

    def version(self) -> str:
        """The server's version, for the report."""
        return self.label

    def env(self) -> dict[str, str] | None:
        """The environment to run the server in (None: this process's)."""
        return None

    def start(
        self,
        workdir: Path,
        host: str = "127.0.0.1",
        timeout: float = 30.0,
        transport: str = "tcp",
    ) -> Running:
        """Start the server on a free port (listening for ``transport``); return once it
        accepts connections."""
        reason = self.unavailable()
        if not reason and transport not in self.transports:
            reason = f"not set up for {transport} clients here"
        if reason:
            raise ServerUnavailable(reason)
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port(host)
        cmd = self.command(workdir, host, port, transport)
        log = workdir / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env(),
            )
        running = Running(proc, host, port, log, self.listen_backlog)
        try:
            wait_listening(host, port, proc, timeout)
        except ServerUnavailable as exc:
            running.stop()
            raise ServerUnavailable(f"{self.key} {exc}\n{running.log_tail()}") from None
        running.backlog = listen_backlog(port) or self.listen_backlog
        return running


def listen_backlog(port: int) -> int | None:
    """The accept-queue size of the socket listening on ``port`` (``ss``'s Send-Q), or None."""
    try:
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[0] == "LISTEN" and cols[2].isdigit():
            return int(cols[2])
    return None


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


NO_HISTORY = """
[history]
enabled = false
"""
"""What the plain ``hubbub`` adds to its config: the C servers keep no history, so the
comparison with them is made without it (``hubbub-history`` prices it)."""


class Hubbub(Server):
    """``python -m hubbub serve --config`` with flood limits off."""

    key = "hubbub"
    label = "hubbub"
    listen_backlog = 100  # registrations in flight; hubbub listens with a backlog of 1024

    def unavailable(self) -> str | None:
        if _first_line([sys.executable, "-m", "hubbub", "serve", "--help"]).startswith("usage"):
            return None
        return "`hubbub serve` is not available yet"

    def version(self) -> str:
        try:
            from importlib.metadata import version

            return f"hubbub {version('hubbub')}"
        except Exception:  # pragma: no cover - metadata missing in odd installs
            return "hubbub"

    extra_config = ""
    """More TOML for the variants below."""

    def stored_rows(self, workdir: Path) -> int | None:
        """Lines of history committed to the database so far (None without history)."""
        db = workdir / "hubbub.db"
        if "[history]\nenabled = true" not in self.extra_config or not db.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)
            try:
                try:  # a row holds a block of lines (schema 5)...
                    return int(conn.execute("SELECT total(size) FROM history").fetchone()[0])
                except sqlite3.OperationalError:  # ...or one line (a baseline before it)
                    return int(conn.execute("SELECT count(*) FROM history").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    transports = ("tcp", "tls", "ws", "wss")

    def command(self, workdir: Path, host: str, port: int, transport: str = "tcp") -> list[str]:
        conf = workdir / "hubbub.toml"
        listen = ""
        if transport in ("tls", "wss"):
            from hubbub.net.certs import make_self_signed

            make_self_signed(workdir / "cert.pem", workdir / "key.pem", [host])
            listen += (
                f'tls = true\ncert = "{workdir / "cert.pem"}"\nkey = "{workdir / "key.pem"}"\n'
            )
        if transport in ("ws", "wss"):
            listen += "websocket = true\n"
        conf.write_text(
            f"""[server]
name = "bench.hubbub"
network = "Bench"
motd = "bench"

[[listen]]
address = "{host}:{port}"
{listen}
[limits]
flood = false
sendq = 67108864
max_clients = 1000000
max_clients_per_ip = 1000000

[storage]
path = "{workdir / "hubbub.db"}"
"""
            + (self.extra_config or NO_HISTORY).format(host=host, port=free_port(host))
        )
        return [sys.executable, "-m", "hubbub", "serve", "--config", str(conf)]


class Ngircd(Server):
    """Debian's ngircd: penalties off (MaxPenaltyTime = 0), no per-IP or join limits."""

    key = "ngircd"
    label = "ngircd"
    listen_backlog = 10  # ngircd calls listen(fd, 10)

    def unavailable(self) -> str | None:
        return None if os.access(NGIRCD, os.X_OK) else f"{NGIRCD} is not installed"

    def version(self) -> str:
        line = _first_line([NGIRCD, "--version"])
        return line.split("-")[0].replace("ngIRCd", "ngircd").strip() or "ngircd"

    def command(self, workdir: Path, host: str, port: int, transport: str = "tcp") -> list[str]:
        conf = workdir / "ngircd.conf"
        conf.write_text(
            f"""[Global]
Name = bench.ngircd
Info = hubbub bench
AdminInfo1 = bench
AdminInfo2 = bench
AdminEMail = bench@localhost
Listen = {host}
Ports = {port}
MotdPhrase = bench

[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600

[Options]
DNS = no
Ident = no
PAM = no
"""
        )
        return [NGIRCD, "--nodaemon", "--config", str(conf)]


class Inspircd(Server):
    """Debian's InspIRCd 3: flood threshold and command rate as high as they go, large queues,
    no clone limits, no DNS or ident lookups."""

    key = "inspircd"
    label = "InspIRCd"
    listen_backlog = 4096  # <performance somaxconn>, capped by net.core.somaxconn

    def unavailable(self) -> str | None:
        return None if os.access(INSPIRCD, os.X_OK) else f"{INSPIRCD} is not installed"

    def version(self) -> str:
        line = _first_line([INSPIRCD, "--version"])
        return line.replace("InspIRCd-", "InspIRCd ").replace("-debian", "") or "InspIRCd"

    def command(self, workdir: Path, host: str, port: int, transport: str = "tcp") -> list[str]:
        conf = workdir / "inspircd.conf"
        conf.write_text(
            f"""<config format="xml">
<server name="bench.inspircd" description="hubbub bench" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="{host}" port="{port}" type="clients">
<connect allow="*" timeout="120" pingfreq="600" threshold="1000000"
         commandrate="1000000000" fakelag="no" softsendq="67108864" hardsendq="268435456"
         recvq="67108864" localmax="1000000" globalmax="1000000" limit="1000000"
         maxchans="100" resolvehostnames="no" useident="no" maxconnwarn="no">
<channels users="100" opers="100">
<dns server="127.0.0.1" timeout="1">
<performance netbuffersize="65536" somaxconn="4096" softlimit="1000000"
             clonesonconnect="no" quietbursts="yes">
<options syntaxhints="no" announcets="no" hostintopic="no" pingwarning="15">
<security maxtargets="20" hideserver="" userstats="Pu" customversion="" flatlinks="no"
          hidesplits="no" hideulines="no" hidebans="no">
<limits maxnick="30" maxchan="60" maxident="10" maxhost="64" maxreal="130" maxtopic="330"
        maxkick="300" maxquit="300" maxaway="200" maxmodes="20">
<pid file="{workdir / "inspircd.pid"}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default"
     target="{workdir / "inspircd.log"}">
"""
        )
        cmd = [INSPIRCD, "--config", str(conf), "--nofork"]
        if os.geteuid() == 0:
            cmd.append("--runasroot")
        return cmd


class BareRelay(Server):
    """The bare C epoll relay (``bare_relay.c``): the generator's ceiling, no IRC."""

    key = "relay"
    label = "bare C relay"
    listen_backlog = 4096

    def unavailable(self) -> str | None:
        if shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc"):
            return None
        return "no C compiler to build the bare relay"

    def command(self, workdir: Path, host: str, port: int, transport: str = "tcp") -> list[str]:
        return [str(helper("bare_relay")), "--host", host, "--port", str(port)]


class HubbubMetrics(Hubbub):
    """hubbub with ``[metrics]`` on (served on an HTTP listener of its own): what counting
    every event costs (history off, as for the plain ``hubbub``)."""

    key = "hubbub-metrics"
    label = "hubbub, metrics on"

    def version(self) -> str:
        return f"{super().version()}, metrics on"

    extra_config = (
        NO_HISTORY
        + """
[metrics]
enabled = true

[[listen]]
address = "{host}:{port}"
websocket = true
"""
    )


class HubbubHistory(Hubbub):
    """hubbub as its default config runs it, keeping every message (``[history]`` on): what
    history costs, beside the plain ``hubbub`` (history off, as the C servers keep none)."""

    key = "hubbub-history"
    label = "hubbub, history on"

    def version(self) -> str:
        return f"{super().version()}, history on"

    extra_config = """
[history]
enabled = true
"""


class HubbubBaseline(Hubbub):
    """hubbub as it was at another commit: the same command, with the ``src`` directory of
    a checkout of that commit first on the module path (``git worktree add DIR COMMIT``), so
    a change is measured side by side with the commit before it, in one run."""

    key = "hubbub-base"

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.label = f"hubbub {_commit(checkout)} (baseline)"

    def unavailable(self) -> str | None:
        if not (self.checkout / "src" / "hubbub" / "__main__.py").exists():
            return f"{self.checkout} is not a hubbub checkout"
        return None

    def version(self) -> str:
        return self.label

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(self.checkout / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
        return env


class HubbubBaselineHistory(HubbubBaseline):
    """The baseline commit with ``[history]`` on, beside ``hubbub-history``."""

    key = "hubbub-base-history"

    def __init__(self, checkout: Path) -> None:
        super().__init__(checkout)
        self.label = f"hubbub {_commit(checkout)} (baseline), history on"

    extra_config = HubbubHistory.extra_config


def _commit(checkout: Path) -> str:
    """The short commit id of ``checkout`` (or its directory name when git cannot say)."""
    found = _first_line(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"])
    return found or checkout.name


SERVERS: dict[str, Server] = {
    s.key: s
    for s in (Hubbub(), HubbubMetrics(), HubbubHistory(), Ngircd(), Inspircd(), BareRelay())
}
