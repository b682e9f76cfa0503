"""``python -m hubbub.bench.compare`` (``make bench``): hubbub against ngircd and InspIRCd.

Starts each server fresh on a free loopback port for every run of every scenario, runs the same
load against each, and writes ``docs/benchmarks.md`` (raw figures, medians, ratios hubbub/peer,
the machine, the generator's ceiling) with a plot ``docs/benchmarks.png``. A server that is not
available here (hubbub before ``hubbub serve`` exists, a peer that is not installed) is reported
as not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hubbub.bench.build import BuildError, helper
from hubbub.bench.loadgen import LoadError, LoadSpec, raise_fd_limit, run_load
from hubbub.bench.report import Outcome, Record, machine_info
from hubbub.bench.servers import (
    SERVERS,
    HubbubBaseline,
    HubbubBaselineHistory,
    ServerUnavailable,
)


@dataclass(frozen=True)
class Scenario:
    """One row of the comparison: a load and the figure it is judged by."""

    key: str
    title: str
    spec: LoadSpec
    metric: str
    """"rate" (higher is better), "p99" or "rss" (lower is better)."""


def scenarios(quick: bool, seconds: float | None, idle_clients: int | None) -> list[Scenario]:
    """The issue's scenarios; ``quick`` shortens them for a smoke run."""
    secs = seconds if seconds is not None else (3.0 if quick else 10.0)
    warm = 0.5 if quick else 1.0
    idle = idle_clients if idle_clients is not None else (2000 if quick else 10_000)
    base = LoadSpec(scenario="fanout", seconds=secs, warmup=warm, setup_timeout=180.0)
    return [
        Scenario(
            "fanout-50",
            "fan-out, 50 clients, 5 senders",
            replace(base, clients=50, senders=5),
            "rate",
        ),
        Scenario(
            "fanout-200",
            "fan-out, 200 clients, 5 senders",
            replace(base, clients=200, senders=5),
            "rate",
        ),
        Scenario(
            "pairs-100",
            "pairs, 100 clients",
            replace(base, scenario="pairs", clients=100),
            "rate",
        ),
        Scenario(
            "latency-200",
            "p99 latency, 5 x 100 msg/s into 200 clients",
            replace(base, clients=200, senders=5, rate=100.0),
            "p99",
        ),
        Scenario(
            "idle",
            f"idle registered connections ({idle:,})",
            replace(base, scenario="connections", clients=idle, seconds=2.0 if not quick else 1.0),
            "rss",
        ),
    ]


def transport_scenarios(quick: bool, idle_clients: int | None) -> list[Scenario]:
    """Idle connections over TLS, WebSocket and WebSocket over TLS: run only when asked for
    (``--scenarios idle-tls,idle-ws,idle-wss``); servers not set up for them are not run."""
    idle = idle_clients if idle_clients is not None else (2000 if quick else 10_000)
    base = LoadSpec(
        scenario="connections",
        clients=idle,
        seconds=1.0 if quick else 2.0,
        warmup=0.5 if quick else 1.0,
        setup_timeout=300.0,
    )
    names = {"tls": "TLS", "ws": "WebSocket", "wss": "WebSocket over TLS"}
    return [
        Scenario(
            f"idle-{transport}",
            f"idle registered {names[transport]} connections ({idle:,})",
            replace(base, transport=transport),
            "rss",
        )
        for transport in ("tls", "ws", "wss")
    ]


def busy_cores(interval: float = 1.0) -> float | None:
    """Cores the whole machine kept busy (user, nice, system) over ``interval`` seconds."""

    def sample() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        return sum(int(x) for x in fields[1:4]) / os.sysconf("SC_CLK_TCK")

    before = sample()
    time.sleep(interval)
    after = sample()
    if before is None or after is None:
        return None
    return (after - before) / interval


def wait_quiet(limit: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes use less than ``limit`` cores;
    return the seconds waited. The machine may be shared, and a busy one skews the figures."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait:
        busy = busy_cores()
        if busy is None or busy < limit:
            break
    return time.monotonic() - start


def run_one(server_key: str, scenario: Scenario, workroot: Path, run: int) -> Outcome:
    """Start a fresh server, run the scenario's load against it, stop the server."""
    server = SERVERS[server_key]
    workdir = workroot / f"{server_key}-{scenario.key}-{run}"
    try:
        running = server.start(workdir, transport=scenario.spec.transport)
    except ServerUnavailable as exc:
        return Outcome(server_key, scenario.key, run, None, f"not run: {exc}")
    try:
        window = min(running.backlog, scenario.spec.clients, 4096)
        spec = replace(
            scenario.spec,
            host=running.host,
            port=running.port,
            pid=running.pid,
            connect_window=max(1, window),
        )
        stored_before = _stored(server, workdir)
        try:
            result = run_load(spec)
        except LoadError as exc:
            tail = running.log_tail(5)
            return Outcome(server_key, scenario.key, run, None, f"failed: {exc}\n{tail}".strip())
        stored_after = _stored(server, workdir)
        if stored_before is not None and stored_after is not None:
            result = replace(result, stored=stored_after - stored_before)
        return Outcome(server_key, scenario.key, run, result, "")
    finally:
        running.stop()


def _stored(server: object, workdir: Path) -> int | None:
    """History rows in a hubbub's database (None for the others)."""
    count = getattr(server, "stored_rows", None)
    return count(workdir) if count is not None else None


def _progress(outcome: Outcome, title: str) -> str:
    r = outcome.result
    if r is None:
        return f"  {outcome.server:9} {title}: {outcome.note.splitlines()[0]}"
    if r.spec.scenario == "connections":
        per = r.rss_per_conn_kb
        rss = f"{per:.2f} KiB/conn" if per is not None else "RSS n/a"
        figure = f"{r.register_s:.2f} s to register, {rss}"
    else:
        lat = r.latency
        p99 = f"p99 {lat.p99_us / 1000:.2f} ms" if lat else "no latency"
        figure = f"{r.rate / 1e6:.3f} M/s, {p99}"
        if r.stored_rate is not None:
            figure += f", {r.stored_rate / 1e3:.1f} k history lines stored/s"
    other = r.other_cores or 0.0
    busy = f", other load {other:.2f} cores" if other > 0.1 else ""
    return (
        f"  {outcome.server:9} {title}: {figure} "
        f"(generator {r.gen_cores:.2f} cores, server {r.server_cores or 0:.2f}{busy})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and write the report; 0 on success."""
    p = argparse.ArgumentParser(prog="python -m hubbub.bench.compare", description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 s runs, 1 run each, 2,000 idle")
    p.add_argument("--runs", type=int, default=None, help="runs per scenario (default 3)")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per run")
    p.add_argument("--idle-clients", type=int, default=None, help="connections for idle RSS")
    p.add_argument(
        "--servers",
        default="hubbub,hubbub-history,hubbub-metrics,ngircd,inspircd,relay",
        help="comma-separated: hubbub, hubbub-metrics (with [metrics] on), "
        "hubbub-history (with [history] on, the default config; hubbub runs without), "
        "ngircd, inspircd, "
        "relay (the bare C relay)",
    )
    p.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario keys: fanout-50, fanout-200, pairs-100, latency-200, "
        "idle, and (only when named) idle-tls, idle-ws, idle-wss",
    )
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    p.add_argument("--no-write", action="store_true", help="print only; write no files")
    p.add_argument("--json", type=Path, default=None, help="also save the raw results here")
    p.add_argument(
        "--render",
        type=Path,
        default=None,
        help="measure nothing: write the report from results saved with --json",
    )
    p.add_argument(
        "--quiet-cores",
        type=float,
        default=0.3,
        help="before each run, wait until other processes use fewer cores than this",
    )
    p.add_argument("--max-wait", type=float, default=60.0, help="longest such wait, seconds")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="also run hubbub from this checkout of another commit (git worktree add DIR "
        "COMMIT), as the server hubbub-base (and hubbub-base-history, when asked for): a "
        "change measured beside the commit before it",
    )
    p.add_argument(
        "--no-cluster",
        action="store_true",
        help="leave out the cluster benchmark (1, 2 and 3 nodes over redis-server; left out "
        "too when --scenarios chooses some)",
    )
    args = p.parse_args(argv)
    if args.baseline is not None:
        SERVERS["hubbub-base"] = HubbubBaseline(args.baseline.resolve())
        SERVERS["hubbub-base-history"] = HubbubBaselineHistory(args.baseline.resolve())

    if args.render is not None:
        md = Record.load(args.render).write(args.out)
        print(f"wrote {md} and {md.with_suffix('.png')}")
        return 0
    keys = [k.strip() for k in args.servers.split(",") if k.strip()]
    if args.baseline is not None and not {"hubbub-base", "hubbub-base-history"} & set(keys):
        keys.insert(keys.index("hubbub") + 1 if "hubbub" in keys else 0, "hubbub-base")
    unknown = [k for k in keys if k not in SERVERS]
    if unknown:
        p.error(f"unknown servers: {', '.join(unknown)}")
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    chosen = scenarios(args.quick, args.seconds, args.idle_clients)
    if args.scenarios:
        wanted = {k.strip() for k in args.scenarios.split(",")}
        chosen += transport_scenarios(args.quick, args.idle_clients)
        chosen = [s for s in chosen if s.key in wanted]
        unknown_scenarios = wanted - {s.key for s in chosen}
        if unknown_scenarios:
            p.error(f"unknown scenarios: {', '.join(sorted(unknown_scenarios))}")
    try:
        helper("hbload")
        helper("bare_relay")
    except BuildError as exc:
        print(f"hubbub bench: {exc}", file=sys.stderr)
        return 1
    limit = raise_fd_limit()
    command = " ".join(["python -m hubbub.bench.compare", *(argv or sys.argv[1:])])
    machine = machine_info([SERVERS[k] for k in keys])
    print(f"hubbub bench compare: {machine['cpu']}, {machine['cores']} cores; open files {limit}")
    started = time.time()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as tmp:
        for run in range(1, runs + 1):
            for scenario in chosen:
                for key in keys:
                    waited = wait_quiet(args.quiet_cores, args.max_wait)
                    if waited >= 2:
                        print(f"  (waited {waited:.0f} s for the machine to be quiet)")
                    outcome = run_one(key, scenario, Path(tmp), run)
                    outcomes.append(outcome)
                    print(_progress(outcome, f"{scenario.key} run {run}"), flush=True)
    # (a run of chosen scenarios is a targeted measurement: the cluster benchmark is for
    # the full report)
    cluster = "" if args.no_cluster or args.scenarios else run_cluster(args.quick)
    record = Record(
        outcomes=outcomes,
        scenarios=[(s.key, s.title, s.metric) for s in chosen],
        keys=keys,
        machine=machine,
        command=command,
        runs=runs,
        elapsed_s=time.time() - started,
        cluster=cluster,
    )
    if args.json is not None:
        record.save(args.json)
        print(f"saved {args.json}")
    if args.no_write:
        return 0
    md = record.write(args.out)
    print(f"wrote {md} and {md.with_suffix('.png')}")
    return 0


def run_cluster(quick: bool) -> str:
    """The cluster benchmark (fan-out and pairs on 1, 2 and 3 nodes) as a Markdown table,
    or "" where there is no redis-server (it says so)."""
    from hubbub.bench import cluster

    if shutil.which("redis-server") is None:
        print("hubbub bench: no redis-server here: the cluster benchmark is not run")
        return ""
    messages = 50 if quick else 200
    results = []
    for scenario in ("fanout", "pairs"):
        for nodes in (1, 2, 3):
            result = asyncio.run(cluster.run(scenario, nodes, 30, 3, messages, 200.0))
            print(f"  cluster {scenario} on {nodes} node(s): {result.rate:.0f} msg/s", flush=True)
            results.append(result)
    return cluster.table(results)


if __name__ == "__main__":
    sys.exit(main())
