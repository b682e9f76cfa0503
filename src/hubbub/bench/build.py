"""Building the C helpers of the benchmarks (the load generator and the bare relay).

They are compiled at bench time with the system C compiler into a cache directory, keyed by a
hash of their source and flags, so nothing binary is committed and a changed source rebuilds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")
HELPERS = ("hbload", "bare_relay")


class BuildError(RuntimeError):
    """A helper could not be built (no C compiler, or the compiler failed)."""


def cache_dir() -> Path:
    """Where built helpers are kept: ``$HUBBUB_BENCH_CACHE``, else ``$XDG_CACHE_HOME/hubbub``
    (``~/.cache/hubbub``) ``/bench``."""
    explicit = os.environ.get("HUBBUB_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hubbub" / "bench"


def find_compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc``, else ``gcc``; None when there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name:
            found = shutil.which(name)
            if found:
                return found
    return None


def source(name: str) -> bytes:
    """The C source of helper ``name``."""
    if name not in HELPERS:
        raise ValueError(f"unknown helper {name!r}")
    return resources.files("hubbub.bench").joinpath(f"{name}.c").read_bytes()


def helper(name: str) -> Path:
    """The path of helper ``name``, compiling it first when the cache has no current build."""
    code = source(name)
    digest = hashlib.sha256(code + " ".join(CFLAGS).encode()).hexdigest()[:16]
    target = cache_dir() / f"{name}-{digest}"
    if target.exists():
        return target
    cc = find_compiler()
    if cc is None:
        raise BuildError(
            "hubbub bench builds its load generator with a C compiler, and none was found "
            "(set CC, or install gcc: apt-get install gcc)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_bytes(code)
        out = Path(tmp) / name
        proc = subprocess.run(
            [cc, *CFLAGS, "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise BuildError(f"building {name} failed:\n{proc.stderr.strip()}")
        os.replace(out, target)
    return target
