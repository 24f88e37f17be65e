"""Token→viewer latency through the real writer: `python -m bench.tokens --viewers 50`.

The model is played by this process: one run, a token every `--interval-ms` (30 ms: an ordinary
model; 1 ms: a fast one), each token `t=<publish time_ns>;` padded, handed to the production
`RunWriter` exactly as `converse` hands it. The viewers (their own process) read the run's SSE
stream from livebot's web server; every `t=` stamp an event carries is one sample (tokens merged
into one append are each measured from their own publish time). At the end the run is
completed; every viewer must hold every event once, and the run's text must equal the tokens'.
Bars: 30 ms tokens p50 <= 5 ms, p99 <= 10 ms; 1 ms tokens <= 50 appends/s, text exact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Final

from bench.fleet import Fleet, split_viewers, viewer_paths
from bench.measure import RESULTS_DIR, CpuMeter, latency_summary, table, write_json
from bench.producer import create_runs, expected_ids, token_text
from bench.servers import bench_redis, bench_server, bench_settings
from livebot.runs.log import RunLog
from livebot.store.client import connect

BAR_P50_MS: Final = 5.0
BAR_P99_MS: Final = 10.0
BAR_APPENDS_PER_S: Final = 50.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.tokens", description=__doc__)
    parser.add_argument("--viewers", type=int, default=50, help="SSE viewers (default 50)")
    parser.add_argument(
        "--intervals-ms",
        default="30,1",
        help="token intervals to measure, comma-separated ms (default 30,1)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured time per interval")
    parser.add_argument("--text-length", type=int, default=24, help="token text length")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "tokens.json", help="where to write results"
    )
    return parser


async def model(
    run_log: RunLog, run_id: str, interval: float, seconds: float, length: int
) -> dict[str, Any]:
    """Write tokens through the run's writer at `interval` for `seconds`, then complete."""
    writer = run_log.writer(run_id, await run_log.begin_attempt(run_id))
    loop = asyncio.get_running_loop()
    written: list[str] = []
    began = loop.time()
    due = began
    while loop.time() - began < seconds:
        text = token_text(length)
        writer.token(text)
        written.append(text)
        due += interval
        await asyncio.sleep(max(0.0, due - loop.time()))
    elapsed = loop.time() - began
    appends = writer.appends
    await writer.complete("succeeded")
    exact = await run_log.text(run_id) == "".join(written)
    return {
        "tokens": len(written),
        "token_appends": appends,
        "appends_per_s": round(appends / elapsed, 1),
        "text_exact": exact,
    }


async def measure(interval_ms: float, args: argparse.Namespace) -> dict[str, Any]:
    """One interval: a fresh Redis and server, the viewers, the model; the numbers."""
    redis_server = bench_redis()
    await redis_server.start()
    server = bench_server("livebot", redis_server.url)
    await server.start()
    redis = await connect(redis_server.url)
    run_log = RunLog(redis, ttl_seconds=3600)
    fleet = None
    try:
        [run_id] = await create_runs(run_log, 1)
        settings = bench_settings(redis_server.url, server.port)
        paths = viewer_paths(settings, [run_id], args.viewers)
        fleet = Fleet(split_viewers(server.port, paths, 1, wait_live=False))
        await fleet.ready(within=60)
        meter = CpuMeter(
            {
                "server": [server.pid],
                "redis": [redis_server.pid],
                "clients": fleet.pids,
                "bench": [os.getpid()],
            }
        )
        meter.start()
        window_start = time.time_ns()
        written = await model(run_log, run_id, interval_ms / 1000, args.seconds, args.text_length)
        window_end = time.time_ns()
        cpu = meter.stop()
        expected = await expected_ids(run_log, [run_id])
        result = await fleet.finish((window_start, window_end), expected, within=30)
    finally:
        if fleet is not None:
            await fleet.stop()
        await redis.aclose()
        await server.stop()
        with contextlib.suppress(Exception):
            await redis_server.stop()
    summary = latency_summary(result.pop("latencies_us"))
    return {
        "interval_ms": interval_ms,
        **written,
        **summary,
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "exact_viewers": result["exact_viewers"],
        "server_cpu": cpu["server"],
        "machine_busy": cpu["machine"],
    }


ROWS = (
    ("tokens written", "tokens"),
    ("token appends", "token_appends"),
    ("appends/s", "appends_per_s"),
    ("samples (token x viewer)", "count"),
    ("latency p50 (ms)", "p50_ms"),
    ("latency p90 (ms)", "p90_ms"),
    ("latency p99 (ms)", "p99_ms"),
    ("latency max (ms)", "max_ms"),
    ("events lost", "lost"),
    ("events duplicated", "duplicated"),
    ("viewers exact", "exact_viewers"),
    ("run text exact", "text_exact"),
    ("server CPU (% of a core)", "server_cpu"),
    ("machine busy (% of all cores)", "machine_busy"),
)


def verdict(results: list[dict[str, Any]]) -> list[str]:
    """The bars, each met or not."""
    lines = []
    for result in results:
        if result["interval_ms"] >= 10:
            met = result["p50_ms"] <= BAR_P50_MS and result["p99_ms"] <= BAR_P99_MS
            p50, p99 = result["p50_ms"], result["p99_ms"]
            lines.append(
                f"{result['interval_ms']:g} ms tokens: p50 {p50} ms (<= {BAR_P50_MS:g}),"
                f" p99 {p99} ms (<= {BAR_P99_MS:g}) -> {'met' if met else 'NOT met'}"
            )
        else:
            met = result["appends_per_s"] <= BAR_APPENDS_PER_S and result["text_exact"]
            lines.append(
                f"{result['interval_ms']:g} ms tokens: {result['appends_per_s']} appends/s"
                f" (<= {BAR_APPENDS_PER_S:g}), text exact {result['text_exact']}"
                f" -> {'met' if met else 'NOT met'}"
            )
    return lines


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each interval in turn."""
    results = []
    for raw in args.intervals_ms.split(","):
        print(f"measuring a token every {raw} ms …", file=sys.stderr, flush=True)
        results.append(await measure(float(raw), args))
    return results


def main() -> None:
    """Entry point."""
    args = _parser().parse_args()
    results = asyncio.run(main_async(args))
    print(
        f"\ntoken -> viewer: {args.viewers} viewers of one run, {args.seconds:g} s per interval\n"
    )
    print(
        table(
            ["metric", *(f"{r['interval_ms']:g} ms tokens" for r in results)],
            [[label, *(r.get(key) for r in results)] for label, key in ROWS],
        )
    )
    lines = verdict(results)
    print("\n" + "\n".join(lines))
    write_json(args.json, {"viewers": args.viewers, "results": results, "bars": lines})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
