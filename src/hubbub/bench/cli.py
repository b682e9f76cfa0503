"""``hubbub bench SCENARIO``: run one load generator scenario against any IRC server address."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from hubbub.bench.build import BuildError
from hubbub.bench.loadgen import (
    SCENARIOS,
    TRANSPORTS,
    LoadError,
    LoadResult,
    LoadSpec,
    describe,
    run_load,
)
from hubbub.bench.servers import listen_backlog

DEFAULT_CLIENTS = {"fanout": 50, "pairs": 100, "connections": 10_000}


def _address(text: str) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, None
    return host.strip("[]"), int(port)


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the bench arguments to ``p`` (the ``hubbub bench`` sub-command's parser)."""
    p.description = (
        "Load an IRC server: fanout (clients in one channel, some sending), pairs (private "
        "conversations) or connections (idle registered clients). Works against any server."
    )
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("address", nargs="?", default=None, help="HOST[:PORT] of the server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6667)
    p.add_argument(
        "--clients",
        type=int,
        default=None,
        help="connections (default: fanout 50, pairs 100, connections 10000)",
    )
    p.add_argument("--senders", type=int, default=5, help="fanout: clients that send")
    p.add_argument("--seconds", type=float, default=10.0, help="measured duration (or idle time)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before that")
    p.add_argument(
        "--rate", type=float, default=0.0, help="messages/s per sender (default: closed loop)"
    )
    p.add_argument("--window", type=int, default=32, help="most messages in flight per sender")
    p.add_argument("--size", type=int, default=64, help="bytes of text per message (>= 32)")
    p.add_argument(
        "--messages", type=int, default=0, help="send exactly this many per sender, then stop"
    )
    p.add_argument(
        "--procs",
        type=int,
        default=1,
        help="generator processes (connections: more when one process's open-files limit "
        "cannot hold its share)",
    )
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="tcp",
        help="connections: how the clients connect (tls, ws and wss use the Python generator)",
    )
    p.add_argument(
        "--sources",
        default="",
        help="comma-separated local addresses to connect from, round robin (default: the "
        "system's choice, or 127.0.0.2 and up when a loopback server is asked for more "
        "connections than one address has ports)",
    )
    p.add_argument(
        "--pid", type=int, default=None, help="server pid (default: found by its listening port)"
    )
    p.add_argument(
        "--connect-window",
        type=int,
        default=None,
        help="registrations in progress at once; keep it <= the server's listen backlog "
        "(default: that backlog when the server is local, else 64)",
    )
    p.add_argument(
        "--stall",
        type=float,
        default=0.0,
        help="restart a registering connection that hears nothing for this many seconds",
    )
    p.add_argument(
        "--sample-every", type=int, default=1, help="record latency on every k-th client"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    """The LoadSpec that ``args`` describe."""
    host: str = args.host
    port: int = args.port
    if args.address:
        host, maybe_port = _address(args.address)
        port = maybe_port if maybe_port is not None else port
    scenario = args.scenario
    clients = args.clients if args.clients is not None else DEFAULT_CLIENTS[scenario]
    window = args.connect_window
    if window is None:
        window = min(listen_backlog(port) or 64, 4096)
    return LoadSpec(
        scenario=scenario,
        host=host,
        port=port,
        clients=clients,
        senders=args.senders,
        seconds=args.seconds,
        warmup=args.warmup,
        rate=args.rate,
        window=args.window,
        size=args.size,
        messages=args.messages,
        procs=args.procs,
        pid=args.pid,
        connect_window=max(1, window),
        stall=args.stall,
        sample_every=args.sample_every,
        transport=args.transport,
        sources=tuple(a.strip() for a in args.sources.split(",") if a.strip()),
    )


def result_json(result: LoadResult) -> str:
    """``result`` as JSON, with the derived figures."""
    data = asdict(result)
    data["rate"] = result.rate
    data["gen_cores"] = result.gen_cores
    data["server_cores"] = result.server_cores
    data["rss_per_conn_kb"] = result.rss_per_conn_kb
    return json.dumps(data, indent=2)


def run(args: argparse.Namespace) -> int:
    """Run the scenario that ``args`` describe; print the result; 0 on success."""
    try:
        spec = spec_from_args(args)
        result = run_load(spec)
    except (LoadError, BuildError, ValueError) as exc:
        print(f"hubbub bench: {exc}", file=sys.stderr)
        return 1
    print(result_json(result) if args.json else describe(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hubbub.bench.cli``: the same as ``hubbub bench``."""
    parser = argparse.ArgumentParser(prog="hubbub bench")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
