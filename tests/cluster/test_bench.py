"""The cluster benchmark runs, small: every message is delivered, across nodes too."""

from __future__ import annotations

from hubbub.bench.cluster import run, table


async def test_fanout_and_pairs_on_two_nodes_deliver_everything() -> None:
    fanout = await run("fanout", nodes=2, clients=4, senders=2, messages=5, rate=100.0)
    assert fanout.sent == 10
    assert fanout.delivered == 10 * 3  # every other member of the channel
    assert fanout.cross_p50_ms is not None
    pairs = await run("pairs", nodes=2, clients=4, senders=0, messages=5, rate=100.0)
    assert pairs.delivered == pairs.sent == 4 * 5
    assert pairs.cross_p99_ms is not None  # the two of each pair are on different nodes
    assert "| pairs | 2 | 4 | 20 |" in table([fanout, pairs])
