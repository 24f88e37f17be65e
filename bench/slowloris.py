"""Slow clients: `python -m bench.slowloris --connections 3000 --seconds 30`.

Starts a throw-away `redis-server` and `livebot web` under `ulimit -n 1024` (soft and hard), then
holds `--connections` slow clients against it for `--seconds` (half trickle a request head that
never ends, half a webhook body a byte a second; what the server closes is opened again a second
later) while /healthz is probed on a new connection every 200 ms from a process of its own.
Reports /healthz latency, how many probes answered 200, the most descriptors the server held, and
the size of its log. Bar: every probe 200, p99 <= 100 ms, no "Too many open files", log < 1 MB.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final

from bench.measure import RESULTS_DIR, latency_summary, table, write_json
from bench.servers import WEBHOOK_SECRET, bench_redis, raise_fd_limit, temp_folder
from tests.slowloris import DESCRIPTOR_LIMIT, attack, limited_web_server
from tests.support import SLUG

BAR_P99_MS: Final = 100.0
BAR_LOG_BYTES: Final = 1_000_000


async def run(connections: int, seconds: float) -> dict[str, Any]:
    """One attack; its results."""
    redis = bench_redis()
    await redis.start()
    server = limited_web_server(temp_folder("slowloris"), redis.url, WEBHOOK_SECRET, SLUG)
    try:
        await server.start()
        probes, seen, most = await attack(server, connections, seconds)
        alive = server.running()
    finally:
        await server.stop()
        await redis.stop()
    log = server.log()
    summary = latency_summary(int(ms * 1000) for _, ms in probes)
    answered = sum(1 for status, _ in probes if status == 200)
    return {
        "connections": connections,
        "seconds": seconds,
        "descriptor_limit": DESCRIPTOR_LIMIT,
        "healthz": summary,
        "healthz_200": answered,
        "client_connects": seen["connected"],
        "closed_by_server": seen["closed by server"] + seen["reset by server"],
        "server_max_fds": most,
        "server_alive": alive,
        "log_bytes": len(log.encode()),
        "too_many_open_files": "Too many open files" in log,
        "tracebacks": log.count("Traceback"),
        "log": str(server.log_path),
        "passed": alive
        and answered == len(probes)
        and (summary["p99_ms"] or 0) <= BAR_P99_MS
        and len(log.encode()) < BAR_LOG_BYTES
        and "Too many open files" not in log,
    }


def main() -> None:
    """Run, print a table, write bench/results/slowloris.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.slowloris")
    parser.add_argument("--connections", type=int, default=3_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    raise_fd_limit()
    result = asyncio.run(run(args.connections, args.seconds))
    h = result["healthz"]
    print(
        table(
            [
                "slow clients",
                "probes",
                "200",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "fds max",
                "connects",
                "log bytes",
                "EMFILE",
                "passed",
            ],
            [
                [
                    result["connections"],
                    h["count"],
                    result["healthz_200"],
                    h["p50_ms"],
                    h["p90_ms"],
                    h["p99_ms"],
                    h["max_ms"],
                    result["server_max_fds"],
                    result["client_connects"],
                    result["log_bytes"],
                    result["too_many_open_files"],
                    result["passed"],
                ]
            ],
        )
    )
    write_json(RESULTS_DIR / "slowloris.json", result)


if __name__ == "__main__":
    main()
