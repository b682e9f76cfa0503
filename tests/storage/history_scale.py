"""The figures of docs/history.md: append throughput, then queries on a large database.

Run from the repository root (takes a minute or two and a few hundred MB in a temporary
directory)::

    python -m tests.storage.history_scale [--rows 1000000] [--batch 1000] [--dir /tmp]

Not a test: pytest does not collect it. Quiet machines give steadier figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hubbub.bench.compare import busy_cores, wait_quiet
from hubbub.bench.history import (
    FTS_VARIANTS,
    build,
    measure_append,
    measure_queries,
    measure_writer,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="lines in the big database")
    parser.add_argument("--append-rows", type=int, default=100_000, help="lines per append run")
    parser.add_argument("--batch", type=int, default=1000, help="lines per append transaction")
    parser.add_argument("--runs", type=int, default=3, help="append runs per variant (best kept)")
    parser.add_argument("--dir", default=None, help="where the databases go (default: tmp)")
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument(
        "--max-wait", type=float, default=30.0, help="seconds to wait for a quiet machine per run"
    )
    args = parser.parse_args()
    print(f"other processes keep {busy_cores() or 0:.1f} cores busy", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        if not args.skip_append:
            print(f"append: {args.append_rows:,} lines in batches of {args.batch:,}", flush=True)
            for variant in FTS_VARIANTS:
                best = 0.0
                for run in range(args.runs):
                    wait_quiet(0.5, args.max_wait)
                    path = root / f"append-{variant}-{run}.db"
                    best = max(
                        best, measure_append(path, args.append_rows, args.batch, fts=variant)
                    )
                    path.unlink()
                label = "no search index" if variant == "off" else f"FTS5 detail={variant}"
                print(f"  {label:24} {best:10,.0f} lines/s", flush=True)
            for batch in (10_000,):
                wait_quiet(0.5, args.max_wait)
                rate = measure_append(root / "append-big.db", args.append_rows, batch)
                (root / "append-big.db").unlink()
                print(f"  {'FTS5 detail=none':24} {rate:10,.0f} lines/s in batches of {batch:,}")
            wait_quiet(0.5, args.max_wait)
            rate, mean = measure_writer(root / "writer.db", 2 * args.append_rows)
            (root / "writer.db").unlink()
            print(
                f"  {'through HistoryWriter':24} {rate:10,.0f} lines/s, offered as fast as "
                f"possible (transactions of {mean:,.0f} lines on average)",
                flush=True,
            )
        path = root / "big.db"
        seconds = build(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"built {args.rows:,} lines in {seconds:.1f}s ({size:,.0f} MB)", flush=True)
        for times in measure_queries(path):
            print(
                f"  {times.label:48} median {times.median_ms:7.2f} ms  max {times.max_ms:7.2f} ms"
                f"  ({times.results} lines)",
                flush=True,
            )


if __name__ == "__main__":
    main()
