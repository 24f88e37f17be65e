"""Fan-out latency: `python -m bench.fanout --viewers 1000 --runs 50 --rate 10 --seconds 10`.

For livebot's web server, then for the polling baseline and the Pub/Sub-per-viewer peer (one
Redis subscription per viewer, as a typical sse-starlette app has), each in its own process:
start the server, create the runs, start the producer (its own process, `rate` token events
per second per run, each one `RunLog.append` carrying its publish time), connect the viewers
(spread evenly over the runs, in `--clients` processes), wait until every viewer has its
history and a live event, then measure publish→receive latency of every event published
during `--seconds`. At the end every run is completed and every viewer must hold every event
of its run exactly once.

`--active-runs N`: N runs, one viewer each, 2 events/s each (livebot only, unless `--only`); the
Redis connections the web process holds are counted from /proc during the window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, split_viewers, viewer_paths
from bench.measure import (
    RESULTS_DIR,
    CpuMeter,
    latency_summary,
    peak_rss_kb,
    table,
    tcp_connections_to,
    write_json,
)
from bench.producer import Producer, Producers, complete_runs, create_runs, expected_ids
from bench.servers import bench_redis, bench_server, bench_settings
from livebot.runs.log import RunLog
from livebot.store.client import connect
from tests.support import RedisServer

VARIANTS = {"livebot": "livebot", "polling": "polling baseline", "pubsub": "Pub/Sub per viewer"}
ACTIVE_RUNS_RATE = 2.0
# Bars of issue 10.
ACTIVE_P99_MS = 50.0
ACTIVE_MAX_CONNECTIONS = 64
VIEWERS_P99_MS = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000, help="SSE viewers (default 1000)")
    parser.add_argument("--runs", type=int, default=50, help="runs they watch (default 50)")
    parser.add_argument(
        "--rate", type=float, default=10, help="token events per second per run (default 10)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured window (default 10)")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "fanout.json", help="where to write results"
    )
    parser.add_argument("--clients", type=int, default=1, help="viewer processes (default 1)")
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="viewer HTTP client: raw asyncio protocol (default) or aiohttp's client",
    )
    parser.add_argument("--text-length", type=int, default=40, help="token text length")
    parser.add_argument(
        "--only", choices=tuple(VARIANTS), help="measure one server only (no comparison)"
    )
    parser.add_argument(
        "--active-runs",
        type=int,
        help="N runs, one viewer each, 2 events/s each (overrides --viewers/--runs/--rate)",
    )
    parser.add_argument("--producers", type=int, default=1, help="producer processes (default 1)")
    return parser


def measured_variants(args: argparse.Namespace) -> tuple[str, ...]:
    """The servers measured, in order."""
    if args.only is not None:
        return (args.only,)
    return ("livebot",) if args.active_runs else tuple(VARIANTS)


async def sample_connections(pid: int, port: int, peak: list[int]) -> None:
    """Keep the most Redis connections the server held, sampled every second."""
    while True:
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], tcp_connections_to(pid, port))
        await asyncio.sleep(1)


async def measure(
    variant: str, redis_server: RedisServer, args: argparse.Namespace
) -> dict[str, Any]:
    """One server variant under the full load; its numbers."""
    redis_url = redis_server.url
    server = bench_server(variant, redis_url)
    await server.start()
    redis = await connect(redis_url, max_connections=args.runs + 10)
    run_log = RunLog(redis, ttl_seconds=3600)
    producer = fleet = None
    try:
        settings = bench_settings(redis_url, server.port)
        run_ids = await create_runs(run_log, args.runs)
        producer = Producers(
            [
                Producer(redis_url, run_ids[i :: args.producers], args.rate, args.text_length)
                for i in range(min(args.producers, len(run_ids)))
            ]
        )
        await producer.start()
        paths = viewer_paths(settings, run_ids, args.viewers)
        fleet = Fleet(
            split_viewers(server.port, paths, args.clients, client=args.client, wait_live=True)
        )
        connected = await fleet.ready(within=120)
        if connected["failed"]:
            print(f"  {variant}: {connected['failed']} viewers failed: {connected['errors']}")
        meter = CpuMeter(
            {
                "server": [server.pid],
                "redis": [redis_server.pid],
                "producer": producer.pids,
                "clients": fleet.pids,
                "bench": [os.getpid()],
            }
        )
        meter.start()
        peak_connections = [tcp_connections_to(server.pid, redis_server.port)]
        sampler = asyncio.create_task(
            sample_connections(server.pid, redis_server.port, peak_connections)
        )
        window_start = time.time_ns()
        await asyncio.sleep(args.seconds)
        window_end = time.time_ns()
        cpu = meter.stop()
        sampler.cancel()
        produced = await producer.stop()
        producer = None
        await complete_runs(run_log, run_ids)
        expected = await expected_ids(run_log, run_ids)
        expected_total = sum(len(expected[run_id]) for run_id, _ in paths)
        result = await fleet.finish((window_start, window_end), expected, within=60)
        peak_rss = peak_rss_kb(server.pid)
    finally:
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        if fleet is not None:
            await fleet.stop()
        await redis.aclose()
        await server.stop()
    seconds = (window_end - window_start) / 1e9
    latencies = result.pop("latencies_us")
    summary = latency_summary(latencies)
    return {
        "viewers_connected": connected["viewers"] - connected["failed"],
        "connect_seconds": round(connected["connect_seconds"], 2),
        **{k: v for k, v in summary.items() if k != "count"},
        "delivered": summary["count"],
        "events_per_s": round(len(latencies) / seconds, 1),
        "expected_events_per_s": round(args.viewers * args.rate, 1),
        "produced_per_s": round(produced["rate"], 1),
        "producer_max_late_ms": round(produced["max_late_ms"], 1),
        **result,
        "delivered_total": expected_total - result["lost"],
        "expected_total": expected_total,
        "redis_connections": peak_connections[0],
        "peak_rss_mb": round(peak_rss / 1024, 1),
        "cpu_percent": cpu,
        "window_unix_s": [round(window_start / 1e9, 3), round(window_end / 1e9, 3)],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Both variants over one Redis; the table and the JSON."""
    redis = bench_redis()
    await redis.start()
    results: dict[str, dict[str, Any]] = {}
    try:
        for variant in measured_variants(args):
            print(f"measuring {VARIANTS[variant]} …", file=sys.stderr, flush=True)
            results[variant] = await measure(variant, redis, args)
    finally:
        await redis.stop()
    return results


ROWS = (
    ("viewers connected", "viewers_connected"),
    ("connect time (s)", "connect_seconds"),
    ("latency p50 (ms)", "p50_ms"),
    ("latency p90 (ms)", "p90_ms"),
    ("latency p99 (ms)", "p99_ms"),
    ("latency max (ms)", "max_ms"),
    ("delivered events/s", "events_per_s"),
    ("expected events/s", "expected_events_per_s"),
    ("produced appends/s", "produced_per_s"),
    ("events delivered (all)", "delivered_total"),
    ("events expected (all)", "expected_total"),
    ("lost events", "lost"),
    ("duplicated events", "duplicated"),
    ("viewers with mismatches", "mismatched_viewers"),
    ("viewers without complete", "incomplete_viewers"),
    ("server peak RSS (MB)", "peak_rss_mb"),
    ("server's Redis connections (max)", "redis_connections"),
)
CPU_ROWS = (
    ("server CPU (% of a core)", "server"),
    ("redis CPU (% of a core)", "redis"),
    ("producer CPU (% of a core)", "producer"),
    ("viewer clients CPU (% core)", "clients"),
    ("bench parent CPU (% of a core)", "bench"),
    ("kernel irq/softirq (% of a core)", "irq"),
    ("other processes (% of a core)", "others"),
    ("machine busy (% of all cores)", "machine"),
)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Print the table; the JSON document."""
    variants = list(results)
    rows = [[label, *(results[v].get(key) for v in variants)] for label, key in ROWS]
    rows += [
        [label, *(results[v]["cpu_percent"][key] for v in variants)] for label, key in CPU_ROWS
    ]
    print(
        f"\nfan-out: {args.viewers} viewers over {args.runs} runs, {args.rate:g} events/s per run, "
        f"{args.seconds:g} s measured, {args.clients} viewer process(es), {args.client} client\n"
    )
    print(table(["metric", *(VARIANTS[v] for v in variants)], rows))
    live = results.get("livebot", {})
    base = results.get("polling", {})
    peer = results.get("pubsub", {})
    document: dict[str, Any] = {
        "viewers": args.viewers,
        "runs": args.runs,
        "rate": args.rate,
        "seconds": args.seconds,
        "clients": args.clients,
        "client": args.client,
        "text_length": args.text_length,
        "p50_ms": live.get("p50_ms"),
        "p90_ms": live.get("p90_ms"),
        "p99_ms": live.get("p99_ms"),
        "max_ms": live.get("max_ms"),
        "events_per_s": live.get("events_per_s"),
        "peak_rss_mb": live.get("peak_rss_mb"),
        "lost": live.get("lost"),
        "duplicated": live.get("duplicated"),
        "mismatched_viewers": live.get("mismatched_viewers"),
        "baseline_p50_ms": base.get("p50_ms"),
        "baseline_p99_ms": base.get("p99_ms"),
        "baseline_events_per_s": base.get("events_per_s"),
        "baseline_lost": base.get("lost"),
        "baseline_duplicated": base.get("duplicated"),
        "livebot": live,
        "baseline": base,
        "pubsub": peer,
        "active_runs": args.active_runs,
        "redis_connections": live.get("redis_connections"),
    }
    if live:
        exact = bool(
            live["delivered_total"] == live["expected_total"]
            and not live["duplicated"]
            and not live["mismatched_viewers"]
        )
        if args.active_runs:
            document["active_bar_met"] = bool(
                exact
                and live["p99_ms"] is not None
                and live["p99_ms"] <= ACTIVE_P99_MS
                and live["redis_connections"] <= ACTIVE_MAX_CONNECTIONS
            )
            print(
                f"\nbar (p99 <= {ACTIVE_P99_MS:g} ms, all delivered, <= {ACTIVE_MAX_CONNECTIONS} "
                f"Redis connections): p99 {live['p99_ms']} ms, "
                f"{live['delivered_total']}/{live['expected_total']} delivered, "
                f"{live['redis_connections']} connections -> "
                f"{'met' if document['active_bar_met'] else 'NOT met'}"
            )
        else:
            document["viewers_bar_met"] = bool(
                exact and live["p99_ms"] is not None and live["p99_ms"] <= VIEWERS_P99_MS
            )
            print(
                f"\nbar (p99 <= {VIEWERS_P99_MS:g} ms, all delivered once): p99 {live['p99_ms']} "
                f"ms -> {'met' if document['viewers_bar_met'] else 'NOT met'}"
            )
    if live and base and live.get("p50_ms") and base.get("p50_ms"):
        ratio = base["p50_ms"] / live["p50_ms"]
        document["baseline_p50_over_livebot_p50"] = round(ratio, 1)
        document["bar_met"] = bool(
            live["p99_ms"] <= 50 and ratio >= 10 and not live["lost"] and not live["duplicated"]
        )
        print(
            f"\nbar (p99 <= 50 ms, p50 >= 10x lower than polling, nothing lost or repeated): "
            f"p99 {live['p99_ms']} ms, p50 ratio {ratio:.1f}x -> "
            f"{'met' if document['bar_met'] else 'NOT met'}"
        )
    return document


def main() -> None:
    """Entry point."""
    args = _parser().parse_args()
    if args.active_runs:
        args.runs = args.viewers = args.active_runs
        args.rate = ACTIVE_RUNS_RATE
    results = asyncio.run(main_async(args))
    document = report(args, results)
    write_json(args.json, document)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
