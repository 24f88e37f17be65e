"""Archiving finished runs: `python -m bench.archive --runs 10000`.

Starts Redis and a durable PostgreSQL (fsync on, as in production) of its own, fills Redis with
`--runs` finished runs (a status, `--tokens` coalesced tokens of `--token-chars` characters, and
`complete`, each announced to the finished-runs stream as the run log does), then lets archivers
(`Archiver.consume`, as the worker processes run it) hand them all to PostgreSQL, once with one
archiver and once with `--consumers` of them. Every run must arrive whole, once. Reports runs per
second and the database's bytes per run (tables, indexes and TOAST).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from bench.measure import RESULTS_DIR, table, write_json
from bench.servers import bench_redis
from livebot.archive.archiver import Archiver
from livebot.archive.store import Archive
from livebot.runs.log import RunLog
from livebot.store import keys
from livebot.store.client import connect
from tests.postgres import running_postgres
from tests.support import PUBLIC

FILL_CONCURRENCY = 64
SIZE_QUERY = (
    "SELECT pg_total_relation_size('runs') + pg_total_relation_size('run_events'), "
    "(SELECT count(*) FROM runs), (SELECT count(*) FROM run_events)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000, help="finished runs (default 10000)")
    parser.add_argument("--tokens", type=int, default=40, help="token events per run (default 40)")
    parser.add_argument("--token-chars", type=int, default=60, help="characters per token event")
    parser.add_argument("--consumers", type=int, default=4, help="archivers at once (default 4)")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "archive.json", help="where to write results"
    )
    return parser


async def fill(run_log: RunLog, count: int, tokens: int, chars: int) -> list[str]:
    """`count` finished runs, announced to the archive."""
    text = ("lorem ipsum dolor sit amet, " * (chars // 28 + 1))[:chars]
    run_ids: list[str] = []

    async def one(i: int) -> None:
        run_id = await run_log.create(
            workflow=("answer", "review")[i % 2],
            repository="bench/bench",
            number=i % 500 + 1,
            fields={"author": "octocat", "title": f"Issue {i}", "model": "gpt-bench", **PUBLIC},
        )
        await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
        for _ in range(tokens):
            await run_log.append(run_id, "token", {"text": text})
        await run_log.append(
            run_id,
            "complete",
            {
                "status": "succeeded",
                "comment_url": f"https://github.com/bench/bench/issues/{i}#issuecomment-{i}",
                "usage": {"prompt_tokens": 1200, "completion_tokens": tokens * 12},
            },
        )
        run_ids.append(run_id)

    queue = iter(range(count))

    async def filler() -> None:
        for i in queue:
            await one(i)

    await asyncio.gather(*(filler() for _ in range(FILL_CONCURRENCY)))
    return run_ids


async def measure(run_log: RunLog, archive: Archive, consumers: int, runs: int) -> float:
    """Seconds until `consumers` archivers have emptied the finished-runs stream."""
    archivers = [
        Archiver(run_log, archive, archive_days=365, consumer=f"bench-{n}")
        for n in range(consumers)
    ]
    await archivers[0].ensure_group()
    started = time.perf_counter()
    tasks = [asyncio.create_task(a.consume()) for a in archivers]
    try:
        # Entries are deleted only after their run is committed: an empty stream means done.
        while True:
            if not await run_log.redis.xlen(keys.FINISHED_STREAM):
                return time.perf_counter() - started
            await asyncio.sleep(0.01)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Fill, archive with 1 and with `--consumers` archivers, measure."""
    redis_server = bench_redis()
    await redis_server.start()
    redis = await connect(redis_server.url)
    results: list[dict[str, Any]] = []
    try:
        with running_postgres(durable=True) as postgres:
            archive = await Archive.open(postgres.url(), max_size=max(8, args.consumers * 2))
            try:
                run_log = RunLog(redis, ttl_seconds=86400, announce_finished=True)
                print(f"filling Redis with {args.runs} finished runs…", flush=True)
                run_ids = await fill(run_log, args.runs, args.tokens, args.token_chars)
                for consumers in sorted({1, args.consumers}):
                    if results:  # again, from an empty archive
                        async with archive.pool.connection() as conn:
                            await conn.execute("TRUNCATE runs, run_events")
                        for run_id in run_ids:
                            await redis.xadd(keys.FINISHED_STREAM, {"run": run_id})
                    seconds = await measure(run_log, archive, consumers, args.runs)
                    async with archive.pool.connection() as conn:
                        row = await (await conn.execute(SIZE_QUERY)).fetchone()
                    assert row is not None
                    size, run_rows, event_rows = int(row[0]), int(row[1]), int(row[2])
                    if run_rows != args.runs or event_rows != args.runs * (args.tokens + 2):
                        raise SystemExit(
                            f"archive incomplete: {run_rows} runs, {event_rows} events"
                        )
                    results.append(
                        {
                            "consumers": consumers,
                            "runs": args.runs,
                            "seconds": round(seconds, 3),
                            "runs_per_second": round(args.runs / seconds, 1),
                            "bytes_per_run": round(size / args.runs),
                            "answer_chars_per_run": args.tokens * args.token_chars,
                            "events_per_run": args.tokens + 2,
                        }
                    )
            finally:
                await archive.close()
    finally:
        await redis.aclose()
        await redis_server.stop()
    return {"benchmark": "archive", "fsync": True, "results": results}


def main() -> None:
    """Run the benchmark, print a table, write JSON."""
    args = _parser().parse_args()
    result = asyncio.run(main_async(args))
    header = ["archivers", "runs", "seconds", "runs/s", "DB bytes/run", "answer chars/run"]
    rows = [
        [
            r["consumers"],
            r["runs"],
            r["seconds"],
            r["runs_per_second"],
            r["bytes_per_run"],
            r["answer_chars_per_run"],
        ]
        for r in result["results"]
    ]
    print(table(header, rows))
    write_json(args.json, result)
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
