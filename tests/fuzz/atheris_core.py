"""Coverage-guided fuzzing of the server core with atheris (libFuzzer for Python).

Run from the repository root, with libFuzzer's options::

    python -m tests.fuzz.atheris_core -max_total_time=600 CORPUS_DIR
    python -m tests.fuzz.atheris_core -runs=2000 -seed=1 CORPUS_DIR
    python -m tests.fuzz.atheris_core crash-1234abcd      # replay one input

Each input is played by :func:`tests.fuzz.core_target.run` against a fresh server: the parser,
the line buffer, the block fast path and every command of the command table. A handler that
fails (its exception logged, a 400 reply) or a broken invariant is a crash: libFuzzer saves the
input (``-artifact_prefix``) and exits non-zero. libFuzzer adds the inputs that reach new code
to the first corpus directory given: pass a copy, not ``tests/fuzz/corpus`` itself, unless
the new inputs are meant to be kept.

Only the ``hubbub`` package is instrumented, so it must not be imported before this module
sets the instrumentation up (the target module imports it).

Where atheris has no wheel (it has them for Linux x86-64 only), the same options run a plain
seeded random mutator over the corpus instead, with no coverage guidance.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

DICTIONARY = Path(__file__).with_name("irc.dict")
"""Words libFuzzer may splice into inputs: IRC syntax, names the fuzz world has."""


Target = Callable[[bytes], None]


def load_target() -> Target:
    """The target's ``run``, imported under atheris' instrumentation when it is there."""
    try:
        import atheris
    except ImportError:
        return cast(Target, importlib.import_module("tests.fuzz.core_target").run)
    with atheris.instrument_imports(include=["hubbub"]):
        return cast(Target, importlib.import_module("tests.fuzz.core_target").run)


def main(argv: list[str]) -> None:
    target = load_target()
    try:
        import atheris
    except ImportError:
        random_fuzz(target, argv[1:])
        return
    if not any(arg.startswith("-dict=") for arg in argv) and DICTIONARY.exists():
        argv = [*argv, f"-dict={DICTIONARY}"]
    atheris.Setup(argv, target)
    atheris.Fuzz()


def random_fuzz(target: Target, args: list[str]) -> None:
    """A stand-in for libFuzzer: ``-runs=N`` (default 1000) and ``-seed=S`` mutations of the
    corpus inputs (directories and files among ``args``); other options are ignored."""
    options = dict(a[1:].split("=", 1) for a in args if a.startswith("-") and "=" in a)
    paths = [Path(a) for a in args if not a.startswith("-")]
    inputs = [
        file.read_bytes()
        for path in paths
        for file in (sorted(path.iterdir()) if path.is_dir() else [path])
        if file.is_file()
    ] or [b""]
    for data in inputs:
        target(data)
    rng = random.Random(int(options.get("seed", "1")))
    for _ in range(int(options.get("runs", "1000"))):
        mutant = bytearray(rng.choice(inputs))
        for _ in range(rng.randint(1, 8)):
            at = rng.randint(0, len(mutant))
            choice = rng.randrange(3)
            if choice == 0:
                mutant[at:at] = rng.randbytes(rng.randint(1, 4))
            elif choice == 1:
                del mutant[at : at + rng.randint(1, 4)]
            else:
                mutant[at:at] = rng.choice(inputs)[: rng.randint(0, 16)]
        target(bytes(mutant))


if __name__ == "__main__":
    main(sys.argv)
