"""The coverage-guided fuzz target: its seed corpus passes, it catches a failing handler, and a
short, seeded atheris run from the corpus finds nothing (``make fuzz`` runs it for longer)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubbub.server.commands import COMMANDS, Context
from tests.fuzz import atheris_core
from tests.fuzz.core_target import COMMAND_NAMES, run
from tests.fuzz.invariants import HandlerFailure
from tests.timeouts import TIMEOUT

ROOT = Path(__file__).parents[2]
CORPUS = Path(__file__).with_name("corpus")
SEEDS = sorted(CORPUS.iterdir())
RUNS = int(os.environ.get("HUBBUB_FUZZ_RUNS", "300"))


@pytest.mark.parametrize("seed", SEEDS, ids=[p.name for p in SEEDS])
def test_corpus_inputs_pass(seed: Path) -> None:
    run(seed.read_bytes())


def test_every_command_is_reachable() -> None:
    assert sorted(COMMANDS) == COMMAND_NAMES
    assert len(COMMAND_NAMES) < 256  # one byte picks one


def _fail(ctx: Context) -> None:
    raise ValueError("a handler bug")


def test_a_failing_handler_is_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The core survives a handler's exception (it logs it and answers 400); the target must
    not: that is what it is looking for."""
    monkeypatch.setitem(COMMANDS, "TIME", dataclasses.replace(COMMANDS["TIME"], handler=_fail))
    run(b"\x00" + bytes([COMMAND_NAMES.index("VERSION")]) + b"\n")
    with pytest.raises(HandlerFailure, match="a handler bug"):
        run(b"\x00" + bytes([COMMAND_NAMES.index("TIME")]) + b"\n")


def test_a_broken_invariant_is_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def leave_nothing(ctx: Context) -> None:
        ctx.server.network.user_count += 1

    monkeypatch.setitem(
        COMMANDS, "TIME", dataclasses.replace(COMMANDS["TIME"], handler=leave_nothing)
    )
    with pytest.raises(AssertionError):
        run(b"\x00" + bytes([COMMAND_NAMES.index("TIME")]) + b"\n")


def test_the_fallback_mutator_runs_the_target() -> None:
    """Where atheris has no wheel the harness still mutates the corpus, unguided."""
    played: list[bytes] = []
    atheris_core.random_fuzz(played.append, ["-runs=20", "-seed=3", str(CORPUS)])
    assert len(played) == len(SEEDS) + 20
    assert set(played[: len(SEEDS)]) == {p.read_bytes() for p in SEEDS}


def test_a_short_atheris_run_finds_nothing(tmp_path: Path) -> None:
    """A few hundred coverage-guided inputs grown from the corpus, seeded: the same inputs
    every run. libFuzzer writes new inputs to the first directory, so it gets a copy."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.atheris_core",
            f"-runs={RUNS}",
            "-seed=1",
            "-max_total_time=60",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 9,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert not list(tmp_path.glob("crash-*"))
