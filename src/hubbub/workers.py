"""``hubbub serve --workers N``: N processes on one host, one port, one network.

Each worker is a node of the cluster (``[cluster] redis`` is required), named
``<node_id><i>``, listening on the same TCP and TLS ports with SO_REUSEPORT: the kernel
spreads the connections among them, and Redis makes them one network, through the same code
path as nodes on several machines (docs/cluster.md). The parent process only starts the
workers, passes signals on (SIGTERM, SIGINT, SIGHUP) and waits for them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from hubbub.config import Config
from hubbub.config.sections import MAX_NODE_ID


def worker_count(asked: int) -> int:
    """``--workers``: 0 means one per CPU core."""
    return asked if asked > 0 else os.cpu_count() or 1


def workers_problem(config: Config, count: int) -> str | None:
    """Why ``config`` cannot run as ``count`` workers, or None."""
    cluster = config.cluster
    if not cluster.redis:
        return "--workers needs [cluster] redis (the workers are the nodes of a cluster)"
    if len(cluster.node_id) + len(str(count - 1)) > MAX_NODE_ID:
        return (
            f"--workers {count}: [cluster] node_id {cluster.node_id!r} leaves no room for the "
            f"worker's number (node ids have at most {MAX_NODE_ID} characters)"
        )
    for listen in config.listen:
        if listen.unix_path is None and not listen.websocket and not listen.port:
            return "--workers needs fixed ports: a listener on port 0 would differ per worker"
    return None


def as_worker(config: Config, index: int) -> Config:
    """The config of worker ``index``: the node named ``<node_id><index>``."""
    cluster = dataclasses.replace(config.cluster, node_id=f"{config.cluster.node_id}{index}")
    return dataclasses.replace(config, cluster=cluster)


PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent dies."""


def _die_with_parent() -> None:
    """In a worker, before it runs: get SIGTERM if the parent dies (killed with -9), so no
    worker is left serving alone (Linux; elsewhere nothing is done)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def supervise(argv: Sequence[str], count: int) -> int:
    """Start ``count`` workers (``hubbub serve`` with ``argv`` and ``--worker i``), pass
    signals on to them, and wait for all; returns the worst exit status."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hubbub", "serve", *argv, "--worker", str(i)],
            preexec_fn=_die_with_parent,
        )
        for i in range(count)
    ]

    stopping: set[int] = set()

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            stopping.add(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    codes = [proc.wait() for proc in procs]
    # (a worker that the signal it was asked to stop with ended has stopped as asked)
    return max((0 if -code in stopping else abs(code) for code in codes), default=0)
