"""The load generators behind ``hubbub bench`` and the comparison behind ``make bench``.

The hot path is a small C program (``hbload.c``) built at bench time with the system compiler;
Python starts it, coordinates its processes and merges their results.
"""

from __future__ import annotations

from hubbub.bench.loadgen import Latency, LoadError, LoadResult, LoadSpec, run_load

__all__ = ["Latency", "LoadError", "LoadResult", "LoadSpec", "run_load"]
