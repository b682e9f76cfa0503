"""The load generator counts exactly: small runs with known message counts, no timing."""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
from pathlib import Path

import pytest

from hubbub.bench import cli, loadgen
from hubbub.bench.loadgen import (
    LoadError,
    LoadSpec,
    check_capacity,
    choose_sources,
    describe,
    fd_limits,
    merge_latency,
    plan,
    procs_needed,
    rss_kb,
    run_load,
)
from hubbub.bench.report import Outcome, Record
from hubbub.bench.servers import SERVERS, ServerUnavailable
from tests.bench.ircish import IrcishRelay, running


def counted(port: int, **kw: object) -> LoadSpec:
    """A count-limited run: every sender sends exactly ``messages``, then the run drains."""
    base: dict[str, object] = {
        "scenario": "fanout",
        "port": port,
        "seconds": 30.0,
        "warmup": 0.0,
        "drain": 10.0,
        "setup_timeout": 20.0,
        "stall": 0.0,
    }
    base.update(kw)
    return LoadSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("clients", "senders", "messages"), [(2, 1, 40), (5, 2, 50), (8, 8, 10)])
def test_fanout_counts_every_delivery(clients: int, senders: int, messages: int) -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(
            counted(relay.port, clients=clients, senders=senders, messages=messages, window=4)
        )
    assert r.sent_total == senders * messages
    assert relay.stats.privmsgs == senders * messages
    assert r.delivered_total == senders * messages * (clients - 1)
    # A pure receiver gets every message; a sender gets everyone's but its own.
    if senders < clients:
        assert r.max_client_recv == senders * messages
    assert r.min_client_recv == (senders - 1) * messages
    assert r.disconnects == 0
    assert r.latency is not None
    assert r.latency.count > 0


def test_pairs_counts_every_message() -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(counted(relay.port, scenario="pairs", clients=6, messages=25, window=8))
    assert r.sent_total == 6 * 25
    assert r.delivered_total == 6 * 25
    assert r.min_client_recv == r.max_client_recv == 25


def test_noise_and_split_lines_are_not_counted_and_pings_are_answered() -> None:
    with running(IrcishRelay(noise=True, split=True)) as relay:
        r = run_load(counted(relay.port, clients=4, senders=2, messages=15, window=3))
    assert r.delivered_total == 2 * 15 * 3
    # One PING after each welcome, one for every 7th delivery to each client.
    assert relay.stats.pongs >= 4


def test_several_processes_add_up() -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(counted(relay.port, clients=7, senders=3, messages=20, procs=2))
    assert r.sent_total == 3 * 20
    assert r.delivered_total == 3 * 20 * 6


def test_rate_mode_sends_at_most_the_rate() -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(counted(relay.port, clients=3, senders=1, rate=50.0, seconds=0.2, messages=0))
    # 50 msg/s for 0.2 s: about 10, never more than 11 (the first is due at once).
    assert 1 <= r.sent_total <= 11
    assert r.delivered_total == r.sent_total * 2


def test_connections_register_and_report_rss() -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(
            counted(relay.port, scenario="connections", clients=30, seconds=0.1, pid=os.getpid())
        )
        assert relay.stats.clients == 30
    assert r.register_s > 0
    assert r.rss_before_kb is not None
    assert r.rss_after_kb is not None
    assert r.rss_per_conn_kb is not None


def test_connections_spread_over_processes_and_source_addresses() -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(
            counted(
                relay.port,
                scenario="connections",
                clients=12,
                seconds=0.1,
                procs=2,
                sources=("127.0.0.2", "127.0.0.3"),
            )
        )
        assert relay.stats.clients == 12
        assert relay.stats.addresses == {"127.0.0.2", "127.0.0.3"}
    assert (r.procs, r.sources) == (2, ("127.0.0.2", "127.0.0.3"))
    assert "12 tcp connections registered" in describe(r)
    assert "2 generator processes, from 2 local addresses" in describe(r)


def test_loopback_addresses_are_chosen_beyond_one_address_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loadgen, "port_range", lambda: 100)  # (25 used per loopback address)
    spec = LoadSpec(scenario="connections", clients=25)
    assert choose_sources(spec) == ()
    many = dataclasses.replace(spec, clients=70)
    assert choose_sources(many) == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    given = dataclasses.replace(many, sources=("10.0.0.7",))
    assert choose_sources(given) == ("10.0.0.7",)
    remote = dataclasses.replace(many, host="192.0.2.1")
    assert choose_sources(remote) == ()  # (up to 90 from one address)
    with pytest.raises(LoadError, match="about 3 local addresses.*--sources"):
        choose_sources(dataclasses.replace(remote, clients=250))


def test_generator_processes_follow_the_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "fd_limits", lambda pid=None: (1064, 4096))
    spec = LoadSpec(scenario="connections", clients=5000)
    assert procs_needed(spec) == 5  # (1,000 each: 64 descriptors are kept back)
    assert procs_needed(dataclasses.replace(spec, procs=8)) == 8
    assert procs_needed(dataclasses.replace(spec, clients=10)) == 1


def test_a_server_without_room_for_the_connections_is_reported_before_they_start() -> None:
    limits = fd_limits(os.getpid())
    assert limits == resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = limits
    too_many = LoadSpec(scenario="connections", clients=soft)
    with pytest.raises(LoadError, match=f"cannot fit in the server .* may open {soft} files"):
        check_capacity(too_many, os.getpid())
    check_capacity(dataclasses.replace(too_many, clients=soft - 100), os.getpid())
    check_capacity(too_many, None)  # (a server whose pid is unknown is not checked)


def test_other_transports_are_for_idle_connections_only() -> None:
    with pytest.raises(LoadError, match="connections scenario only"):
        plan(LoadSpec(scenario="fanout", transport="tls"))
    with pytest.raises(LoadError, match="unknown transport"):
        plan(LoadSpec(scenario="connections", transport="quic"))


def test_against_the_bare_relay(tmp_path: Path) -> None:
    run = SERVERS["relay"].start(tmp_path)
    try:
        r = run_load(counted(run.port, clients=6, senders=2, messages=100, pid=run.pid))
        p = run_load(counted(run.port, scenario="pairs", clients=4, messages=50))
    finally:
        run.stop()
    assert r.delivered_total == 2 * 100 * 5
    assert p.delivered_total == 4 * 50


@pytest.mark.parametrize("server", ["ngircd", "inspircd"])
def test_against_a_real_server(server: str, tmp_path: Path) -> None:
    try:
        run = SERVERS[server].start(tmp_path)
    except ServerUnavailable as exc:
        pytest.fail(f"{exc} (`make test` installs it)")
    try:
        r = run_load(counted(run.port, clients=4, senders=2, messages=20, pid=run.pid))
    finally:
        run.stop()
    assert r.delivered_total == 2 * 20 * 3
    assert r.rss_after_kb is not None


def test_plan_divides_clients_and_senders() -> None:
    parts = plan(LoadSpec(scenario="fanout", clients=7, senders=3, procs=2))
    assert [(p.first, p.clients, p.senders) for p in parts] == [(0, 4, 2), (4, 3, 1)]
    pairs = plan(LoadSpec(scenario="pairs", clients=10, procs=2))
    assert [p.clients for p in pairs] == [6, 4]
    assert all(p.clients % 2 == 0 for p in pairs)


def test_latency_histograms_merge() -> None:
    lat = merge_latency([[[10.0, 50], [20.0, 49]], [[5000.0, 1]]], max_us=5100.0)
    assert lat is not None
    assert lat.count == 100
    assert lat.p50_us == 10.0
    assert lat.p99_us == 20.0
    assert lat.max_us == 5100.0
    assert merge_latency([], 0.0) is None


def test_rss_of_this_process() -> None:
    rss = rss_kb(os.getpid())
    assert rss is not None
    assert rss > 0


def test_cli_reads_an_address() -> None:
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    spec = cli.spec_from_args(parser.parse_args(["pairs", "10.0.0.1:7000", "--seconds", "2"]))
    assert (spec.scenario, spec.host, spec.port, spec.clients) == ("pairs", "10.0.0.1", 7000, 100)
    spec = cli.spec_from_args(parser.parse_args(["fanout", "--port", "6000", "--clients", "9"]))
    assert (spec.host, spec.port, spec.clients, spec.window, spec.size) == (
        "127.0.0.1",
        6000,
        9,
        32,
        64,
    )


def test_report_is_written(tmp_path: Path) -> None:
    with running(IrcishRelay()) as relay:
        r = run_load(counted(relay.port, clients=3, senders=1, messages=10))
    record = Record(
        outcomes=[
            Outcome("ngircd", "fanout-50", 1, r, ""),
            Outcome("hubbub", "fanout-50", 1, None, "not run: `hubbub serve` is not available"),
        ],
        scenarios=[("fanout-50", "fan-out, 50 clients, 5 senders", "rate")],
        keys=["hubbub", "ngircd"],
        machine={
            "cpu": "test CPU",
            "cores": "2",
            "kernel": "Linux",
            "python": "Python 3",
            "servers": "ngircd",
            "date": "today",
            "load": "0",
        },
        command="python -m hubbub.bench.compare",
        runs=1,
        elapsed_s=1.0,
    )
    record.save(tmp_path / "raw.json")
    again = Record.load(tmp_path / "raw.json")
    assert again == record
    text = again.write(tmp_path / "benchmarks.md").read_text()
    assert "| fan-out, 50 clients, 5 senders: deliveries/s | not run |" in text
    assert "hubbub serve` is not available" in text
    assert (tmp_path / "benchmarks.png").exists()
    assert "test CPU, 2 cores" in text
    assert "## Cluster mode\n\nNot run" in text
    table = "| scenario | nodes |\n|---|---|\n| fanout | 2 |"
    clustered = dataclasses.replace(record, cluster=table)
    clustered.save(tmp_path / "raw2.json")
    assert Record.load(tmp_path / "raw2.json") == clustered
    assert table in clustered.write(tmp_path / "benchmarks.md").read_text()


def test_a_baseline_runs_hubbub_from_another_checkout(tmp_path: Path) -> None:
    from hubbub.bench.servers import HubbubBaseline

    missing = HubbubBaseline(tmp_path)
    assert missing.unavailable() is not None
    checkout = Path(__file__).resolve().parents[2]  # this checkout stands in for another
    baseline = HubbubBaseline(checkout)
    assert baseline.unavailable() is None
    assert baseline.env()["PYTHONPATH"].split(os.pathsep)[0] == str(checkout / "src")
    assert baseline.label.endswith("(baseline)")
