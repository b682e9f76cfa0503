"""Driving the load generator: one or more ``hbload`` processes against one IRC server.

``run_load`` starts the processes, waits until every client is registered (and joined), reads
the server's RSS, says "go" to all at once, collects their results and merges them: delivered
messages and latency histograms add up, the generator's CPU time adds up.

What the scenarios mean:

- ``fanout``: ``clients`` connections join one channel; ``senders`` of them send PRIVMSGs to it,
  either as fast as the window allows (each keeps at most ``window`` messages that a tracking
  receiver has not yet seen) or at ``rate`` messages/s each. Every message is delivered to the
  ``clients - 1`` other members; deliveries are counted over all receivers.
- ``pairs``: ``clients / 2`` pairs, each client sending private messages to its partner, closed
  loop with the same window.
- ``connections``: ``clients`` connections register and stay idle for ``seconds``; the result is
  the time to register them all and, given the server's pid, its RSS per connection. Over
  plain TCP the C generator makes them; over TLS or WebSocket (``transport``), the Python
  one (:mod:`hubbub.bench.idleclients`).

Many connections: one local address reaches a server's port from at most as many ports as the
ephemeral range has (about 28,000 on Linux), and one process may open at most its open-files
limit. So the clients are spread over several generator processes, each within that limit,
and, beyond one address's ports, over several local addresses (127.0.0.2, 127.0.0.3, ... for
a server on loopback; ``sources`` otherwise). A server whose own open-files limit cannot hold
them all is reported before anything starts (see :func:`check_capacity`).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import random
import resource
import selectors
import string
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal, cast

from hubbub.bench.build import helper

Scenario = Literal["fanout", "pairs", "connections"]
SCENARIOS: tuple[Scenario, ...] = ("fanout", "pairs", "connections")
TRANSPORTS = ("tcp", "tls", "ws", "wss")
"""How the ``connections`` scenario's clients connect (the others use plain TCP)."""

FDS_RESERVED = 64
"""Descriptors a generator process keeps for itself (standard streams, epoll, the loop's)."""
SERVER_FDS_RESERVED = 32
"""Descriptors a server needs beyond its clients, at the least (listeners, logs, its loop)."""


class LoadError(RuntimeError):
    """The load could not be run: a helper failed, or the server refused or stalled."""


@dataclass(frozen=True)
class LoadSpec:
    """What to run against which server."""

    scenario: Scenario
    host: str = "127.0.0.1"
    port: int = 6667
    clients: int = 50
    senders: int = 5
    seconds: float = 10.0
    warmup: float = 1.0
    rate: float = 0.0
    """Messages per second per sender; 0 sends as fast as the window allows."""
    window: int = 32
    """Most messages a sender has in flight (sent, not yet seen by its tracking receiver)."""
    size: int = 64
    """Bytes of PRIVMSG text per message (at least 32)."""
    messages: int = 0
    """Messages per sender; when set, the run ends once all are sent and delivered."""
    procs: int = 1
    pid: int | None = None
    """The server's pid, for its RSS and CPU time; None looks it up by the listening port."""
    connect_window: int = 64
    """Most registrations in progress at once; keep it at most the server's listen backlog."""
    sample_every: int = 1
    """Latency is recorded on every k-th client (and on all tracking receivers)."""
    drain: float = 5.0
    setup_timeout: float = 120.0
    stall: float = 0.0
    """When > 0, a connection that hears nothing for this long while registering is started
    again (for a connect window larger than the server's listen backlog); 0 never retries."""
    transport: str = "tcp"
    """``connections`` only: ``tcp``, ``tls``, ``ws`` or ``wss`` (see :data:`TRANSPORTS`)."""
    sources: tuple[str, ...] = ()
    """Local addresses to connect from, round robin; none: the system's choice, or, for more
    connections than one address can make to a loopback server, 127.0.0.2 and up."""


@dataclass(frozen=True)
class Latency:
    """Delivery latency, from the send timestamp in the message to its receipt, in µs."""

    count: int
    p50_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True)
class LoadResult:
    """The merged outcome of one run."""

    spec: LoadSpec
    delivered: int
    """Messages received, summed over receivers, in the measurement window."""
    delivered_total: int
    """Messages received from "go" until the end of the drain."""
    sent: int
    sent_total: int
    window_s: float
    register_s: float
    latency: Latency | None
    gen_cpu_s: float
    """CPU time of the generator processes during the measurement window."""
    gen_cpu_total_s: float
    """CPU time of this process and its children (getrusage) over the whole run."""
    wall_s: float
    server_pid: int | None
    server_cpu_s: float | None
    machine_busy_s: float | None
    """CPU time all processors were busy during the window (anyone's)."""
    rss_before_kb: int | None
    rss_after_kb: int | None
    disconnects: int
    retries: int
    errors: int
    first_error: str
    min_client_recv: int
    max_client_recv: int
    stored: int | None = None
    """History rows the server committed during the run (hubbub with history on)."""
    procs: int = 1
    """Generator processes the clients were spread over."""
    sources: tuple[str, ...] = ()
    """Local addresses the clients connected from (none: the system's choice)."""

    @property
    def rate(self) -> float:
        """Delivered messages per second in the window."""
        return self.delivered / self.window_s if self.window_s > 0 else 0.0

    @property
    def stored_rate(self) -> float | None:
        """History rows committed per second, from "go" to the end of the run."""
        running = self.wall_s - self.register_s
        if self.stored is None or running <= 0:
            return None
        return self.stored / running

    @property
    def gen_cores(self) -> float:
        """The generator's CPU use during the window, in cores."""
        return self.gen_cpu_s / self.window_s if self.window_s > 0 else 0.0

    @property
    def server_cores(self) -> float | None:
        """The server's CPU use during the window, in cores."""
        if self.server_cpu_s is None or self.window_s <= 0:
            return None
        return self.server_cpu_s / self.window_s

    @property
    def other_cores(self) -> float | None:
        """CPU used during the window by processes other than the generator and the server:
        another load on the machine makes the figures unreliable."""
        if self.machine_busy_s is None or self.window_s <= 0:
            return None
        other = self.machine_busy_s - self.gen_cpu_s - (self.server_cpu_s or 0.0)
        return max(0.0, other / self.window_s)

    @property
    def rss_per_conn_kb(self) -> float | None:
        """Server RSS growth per connection, in KiB."""
        if self.rss_before_kb is None or self.rss_after_kb is None or self.spec.clients <= 0:
            return None
        return (self.rss_after_kb - self.rss_before_kb) / self.spec.clients


def rss_kb(pid: int) -> int | None:
    """VmRSS of process ``pid`` in KiB, or None when it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def find_listener_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port``, from /proc (Linux), or None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def raise_fd_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; return the new soft limit.

    Children (the generator's helpers, and servers started by the comparison) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def fd_limits(pid: int | None = None) -> tuple[int, int] | None:
    """The (soft, hard) open-files limit of process ``pid`` (this one for None), from
    /proc/PID/limits (Linux); None when it cannot be read. Unlimited reads as 2**31."""
    if pid is None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        inf = resource.RLIM_INFINITY
        return (soft if soft != inf else 1 << 31, hard if hard != inf else 1 << 31)
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            cols = line.split()
            try:
                soft, hard = (1 << 31 if c == "unlimited" else int(c) for c in cols[3:5])
            except (ValueError, IndexError):
                return None
            return soft, hard
    return None


def port_range() -> int:
    """Local ports one address can connect from (Linux's net.ipv4.ip_local_port_range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return max(1, int(high) - int(low) + 1)
    except (OSError, ValueError):
        return 28_232  # (Linux's default range, 32768-60999)


SOURCE_SHARE = 0.9
"""The part of one address's ephemeral ports the generator may use at most (others may be
held by earlier runs' closing connections, or by other programs)."""
LOOPBACK_SHARE = 0.25
"""The part it uses when it may choose more addresses (a loopback server): the kernel looks
for a free port at each connect, which slows down as the range fills (19,000 connections
from one address took 4.9 to 6.2 s to register here, from four 2.3 to 3.1 s)."""


def choose_sources(spec: LoadSpec) -> tuple[str, ...]:
    """The local addresses ``spec``'s clients connect from: ``spec.sources`` when given; else,
    for a server on IPv4 loopback and more clients than a quarter of one address's ports,
    127.0.0.2 and up (all of 127/8 is this machine's), a quarter of the ports each; else
    none. Raises LoadError when one address has too few ports and no others can be chosen."""
    if spec.sources:
        return spec.sources
    try:
        server = ipaddress.ip_address(spec.host)
    except ValueError:
        server = None
    if isinstance(server, ipaddress.IPv4Address) and server.is_loopback:
        per_source = max(1, int(port_range() * LOOPBACK_SHARE))
        if spec.clients <= per_source:
            return ()
        return tuple(f"127.0.0.{2 + i}" for i in range(math.ceil(spec.clients / per_source)))
    per_source = int(port_range() * SOURCE_SHARE)
    if spec.clients <= per_source:
        return ()
    needed = math.ceil(spec.clients / per_source)
    raise LoadError(
        f"{spec.clients} connections to one server port need about {needed} local addresses "
        f"(one address connects from at most {port_range()} ports: "
        "net.ipv4.ip_local_port_range); give them with --sources ADDR,ADDR,..."
    )


def procs_needed(spec: LoadSpec) -> int:
    """Generator processes for ``spec``: at least ``spec.procs``, and enough that none holds
    more connections than its open-files limit allows (after :func:`raise_fd_limit`)."""
    limits = fd_limits()
    room = (limits[0] if limits else 1024) - FDS_RESERVED
    if room < 1:
        raise LoadError(f"this process may open only {limits[0] if limits else '?'} files")
    return max(spec.procs, math.ceil(spec.clients / room))


def check_capacity(spec: LoadSpec, pid: int | None) -> None:
    """Fail clearly, before any client connects, when the server cannot hold ``spec``'s
    connections: its open-files limit (read from /proc) is below them. (A server may refuse
    earlier, by its own limit on clients: hubbub's ``[limits] max_clients`` answers
    ``ERROR :Server is full``, which the generator reports.)"""
    if pid is None:
        return
    limits = fd_limits(pid)
    if limits is None:
        return
    soft, hard = limits
    if spec.clients + SERVER_FDS_RESERVED > soft:
        raise LoadError(
            f"{spec.clients} connections cannot fit in the server (pid {pid}): it may open "
            f"{soft} files (its soft limit; hard limit {hard}), so at most about "
            f"{max(0, soft - SERVER_FDS_RESERVED)} clients. Raise its limit before starting "
            "it (ulimit -n; a hubbub server raises its soft limit to the hard one itself), or "
            "ask for fewer --clients."
        )


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass(frozen=True)
class _Part:
    first: int
    clients: int
    senders: int


def plan(spec: LoadSpec) -> list[_Part]:
    """How the clients (and senders) are divided between the generator processes."""
    if spec.transport not in TRANSPORTS:
        raise LoadError(f"unknown transport {spec.transport!r}: one of {', '.join(TRANSPORTS)}")
    if spec.transport != "tcp" and spec.scenario != "connections":
        raise LoadError(f"--transport {spec.transport} is for the connections scenario only")
    procs = max(1, min(spec.procs, spec.clients))
    if spec.scenario == "pairs":
        if spec.clients % 2:
            raise LoadError("pairs needs an even number of clients")
        procs = max(1, min(procs, spec.clients // 2))
        sizes = [2 * n for n in _split(spec.clients // 2, procs)]
        senders = sizes
    elif spec.scenario == "fanout":
        if not 0 <= spec.senders <= spec.clients:
            raise LoadError("fanout needs 0 <= senders <= clients")
        if spec.senders and spec.clients < 2:
            raise LoadError("fanout with senders needs at least 2 clients")
        procs = max(1, min(procs, spec.clients // 2))
        sizes = _split(spec.clients, procs)
        senders = _split(spec.senders, procs)
    else:
        sizes = _split(spec.clients, procs)
        senders = [0] * procs
    parts = []
    first = 0
    for n, s in zip(sizes, senders, strict=True):
        parts.append(_Part(first, n, s))
        first += n
    return parts


def _command(
    exe: Path,
    spec: LoadSpec,
    part: _Part,
    prefix: str,
    pid: int | None,
    sources: tuple[str, ...] = (),
) -> list[str]:
    if spec.transport != "tcp":
        return [
            sys.executable,
            "-m",
            "hubbub.bench.idleclients",
            f"--transport={spec.transport}",
            f"--host={spec.host}",
            f"--port={spec.port}",
            f"--clients={part.clients}",
            f"--first={part.first}",
            f"--prefix={prefix}",
            f"--connect-window={spec.connect_window}",
            f"--seconds={spec.seconds}",
            f"--setup-timeout={spec.setup_timeout}",
            f"--sources={','.join(sources)}",
        ]
    cmd = [
        str(exe),
        f"--mode={spec.scenario}",
        f"--host={spec.host}",
        f"--port={spec.port}",
        f"--clients={part.clients}",
        f"--senders={part.senders}",
        f"--first={part.first}",
        f"--window={spec.window}",
        f"--rate={spec.rate}",
        f"--size={spec.size}",
        f"--seconds={spec.seconds}",
        f"--warmup={0.0 if spec.messages else spec.warmup}",
        f"--messages={spec.messages}",
        f"--drain={spec.drain}",
        f"--setup-timeout={spec.setup_timeout}",
        f"--connect-window={spec.connect_window}",
        f"--sample-every={spec.sample_every}",
        f"--stall={spec.stall}",
        f"--prefix={prefix}",
        f"--channel=#{prefix}bench",
    ]
    if pid is not None:
        cmd.append(f"--pid={pid}")
    if sources:
        cmd.append(f"--sources={','.join(sources)}")
    return cmd


def _percentile(hist: list[tuple[float, int]], total: int, q: float) -> float:
    need = q * total
    seen = 0
    for value, count in hist:
        seen += count
        if seen >= need:
            return value
    return hist[-1][0] if hist else 0.0


def merge_latency(hists: list[list[list[float]]], max_us: float) -> Latency | None:
    """Merge the helpers' histograms (pairs of bucket floor in µs and count)."""
    buckets: dict[float, int] = {}
    for hist in hists:
        for value, count in hist:
            buckets[value] = buckets.get(value, 0) + int(count)
    total = sum(buckets.values())
    if total == 0:
        return None
    ordered = sorted(buckets.items())
    return Latency(
        count=total,
        p50_us=_percentile(ordered, total, 0.50),
        p99_us=_percentile(ordered, total, 0.99),
        max_us=max_us,
    )


class _Proc:
    """One helper process and the lines it has printed."""

    def __init__(self, cmd: list[str]) -> None:
        self.popen = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.popen.stdout is not None
        assert self.popen.stdin is not None
        self.stdout: IO[bytes] = self.popen.stdout
        self.stdin: IO[bytes] = self.popen.stdin
        os.set_blocking(self.stdout.fileno(), False)
        self.pending = b""
        self.ready: dict[str, object] | None = None
        self.result: dict[str, object] | None = None

    def say(self, word: str) -> None:
        try:
            self.stdin.write(word.encode() + b"\n")
            self.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def feed(self) -> None:
        try:
            chunk = self.stdout.read()
        except BlockingIOError:
            return
        if chunk is None:
            return
        if chunk:
            self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            self._line(line.decode(errors="replace"))
        if chunk == b"" and self.popen.poll() is not None and self.result is None:
            err = self.popen.stderr.read().decode(errors="replace") if self.popen.stderr else ""
            raise LoadError(f"load generator exited with {self.popen.returncode}: {err.strip()}")

    def _line(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == "ready":
            self.ready = json.loads(rest)
        elif word == "result":
            self.result = json.loads(rest)
        elif word == "error":
            raise LoadError(rest)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.say("quit")
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        for stream in (self.stdin, self.stdout, self.popen.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def _wait(procs: list[_Proc], done: str, deadline: float) -> None:
    with selectors.DefaultSelector() as sel:
        for p in procs:
            sel.register(p.stdout, selectors.EVENT_READ, p)
        while any(getattr(p, done) is None for p in procs):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sum(1 for p in procs if getattr(p, done) is None)
                raise LoadError(f"{missing} load generator process(es) did not report {done}")
            for key, _ in sel.select(timeout=min(left, 1.0)):
                proc: _Proc = key.data
                proc.feed()
                if getattr(proc, done) is not None:
                    sel.unregister(proc.stdout)


def _cpu_seconds(who: int) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def _num(d: dict[str, object], key: str) -> float:
    value = d.get(key, 0)
    assert isinstance(value, int | float)
    return float(value)


def run_load(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` against its server and return the merged result."""
    exe = helper("hbload")
    raise_fd_limit()
    pid = spec.pid if spec.pid is not None else find_listener_pid(spec.port)
    sources: tuple[str, ...] = ()
    if spec.scenario == "connections":
        check_capacity(spec, pid)
        sources = choose_sources(spec)
        spec_run = replace(spec, procs=procs_needed(spec))
    else:
        spec_run = spec
    parts = plan(spec_run)
    prefix = "".join(random.choices(string.ascii_lowercase, k=3))
    cpu0 = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    rss_before = rss_kb(pid) if pid is not None else None
    # (the connect window is the server's listen backlog: shared by the processes)
    spec_each = replace(spec, connect_window=max(1, math.ceil(spec.connect_window / len(parts))))
    procs = [_Proc(_command(exe, spec_each, part, prefix, pid, sources)) for part in parts]
    try:
        _wait(procs, "ready", t0 + spec.setup_timeout + 10)
        register_s = max(_num(p.ready or {}, "register_s") for p in procs)
        for p in procs:
            p.say("go")
        budget = spec.warmup + spec.seconds + spec.drain + 30
        _wait(procs, "result", time.monotonic() + budget)
        rss_after = rss_kb(pid) if pid is not None else None
    finally:
        for p in procs:
            p.stop()
    wall = time.monotonic() - t0
    cpu1 = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    results = [p.result or {} for p in procs]

    def total(key: str) -> int:
        return int(sum(_num(r, key) for r in results))

    server_cpu = [_num(r, "server_cpu_s") for r in results]
    busy = [_num(r, "machine_busy_s") for r in results]
    hists = [cast(list[list[float]], r.get("hist", [])) for r in results]
    errors = [str(r.get("first_error", "")) for r in results]
    return LoadResult(
        spec=spec,
        delivered=total("delivered_window"),
        delivered_total=total("delivered_total"),
        sent=total("sent_window"),
        sent_total=total("sent_total"),
        window_s=max(_num(r, "window_s") for r in results),
        register_s=register_s,
        latency=merge_latency(
            hists,
            max(_num(r, "lat_max_us") for r in results),
        ),
        gen_cpu_s=sum(_num(r, "gen_cpu_s") for r in results),
        gen_cpu_total_s=cpu1 - cpu0,
        wall_s=wall,
        server_pid=pid,
        server_cpu_s=server_cpu[0] if pid is not None and server_cpu[0] >= 0 else None,
        machine_busy_s=busy[0] if busy[0] >= 0 else None,
        rss_before_kb=rss_before,
        rss_after_kb=rss_after,
        disconnects=total("disconnects"),
        retries=total("retries"),
        errors=total("errors"),
        first_error=next((e for e in errors if e), ""),
        min_client_recv=int(min(_num(r, "min_client_recv") for r in results)),
        max_client_recv=int(max(_num(r, "max_client_recv") for r in results)),
        procs=len(parts),
        sources=sources,
    )


def describe(result: LoadResult) -> str:
    """A human summary of ``result``, a few lines."""
    spec = result.spec
    lines = []
    if spec.scenario == "connections":
        spread = f"{result.procs} generator process{'es' if result.procs > 1 else ''}"
        if result.sources:
            spread += f", from {len(result.sources)} local addresses"
        lines.append(
            f"{spec.clients} {spec.transport} connections registered in "
            f"{result.register_s:.2f} s ({spread})"
        )
        if result.rss_per_conn_kb is not None:
            lines.append(
                f"server RSS {result.rss_before_kb} KiB -> {result.rss_after_kb} KiB: "
                f"{result.rss_per_conn_kb:.2f} KiB per connection"
            )
    else:
        what = "fan-out" if spec.scenario == "fanout" else "pairs"
        mode = f"{spec.rate:g} msg/s per sender" if spec.rate else f"window {spec.window}"
        lines.append(
            f"{what}: {spec.clients} clients, {spec.senders if what == 'fan-out' else spec.clients}"
            f" senders, {mode}, {spec.size}-byte messages, {result.window_s:.1f} s"
        )
        lines.append(
            f"delivered {result.delivered} messages: {result.rate / 1e6:.3f} M msgs/s "
            f"(sent {result.sent})"
        )
        if result.latency is not None:
            lat = result.latency
            lines.append(
                f"latency p50 {lat.p50_us / 1000:.2f} ms, p99 {lat.p99_us / 1000:.2f} ms, "
                f"max {lat.max_us / 1000:.2f} ms ({lat.count} samples)"
            )
    ncpu = os.cpu_count() or 1
    lines.append(
        f"generator CPU {result.gen_cores:.2f} cores in the window "
        f"({100 * result.gen_cores / ncpu:.0f}% of {ncpu}); "
        f"{result.gen_cpu_total_s:.2f} s over the whole run of {result.wall_s:.1f} s"
    )
    if result.server_cores is not None:
        lines.append(f"server CPU {result.server_cores:.2f} cores (pid {result.server_pid})")
    if result.other_cores is not None and result.other_cores > 0.1:
        lines.append(
            f"warning: other processes used {result.other_cores:.2f} cores during the window"
        )
    if result.disconnects or result.errors or result.retries:
        lines.append(
            f"disconnects {result.disconnects}, errors {result.errors}, "
            f"retried connections {result.retries}: {result.first_error}"
        )
    return "\n".join(lines)
