"""The cluster benchmark: fan-out and pairs on 1, 2 and 3 ``hubbub serve`` nodes sharing
one redis-server, all on this machine. It reports messages delivered per second, the
latency from send to delivery (p50/p99, for all deliveries and for those that crossed
nodes) and the Redis CPU time per delivered message.

    python -m hubbub.bench.cluster --nodes 1,2,3 [--scenario fanout|pairs|both]

Clients are Python asyncio clients (this measures the cluster's overhead at modest rates,
not the server's top speed: ``hubbub bench`` and its C load generator do that). Needs
``redis-server`` on the PATH (Debian package ``redis-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Result:
    """One run: a scenario on a number of nodes."""

    scenario: str
    nodes: int
    clients: int
    sent: int
    delivered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cross_p50_ms: float | None
    cross_p99_ms: float | None
    redis_cpu_us_per_delivery: float
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@contextlib.asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[tuple[int, int]]:
    """A redis-server on a free loopback port (append-only file on); yields (port, pid)."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--appendonly", "yes", "--save", "", "--logfile", str(directory / "redis.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(500):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.01)
        yield port, proc.pid
    finally:
        proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def node(directory: Path, redis_port: int, name: str) -> AsyncIterator[int]:
    """One ``hubbub serve`` node of the cluster; yields its IRC port."""
    config = write_config(directory, redis_port, name)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "serve", "--config", str(config),
        "--listen", "127.0.0.1:0", "--db", str(directory / "hubbub.db"),
        "--log-level", "INFO", cwd=directory,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    port = None
    while port is None:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode(errors="replace")
        if not line:
            raise RuntimeError("hubbub serve exited")
        found = re.search(r"listening on irc://127\.0\.0\.1:(\d+)", line)
        port = int(found.group(1)) if found else None
    drain = asyncio.create_task(_drain(proc.stderr))
    try:
        yield port
    finally:
        proc.terminate()
        await proc.wait()
        drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def write_config(directory: Path, redis_port: int, name: str) -> Path:
    """A node's config file, in its own directory."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "hubbub.toml"
    config.write_text(
        f'[server]\nname = "irc.bench.test"\n[limits]\nflood = false\n'
        f'exempt = ["127.0.0.1"]\n[cluster]\nredis = "redis://127.0.0.1:{redis_port}/0"\n'
        f'node_id = "{name}"\n'
    )
    return config


class Tally:
    """Deliveries counted across every bot; :attr:`done` is set once ``expected`` came."""

    def __init__(self) -> None:
        self.count = 0
        self.expected = -1
        self.done = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


class Bot:
    """One benchmark client: registers, joins, sends, and timestamps what it receives."""

    def __init__(self, nick: str, node: int, tally: Tally) -> None:
        self.nick = nick
        self.node = node
        self.tally = tally
        self.got: list[tuple[float, int]] = []
        """(latency in seconds, node of the sender) of each message received."""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._joined: dict[str, asyncio.Event] = {}
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        """ISON and NAMES answers."""

    async def sees(self, nicks: list[str], channel: str | None = None) -> None:
        """Wait until this bot's node knows every one of ``nicks`` (in ``channel`` when
        given): a registration or a JOIN on another node takes a trip through Redis."""
        assert self.writer is not None
        want = set(nicks)
        while True:
            ask = f"NAMES {channel}" if channel else f"ISON {' '.join(nicks)}"
            self.writer.write(f"{ask}\r\n".encode())
            answer = await asyncio.wait_for(self.answers.get(), 30)
            shown = {n.lstrip("@+") for n in answer.rsplit(" :", 1)[-1].split()}
            if want <= shown:
                return
            await asyncio.sleep(0.05)

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(f"NICK {self.nick}\r\nUSER b 0 * :bench\r\n".encode())
        while b" 001 " not in await self.reader.readline():
            pass
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        while line := await self.reader.readline():
            if b" PRIVMSG " in line:
                now = time.monotonic()
                text = line.rsplit(b" :", 1)[1].split()
                self.got.append((now - float(text[0]), int(text[1])))
                self.tally.add()
            elif b" 366 " in line:
                self._joined[line.split()[3].decode()].set()
            elif b" 303 " in line or b" 353 " in line:
                self.answers.put_nowait(line.decode(errors="replace"))

    async def join(self, channel: str) -> None:
        assert self.writer is not None
        self._joined[channel] = asyncio.Event()
        self.writer.write(f"JOIN {channel}\r\n".encode())
        await self._joined[channel].wait()

    def say(self, target: str) -> None:
        assert self.writer is not None
        self.writer.write(f"PRIVMSG {target} :{time.monotonic():.6f} {self.node}\r\n".encode())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run(
    scenario: str, nodes: int, clients: int, senders: int, messages: int, rate: float
) -> Result:
    """One scenario on ``nodes`` nodes: fanout (``clients`` in one channel, ``senders`` of
    them sending) or pairs (``clients / 2`` private conversations across nodes)."""
    with tempfile.TemporaryDirectory(prefix="hubbub-cluster-bench-") as tmp:
        base = Path(tmp)
        os.mkdir(base / "redis")
        tally = Tally()
        async with (
            redis_server(base / "redis") as (redis_port, redis_pid),
            contextlib.AsyncExitStack() as stack,
        ):
            ports = [
                await stack.enter_async_context(node(base / f"n{i}", redis_port, f"n{i}"))
                for i in range(nodes)
            ]
            bots = [Bot(f"b{i}", i % nodes, tally) for i in range(clients)]
            for bot in bots:
                await bot.connect(ports[bot.node])
            if scenario == "fanout":
                for bot in bots:
                    await bot.join("#bench")
                for bot in bots[:nodes]:  # (one on each node)
                    await bot.sees([b.nick for b in bots], "#bench")
                talkers = [(bot, "#bench") for bot in bots[:senders]]
                expected = senders * messages * (clients - 1)
            else:
                # pair i: bots 2i and 2i+1, on different nodes when there are several
                talkers = []
                for i in range(0, clients - 1, 2):
                    a, b = bots[i], bots[i + 1]
                    talkers += [(a, b.nick), (b, a.nick)]
                expected = len(talkers) * messages
                for bot in bots[:nodes]:
                    await bot.sees([b.nick for b in bots])
            tally.expected = tally.count + expected
            cpu_before = cpu_seconds(redis_pid)
            start = time.monotonic()
            for _ in range(messages):
                for bot, target in talkers:
                    bot.say(target)
                await asyncio.sleep(1 / rate)
            with contextlib.suppress(TimeoutError):  # (what is missing is reported)
                await asyncio.wait_for(tally.done.wait(), 30)
            seconds = time.monotonic() - start
            redis_cpu = cpu_seconds(redis_pid) - cpu_before
            for bot in bots:
                bot.close()
    every = [lat for bot in bots for lat, _ in bot.got]
    cross = [lat for bot in bots for lat, sender in bot.got if sender != bot.node]
    delivered = len(every)
    return Result(
        scenario=scenario,
        nodes=nodes,
        clients=clients,
        sent=len(talkers) * messages,
        delivered=delivered,
        seconds=seconds,
        p50_ms=percentile(every, 0.5) * 1000,
        p99_ms=percentile(every, 0.99) * 1000,
        cross_p50_ms=percentile(cross, 0.5) * 1000 if cross else None,
        cross_p99_ms=percentile(cross, 0.99) * 1000 if cross else None,
        redis_cpu_us_per_delivery=redis_cpu / delivered * 1e6 if delivered else 0.0,
    )


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    rows = [
        "| scenario | nodes | clients | delivered | msg/s | p50 ms | p99 ms "
        "| cross-node p50 ms | cross-node p99 ms | Redis CPU µs / delivery |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for r in results:
        rows.append(
            f"| {r.scenario} | {r.nodes} | {r.clients} | {r.delivered} | {r.rate:.0f} "
            f"| {ms(r.p50_ms)} | {ms(r.p99_ms)} | {ms(r.cross_p50_ms)} | {ms(r.cross_p99_ms)} "
            f"| {r.redis_cpu_us_per_delivery:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--nodes", default="1,2,3", help="node counts to run, comma-separated")
    p.add_argument("--scenario", choices=("fanout", "pairs", "both"), default="both")
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--senders", type=int, default=3, help="fanout: clients that send")
    p.add_argument("--messages", type=int, default=200, help="messages per sender")
    p.add_argument("--rate", type=float, default=200.0, help="sending rounds per second")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    scenarios = ("fanout", "pairs") if args.scenario == "both" else (args.scenario,)
    results = [
        asyncio.run(run(s, int(n), args.clients, args.senders, args.messages, args.rate))
        for s in scenarios
        for n in args.nodes.split(",")
    ]
    if args.json:
        print(json.dumps([{**asdict(r), "latencies": None} for r in results], indent=1))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
