#!/usr/bin/env python3
"""Where an idle registered client's bytes go: a server in this process, N clients, a diff.

Usage: PYTHONPATH=src .venv/bin/python scripts/idle_memory.py [--clients N]
           [--transport tcp|tls|ws|wss] [--trace [--frames K] [--top T]]

Starts a hubbub server in this process (history off, flood control off), records its RSS,
connects N idle clients that register (``python -m hubbub.bench.idleclients`` in a child
process, or the C generator ``hbload`` for tcp with ``--hbload``), and once all are
registered prints the RSS growth per client. With ``--trace`` it also runs ``tracemalloc``
and prints the allocations that grew, grouped by where they were made (tracemalloc's own
bookkeeping inflates the RSS then: take the RSS figure from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hubbub.bench.build import helper  # noqa: E402
from hubbub.bench.loadgen import raise_fd_limit, rss_kb  # noqa: E402
from hubbub.config.loading import parse_config  # noqa: E402
from hubbub.net.app import App  # noqa: E402
from hubbub.net.certs import make_self_signed  # noqa: E402


def config_text(transport: str, tmp: Path, clients: int) -> str:
    """A server config with one listener of the kind asked for."""
    tls = transport in ("tls", "wss")
    if tls:
        make_self_signed(tmp / "cert.pem", tmp / "key.pem", ["127.0.0.1"])
    listen = ['address = "127.0.0.1:0"']
    if tls:
        listen += ["tls = true", f'cert = "{tmp / "cert.pem"}"', f'key = "{tmp / "key.pem"}"']
    if transport in ("ws", "wss"):
        listen.append("websocket = true")
    return f"""[server]
name = "mem.hubbub"
network = "Mem"
motd = "mem"

[[listen]]
{chr(10).join(listen)}

[limits]
flood = false
max_clients = {clients + 10}
max_clients_per_ip = {clients + 10}

[storage]
path = "{tmp / "hubbub.db"}"

[history]
enabled = false
"""


async def run(args: argparse.Namespace) -> None:
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="hubbub-mem-") as tmp:
        config = parse_config(config_text(args.transport, Path(tmp), args.clients))
        app = App(config)
        await app.start()
        host, port = app.bound[0].host, app.bound[0].port
        assert host is not None
        assert port is not None
        if args.hbload:
            cmd = [
                str(helper("hbload")),
                "--mode=connections",
                f"--host={host}",
                f"--port={port}",
                f"--clients={args.clients}",
                f"--connect-window={args.window}",
                "--seconds=0",
                "--prefix=m",
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "hubbub.bench.idleclients",
                f"--transport={args.transport}",
                f"--host={host}",
                f"--port={port}",
                f"--clients={args.clients}",
                f"--connect-window={args.window}",
                "--prefix=m",
            ]
        gc.collect()
        if args.trace:
            tracemalloc.start(args.frames)
        await asyncio.sleep(0.5)
        before_rss = rss_kb(_pid())
        before = tracemalloc.take_snapshot() if args.trace else None
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdin is not None
        try:
            line = (await proc.stdout.readline()).decode().strip()
            print(f"generator: {line}")
            if not line.startswith("ready"):
                return
            await asyncio.sleep(1.0)  # (let the last registrations' replies go out)
            gc.collect()
            after_rss = rss_kb(_pid())
            if args.mallocstats:  # (pymalloc: blocks in use, free blocks kept in pools)
                sys._debugmallocstats()
            if args.trim:  # (how much of the growth is freed memory malloc keeps)
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                trimmed = rss_kb(_pid())
                assert trimmed is not None
                assert before_rss is not None
                print(f"after malloc_trim: {(trimmed - before_rss) / args.clients * 1024:.0f} B")
            after = tracemalloc.take_snapshot() if args.trace else None
            users = app.server.local_users
            assert before_rss is not None
            assert after_rss is not None
            print(
                f"{users} registered {args.transport} clients: RSS {before_rss} -> "
                f"{after_rss} KiB, {(after_rss - before_rss) / args.clients * 1024:.0f} "
                f"bytes per client"
            )
            if before is not None and after is not None:
                report(before, after, args)
        finally:
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            await proc.wait()
            await app.stop("done")


def report(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, args: argparse.Namespace
) -> None:
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    after = after.filter_traces(filters)
    before = before.filter_traces(filters)
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"tracemalloc: {total / args.clients:.0f} bytes per client grew, by where:")
    for stat in stats[: args.top]:
        per = stat.size_diff / args.clients
        if abs(per) < 1:
            break
        count = stat.count_diff / args.clients
        frames = " <- ".join(
            f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[: args.frames]
        )
        print(f"  {per:7.1f} B  {count:5.2f} blocks  {frames}")


def _pid() -> int:
    import os

    return os.getpid()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--transport", choices=("tcp", "tls", "ws", "wss"), default="tcp")
    p.add_argument("--hbload", action="store_true", help="tcp: connect with the C generator")
    p.add_argument("--trace", action="store_true", help="tracemalloc: where the bytes go")
    p.add_argument("--frames", type=int, default=4, help="frames of traceback to group by")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--trim", action="store_true", help="also measure after malloc_trim(0)")
    p.add_argument("--window", type=int, default=256, help="registrations in flight at once")
    p.add_argument(
        "--mallocstats", action="store_true", help="print pymalloc's statistics at the end"
    )
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
