"""Writing ``docs/benchmarks.md`` and its plot from the comparison's outcomes."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hubbub.bench.loadgen import Latency, LoadResult, LoadSpec
from hubbub.bench.servers import Server

NOT_RUN = "not run"


@dataclass(frozen=True)
class Outcome:
    """One run of one scenario against one server: its result, or why there is none."""

    server: str
    scenario: str
    run: int
    result: LoadResult | None
    note: str

    def as_json(self) -> dict[str, object]:
        """The outcome as plain data, with the derived figures."""
        data: dict[str, object] = {
            "server": self.server,
            "scenario": self.scenario,
            "run": self.run,
            "note": self.note,
        }
        r = self.result
        if r is not None:
            data["result"] = asdict(r)
            data["rate"] = r.rate
            data["gen_cores"] = r.gen_cores
            data["server_cores"] = r.server_cores
            data["other_cores"] = r.other_cores
            data["rss_per_conn_kb"] = r.rss_per_conn_kb
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """The outcome that :meth:`as_json` turned into ``data``."""
        raw = data.get("result")
        result = None
        if raw is not None:
            fields = dict(raw)
            spec = dict(fields["spec"])
            spec["sources"] = tuple(spec.get("sources", ()))
            fields["spec"] = LoadSpec(**spec)
            fields["sources"] = tuple(fields.get("sources", ()))
            lat = fields.get("latency")
            fields["latency"] = Latency(**lat) if lat is not None else None
            result = LoadResult(**fields)
        return cls(data["server"], data["scenario"], int(data["run"]), result, data["note"])


@dataclass(frozen=True)
class Record:
    """Everything a report is written from; saved as JSON so it can be written again."""

    outcomes: list[Outcome]
    scenarios: list[tuple[str, str, str]]
    keys: list[str]
    machine: dict[str, str]
    command: str
    runs: int
    elapsed_s: float
    cluster: str = ""
    """The cluster benchmark's Markdown table (:mod:`hubbub.bench.cluster`), or ""."""

    def save(self, path: Path) -> None:
        """Write the record to ``path`` as JSON."""
        data = {
            "outcomes": [o.as_json() for o in self.outcomes],
            "scenarios": self.scenarios,
            "keys": self.keys,
            "machine": self.machine,
            "command": self.command,
            "runs": self.runs,
            "elapsed_s": self.elapsed_s,
            "cluster": self.cluster,
        }
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Record:
        """Read a record that :meth:`save` wrote."""
        data = json.loads(path.read_text())
        return cls(
            outcomes=[Outcome.from_json(o) for o in data["outcomes"]],
            scenarios=[(k, t, m) for k, t, m in data["scenarios"]],
            keys=list(data["keys"]),
            machine=dict(data["machine"]),
            command=str(data["command"]),
            runs=int(data["runs"]),
            elapsed_s=float(data["elapsed_s"]),
            cluster=str(data.get("cluster", "")),
        )

    def write(self, out: Path) -> Path:
        """Write the markdown report and plot for this record; return the report's path."""
        return write_report(
            out,
            self.outcomes,
            self.scenarios,
            self.keys,
            self.machine,
            command=self.command,
            runs=self.runs,
            elapsed_s=self.elapsed_s,
            cluster=self.cluster,
        )


def machine_info(servers: Sequence[Server]) -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        uv = f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        uv = "no uvloop"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"Python {platform.python_version()} ({uv})",
        "servers": ", ".join(s.version() for s in servers),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load,
    }


Figure = Callable[[LoadResult], float | None]


def _rate(r: LoadResult) -> float | None:
    return r.rate


def _stored(r: LoadResult) -> float | None:
    return r.stored_rate


def _p99(r: LoadResult) -> float | None:
    return r.latency.p99_us / 1000 if r.latency else None


def _p50(r: LoadResult) -> float | None:
    return r.latency.p50_us / 1000 if r.latency else None


def _rss(r: LoadResult) -> float | None:
    return r.rss_per_conn_kb


def _register(r: LoadResult) -> float | None:
    return r.register_s


def median_of(outcomes: Sequence[Outcome], server: str, scenario: str, fig: Figure) -> float | None:
    """The median of ``fig`` over the runs of ``scenario`` on ``server`` that produced it."""
    values = [
        v
        for o in outcomes
        if o.server == server and o.scenario == scenario and o.result is not None
        for v in [fig(o.result)]
        if v is not None
    ]
    return statistics.median(values) if values else None


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return NOT_RUN
    if unit == "M/s":
        return f"{value / 1e6:.2f} M/s"
    if unit == "k/s":
        return f"{value / 1e3:.1f} k/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "KiB":
        return f"{value:.2f} KiB"
    return f"{value:.2f} s"


def _label(key: str, servers: dict[str, str]) -> str:
    return servers.get(key, key)


@dataclass(frozen=True)
class _Row:
    title: str
    scenario: str
    fig: Figure
    unit: str
    higher_is_better: bool


def _rows(scenarios: Sequence[tuple[str, str, str]]) -> list[_Row]:
    rows: list[_Row] = []
    for key, title, metric in scenarios:
        if metric == "rate":
            rows.append(_Row(f"{title}: deliveries/s", key, _rate, "M/s", True))
            rows.append(_Row(f"{title}: history lines stored/s", key, _stored, "k/s", True))
        elif metric == "p99":
            rows.append(_Row(f"{title}: p99", key, _p99, "ms", False))
        elif metric == "rss":
            rows.append(_Row(f"{title}: RSS per connection", key, _rss, "KiB", False))
            rows.append(_Row(f"{title}: time to register all", key, _register, "s", False))
    return rows


def _summary(
    outcomes: Sequence[Outcome], rows: list[_Row], keys: Sequence[str], labels: dict[str, str]
) -> list[str]:
    peers = [
        k
        for k in keys
        if k in ("hubbub-base", "hubbub-metrics", "hubbub-history", "ngircd", "inspircd")
    ]
    head = ["scenario", *(_label(k, labels) for k in keys)]
    head += [f"hubbub / {_label(p, labels)}" for p in peers] if "hubbub" in keys else []
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        values = {k: median_of(outcomes, k, row.scenario, row.fig) for k in keys}
        cells = [row.title, *(_fmt(values[k], row.unit) for k in keys)]
        if "hubbub" in keys:
            for peer in peers:
                mine, theirs = values["hubbub"], values[peer]
                cells.append(f"{mine / theirs:.2f}" if mine is not None and theirs else "–")
        out.append("| " + " | ".join(cells) + " |")
    return out


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _raw(outcomes: Sequence[Outcome], labels: dict[str, str]) -> list[str]:
    head = (
        "| server | scenario | run | deliveries/s | p50 ms | p99 ms | max ms | register s "
        "| RSS KiB before → after | KiB/conn | generator cores | server cores | other cores "
        "| notes |"
    )
    out = [head, "|" + "---|" * 14]
    for o in outcomes:
        r = o.result
        name = _label(o.server, labels)
        if r is None:
            note = o.note.splitlines()[0] if o.note else NOT_RUN
            out.append(
                f"| {name} | {o.scenario} | {o.run} |" + " |" * 10 + f" {note.replace('|', '/')} |"
            )
            continue
        lat = r.latency
        rate = "" if r.spec.scenario == "connections" else f"{r.rate / 1e6:.3f} M"
        rss = f"{r.rss_before_kb} → {r.rss_after_kb}" if r.rss_after_kb is not None else ""
        per = ""
        if r.spec.scenario == "connections" and r.rss_per_conn_kb is not None:
            per = f"{r.rss_per_conn_kb:.2f}"
        notes = []
        if r.disconnects:
            notes.append(f"{r.disconnects} disconnected")
        if r.retries:
            notes.append(f"{r.retries} connections retried")
        if r.errors and r.first_error:
            notes.append(r.first_error.replace("|", "/")[:80])
        if (r.other_cores or 0) > 0.1:
            notes.append("machine busy")
        if r.gen_cores > 0.85 and (r.server_cores or 0.0) < 0.9:
            notes.append("generator-bound?")
        out.append(
            "| "
            + " | ".join(
                [
                    name,
                    o.scenario,
                    str(o.run),
                    rate,
                    _ms(lat.p50_us) if lat else "",
                    _ms(lat.p99_us) if lat else "",
                    _ms(lat.max_us) if lat else "",
                    f"{r.register_s:.2f}",
                    rss,
                    per,
                    f"{r.gen_cores:.2f}",
                    f"{r.server_cores:.2f}" if r.server_cores is not None else "",
                    f"{r.other_cores:.2f}" if r.other_cores is not None else "",
                    "; ".join(notes),
                ]
            )
            + " |"
        )
    return out


def _ceiling(outcomes: Sequence[Outcome], labels: dict[str, str]) -> list[str]:
    lines = [
        "The generator (`hbload.c`, built at bench time) is a single-threaded epoll program; "
        "its receive path is one `recv()` of up to 256 KiB per readable socket, a `memchr` per "
        "line and a 4-byte compare at a fixed offset from the line's end (the payload has a "
        "fixed length), with `TCP_QUICKACK` after every read. Latency is recorded on every "
        "receiving client, from the send timestamp in the payload (one clock read per "
        "`recv()`). One process is used here; `hubbub bench --procs N` spreads the clients "
        "over N.",
        "",
    ]
    relay = [
        o.result
        for o in outcomes
        if o.server == "relay" and o.result is not None and o.result.spec.scenario != "connections"
    ]
    if not relay:
        lines.append("The bare relay was not run, so the ceiling was not measured in this run.")
        return lines
    lines += [
        "Against the bare C relay (`bare_relay.c`, the least work a server can do for these "
        "scenarios), the generator's figures and its CPU use (medians of the runs):",
        "",
        "| scenario | deliveries/s | generator cores | relay cores "
        "| deliveries/s per generator core | p50 / p99 latency |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[LoadResult]] = {}
    for r in relay:
        groups.setdefault(_describe_spec(r), []).append(r)
    per_core_fan: list[float] = []
    per_core_pairs: list[float] = []
    for what, rs in groups.items():
        rate = statistics.median(r.rate for r in rs)
        gen = statistics.median(r.gen_cores for r in rs)
        srv = statistics.median(r.server_cores or 0.0 for r in rs)
        p50 = statistics.median(r.latency.p50_us if r.latency else 0.0 for r in rs)
        p99 = statistics.median(r.latency.p99_us if r.latency else 0.0 for r in rs)
        per_core = rate / gen if gen > 0 else 0.0
        if not rs[0].spec.rate:
            (per_core_fan if rs[0].spec.scenario == "fanout" else per_core_pairs).append(per_core)
        per = "–" if rs[0].spec.rate else f"{per_core / 1e6:.1f} M"
        lines.append(
            f"| {what} | {rate / 1e6:.2f} M | {gen:.2f} | {srv:.2f} | {per} "
            f"| {p50 / 1000:.2f} / {p99 / 1000:.2f} ms |"
        )
    summary = []
    if per_core_fan:
        summary.append(f"about {min(per_core_fan) / 1e6:.0f} M fan-out deliveries/s")
    if per_core_pairs:
        summary.append(f"about {min(per_core_pairs) / 1e6:.1f} M pair messages/s")
    lines += [
        "",
        f"So one core of generator measures {' and '.join(summary)} when messages arrive "
        "in batches, as the relay writes them (a pair message costs a send as well as a "
        "receive). A server that writes each message in its own segment costs the generator a "
        "`recv()` and a `setsockopt()` per message, several times more per delivery: compare "
        "the generator's cores in the raw figures. The relay is a throughput baseline: it "
        "is not tuned for latency (it writes every buffer once per loop iteration).",
    ]
    bound = sorted(
        {
            f"{_label(o.server, labels)} ({o.scenario})"
            for o in outcomes
            if o.server != "relay"
            and o.result is not None
            and o.result.gen_cores > 0.85
            and (o.result.server_cores or 0.0) < 0.9
        }
    )
    if bound:
        lines += [
            "",
            f"In runs against {', '.join(bound)} the generator used more than 0.85 cores while "
            "the server used less than 0.9: those figures may be limited by the generator.",
        ]
    return lines


def _describe_spec(r: LoadResult) -> str:
    s = r.spec
    if s.scenario == "pairs":
        return f"pairs, {s.clients} clients"
    rate = f" x {s.rate:g} msg/s" if s.rate else ""
    return f"fan-out, {s.clients} clients, {s.senders} senders{rate}"


def _plot(
    path: Path,
    outcomes: Sequence[Outcome],
    scenarios: Sequence[tuple[str, str, str]],
    keys: Sequence[str],
    labels: dict[str, str],
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return False
    rate_rows = [(k, t) for k, t, m in scenarios if m == "rate"]
    lat_rows = [(k, t) for k, t, m in scenarios if m in ("rate", "p99")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        xs = [j + i * width for j in range(len(rate_rows))]
        ys = [(median_of(outcomes, key, k, _rate) or 0.0) / 1e6 for k, _ in rate_rows]
        ax1.bar(xs, ys, width, label=_label(key, labels))
        xs2 = [j + i * width for j in range(len(lat_rows))]
        ys2 = [median_of(outcomes, key, k, _p99) or 0.0 for k, _ in lat_rows]
        ax2.bar(xs2, ys2, width, label=_label(key, labels))
    centre = width * (len(keys) - 1) / 2
    ax1.set_xticks([j + centre for j in range(len(rate_rows))])
    ax1.set_xticklabels([t.replace(", ", "\n", 1) for _, t in rate_rows], fontsize=8)
    ax1.set_ylabel("delivered messages/s (millions)")
    ax1.set_title("Throughput (higher is better)")
    ax1.legend(fontsize=8)
    ax2.set_xticks([j + centre for j in range(len(lat_rows))])
    ax2.set_xticklabels([t.replace(", ", "\n", 1) for _, t in lat_rows], fontsize=8)
    ax2.set_ylabel("p99 delivery latency (ms, log scale)")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax2.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    ax2.tick_params(axis="y", which="minor", labelsize=7)
    ax2.set_title("p99 latency (lower is better)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


CONFIGS = """\
Each server is started fresh for every run, in the foreground, on a free port on 127.0.0.1,
from a generated configuration with its flood limits raised as far as it allows:

- **ngircd**: `[Limits] MaxPenaltyTime = 0` (no command penalties), `MaxConnectionsIP = 0`,
  `MaxConnections = 0`, `MaxJoins = 0`, `MaxNickLength = 30`, `PingTimeout`/`PongTimeout = 600`;
  `[Options] DNS = no`, `Ident = no`, `PAM = no`. ngircd still processes at most a few commands
  per client per loop iteration (a compiled-in limit), and listens with a backlog of 10.
- **InspIRCd**: `<connect threshold="1000000" commandrate="1000000000" fakelag="no"
  softsendq="64M" hardsendq="256M" recvq="64M" localmax/globalmax/limit="1000000"
  resolvehostnames="no" useident="no">`, `<performance somaxconn="4096" softlimit="1000000"
  netbuffersize="65536">`; run with `--nofork` (and `--runasroot` as root). InspIRCd completes
  registrations in its once-a-second background pass, so every registration takes up to 1 s.
- **hubbub**: `[limits] flood = false`, `sendq = 64 MiB`, `max_clients` and
  `max_clients_per_ip = 1000000`, `[history] enabled = false` (the C servers keep no
  history). **hubbub, history on** (`hubbub-history`) is the same with
  `[history] enabled = true`, as hubbub's default config runs: every message is written to
  SQLite (with its full-text index) by the group-commit writer, and the "history lines
  stored/s" row counts the lines committed during the run.
- **bare C relay** (`src/hubbub/bench/bare_relay.c`): not IRC; NICK/USER get a 001, JOIN a
  366, PRIVMSG is relayed with a `:nick!b@h` prefix, buffers are written once per loop
  iteration. It shows what the generator can measure.

The generator keeps at most as many registrations in progress as the server's listen backlog
(read with `ss`; ngircd 10, InspIRCd 4096, hubbub 1024), so no server's accept queue
overflows.
"""


CLUSTER_NOTE = (
    "Several `hubbub serve` nodes joined through one redis-server on this machine "
    "(`python -m hubbub.bench.cluster`, run by `make bench`): Python clients spread over the "
    "nodes, each node's clients connected to it, sending at a fixed rate; fan-out is one "
    "channel with every client in it, pairs are private conversations between clients of "
    "different nodes. Latency is from send to receipt (overall, and for deliveries that "
    "crossed nodes); Redis CPU is the redis-server's CPU time over the run per delivered "
    "message. See [cluster.md](cluster.md) for what the cluster guarantees."
)


def _cluster_section(table: str) -> list[str]:
    if not table:
        return [
            "## Cluster mode",
            "",
            "Not run (no redis-server here, or `--no-cluster`): see `python -m "
            "hubbub.bench.cluster` and [cluster.md](cluster.md).",
            "",
        ]
    return ["## Cluster mode", "", CLUSTER_NOTE, "", table, ""]


def write_report(
    out: Path,
    outcomes: Sequence[Outcome],
    scenarios: Sequence[tuple[str, str, str]],
    keys: Sequence[str],
    machine: dict[str, str],
    *,
    command: str,
    runs: int,
    elapsed_s: float,
    cluster: str = "",
) -> Path:
    """Write the markdown report (and its plot beside it); return its path. ``cluster``:
    the cluster benchmark's table, for a section of its own."""
    from hubbub.bench.servers import SERVERS

    labels = {k: SERVERS[k].version() if k in SERVERS else k for k in keys}
    labels["relay"] = "bare C relay"
    rows = _rows(scenarios)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    plotted = _plot(png, outcomes, scenarios, keys, labels)
    missing = [
        f"- {_label(o.server, labels)}, {o.scenario}, run {o.run}: {o.note.splitlines()[0]}"
        for o in outcomes
        if o.result is None
    ]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python -m hubbub.bench.compare); do not edit by hand. -->",
        "",
        f"hubbub against ngircd and InspIRCd on the same machine, in one run: `{command}` "
        f"(`make bench`; `make bench ARGS=--quick` for a short run). Median of {runs} "
        f"run{'s' if runs != 1 else ''} per scenario and server; {elapsed_s / 60:.1f} minutes "
        f"in all, {machine['date']}.",
        "",
        "Ratios are hubbub / peer: above 1 is better for throughput, below 1 is better for "
        "latency, memory and time.",
        "",
        *_summary(outcomes, rows, keys, labels),
        "",
    ]
    if missing:
        lines += ["Runs without a result (the medians above leave them out):", "", *missing, ""]
    if plotted:
        lines += [f"![throughput and latency]({png.name})", ""]
    lines += [
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores",
        f"- {machine['kernel']}; {machine['python']}",
        f"- Servers: {machine['servers']}",
        f"- Load average when the run started: {machine['load']}",
        "",
        "## What is measured",
        "",
        "- **fan-out**: the clients join one channel; the senders send PRIVMSGs to it with "
        "64 bytes of text, closed loop: each keeps at most 32 messages that a tracking receiver "
        "has not yet seen. Every message reaches the other clients - 1 members; the figure is "
        "deliveries per second summed over all receivers, over the measured seconds after a "
        "warm-up.",
        "- **pairs**: each client sends private messages to its partner, closed loop as above.",
        "- **p99 latency**: 5 senders at 100 messages/s each into 200 clients; latency is "
        "from the send timestamp in the message to its `recv()` by each receiver.",
        "- **idle connections**: the clients register (NICK, USER, until 001) and stay idle; "
        "the server's VmRSS before the first connection and after the idle period, divided by "
        "the connections, and the time from the first connect to the last 001.",
        "- Every client sets `TCP_NODELAY` and `TCP_QUICKACK` after every read: ngircd and "
        "InspIRCd leave Nagle on, and delayed ACKs would otherwise stall them on a 40 ms timer.",
        "- The generator, server and other CPU use during the window come from getrusage, "
        "/proc/PID/stat and /proc/stat. The machine may be shared: before each run the script "
        "waits (at most `--max-wait` seconds) until other processes use less than 0.3 cores, "
        'and runs where they used more than 0.1 cores are marked "machine busy" below.',
        "- **hubbub, history on** keeps every message (`[history] enabled`, its default); "
        "the plain hubbub column runs without history, as the C servers keep none.",
        "",
        *_cluster_section(cluster),
        "## The generator's ceiling",
        "",
        *_ceiling(outcomes, labels),
        "",
        "## Server configurations",
        "",
        CONFIGS,
        "## Raw figures",
        "",
        *_raw(outcomes, labels),
        "",
    ]
    out.write_text("\n".join(lines))
    return out
