"""Memory per idle viewer: `python -m bench.idle --viewers 10000`.

Starts Redis and livebot's web server (one process), creates `--runs` runs, warms the server
up (a few hundred viewers connect, receive an event, finish), then measures the server's
resident memory, opens `--viewers` SSE connections that stay idle, waits until every one has
its headers and history, and measures again: (after - before) / viewers is the cost of one
idle viewer. To prove the viewers are real, one live event is then appended to every run, the
runs are completed, and every viewer must receive both, exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, split_viewers, viewer_paths
from bench.measure import RESULTS_DIR, latency_summary, peak_rss_kb, rss_kb, table, write_json
from bench.producer import complete_runs, create_runs, expected_ids, token_text
from bench.servers import bench_redis, bench_server, bench_settings, raise_fd_limit
from livebot.runs.log import RunLog
from livebot.store.client import connect

BAR_KB: float = 12.0
SETTLE_SECONDS: float = 2.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--viewers", type=int, default=10_000, help="idle viewers (default 10000)")
    parser.add_argument("--runs", type=int, default=10, help="runs they watch (default 10)")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "idle.json", help="where to write results"
    )
    parser.add_argument("--clients", type=int, default=1, help="viewer processes (default 1)")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=50,
        help="connections each viewer process opens at once (default 50)",
    )
    parser.add_argument("--warmup-viewers", type=int, default=200, help="warm-up viewers")
    return parser


async def _round(
    run_log: RunLog,
    fleet: Fleet,
    run_ids: list[str],
    timeout_s: float,
    measure: Callable[[], Awaitable[int]] | None = None,
) -> tuple[dict[str, Any], int | None, dict[str, Any]]:
    """Connect a fleet, optionally measure, append one live event per run, end the runs."""
    connected = await fleet.ready(within=timeout_s)
    measured = await measure() if measure is not None else None
    window_start = time.time_ns()
    await asyncio.gather(
        *(run_log.append(run_id, "token", {"text": token_text(40)}) for run_id in run_ids)
    )
    await complete_runs(run_log, run_ids)
    window_end = time.time_ns()
    expected = await expected_ids(run_log, run_ids)
    result = await fleet.finish((window_start, window_end), expected, within=120)
    await fleet.stop()
    return connected, measured, result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Measure; the numbers."""
    raise_fd_limit()
    redis_server = bench_redis()
    await redis_server.start()
    server = bench_server("livebot", redis_server.url)
    try:
        await server.start()
        settings = bench_settings(redis_server.url, server.port)
        redis = await connect(redis_server.url, max_connections=args.runs + 10)
        run_log = RunLog(redis, ttl_seconds=3600)

        # Warm-up: every code path of a viewer's life runs once before the first measurement.
        warm_runs = await create_runs(run_log, 2)
        warm = Fleet(
            split_viewers(
                server.port,
                viewer_paths(settings, warm_runs, args.warmup_viewers),
                1,
                wait_live=False,
            )
        )
        _, _, warm_result = await _round(run_log, warm, warm_runs, 60)
        if warm_result["exact_viewers"] != args.warmup_viewers:
            print(f"warm-up viewers did not all get their events: {warm_result}", file=sys.stderr)
        await asyncio.sleep(SETTLE_SECONDS)
        rss_before = rss_kb(server.pid)

        run_ids = await create_runs(run_log, args.runs)
        paths = viewer_paths(settings, run_ids, args.viewers)
        fleet = Fleet(
            split_viewers(
                server.port,
                paths,
                args.clients,
                wait_live=False,
                connect_concurrency=args.connect_concurrency,
            )
        )

        async def measure() -> int:
            await asyncio.sleep(SETTLE_SECONDS)
            return rss_kb(server.pid)

        connected, rss_after, result = await _round(run_log, fleet, run_ids, 600, measure)
        assert rss_after is not None  # measured: `measure` was given
        peak = peak_rss_kb(server.pid)
        await redis.aclose()
    finally:
        await server.stop()
        await redis_server.stop()
    live = latency_summary(result.pop("latencies_us"))
    viewers_ok = connected["viewers"] - connected["failed"]
    return {
        "viewers": args.viewers,
        "runs": args.runs,
        "clients": args.clients,
        "viewers_connected": viewers_ok,
        "connect_errors": connected["errors"],
        "connect_seconds": round(connected["connect_seconds"], 2),
        "connections_per_s": round(viewers_ok / max(connected["connect_seconds"], 1e-9), 1),
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_after_mb": round(rss_after / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "kb_per_viewer": round((rss_after - rss_before) / max(viewers_ok, 1), 2),
        "viewers_got_live_event": result["exact_viewers"],
        "live_event_deliveries": live["count"],
        "live_p50_ms": live["p50_ms"],
        "live_p99_ms": live["p99_ms"],
        "live_max_ms": live["max_ms"],
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "mismatched_viewers": result["mismatched_viewers"],
    }


ROWS = (
    ("viewers connected", "viewers_connected"),
    ("connect time (s)", "connect_seconds"),
    ("connections/s", "connections_per_s"),
    ("server RSS before (MB)", "rss_before_mb"),
    ("server RSS with viewers (MB)", "rss_after_mb"),
    ("server peak RSS (MB)", "peak_rss_mb"),
    ("KB per idle viewer", "kb_per_viewer"),
    ("viewers that got the live event", "viewers_got_live_event"),
    ("live event p50 (ms)", "live_p50_ms"),
    ("live event p99 (ms)", "live_p99_ms"),
    ("live event max (ms)", "live_max_ms"),
    ("lost events", "lost"),
    ("duplicated events", "duplicated"),
)


def main() -> None:
    """Entry point."""
    args = _parser().parse_args()
    result = asyncio.run(main_async(args))
    print(
        f"\nidle viewers: {args.viewers} over {args.runs} runs, one livebot web process, "
        f"{args.clients} viewer process(es)\n"
    )
    print(table(["metric", "livebot"], [[label, result[key]] for label, key in ROWS]))
    result["bar_kb_per_viewer"] = BAR_KB
    result["bar_met"] = bool(
        result["kb_per_viewer"] <= BAR_KB
        and result["viewers_got_live_event"] == args.viewers
        and not result["lost"]
        and not result["duplicated"]
    )
    print(
        f"\nbar (<= {BAR_KB:g} KB per idle viewer, every viewer gets the live event once): "
        f"{result['kb_per_viewer']} KB -> {'met' if result['bar_met'] else 'NOT met'}"
    )
    write_json(args.json, result)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
