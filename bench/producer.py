"""The runs a benchmark watches and the producer process that appends their token events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from bench.children import Channel, Child
from livebot.runs.log import RunLog
from livebot.store.client import connect
from tests.support import PUBLIC

PRODUCER_CONNECTIONS = 256


async def create_runs(run_log: RunLog, count: int) -> list[str]:
    """`count` running runs, each with one status event in its history."""
    run_ids = []
    for i in range(count):
        run_id = await run_log.create(
            workflow="bench", repository="bench/bench", number=i + 1, fields=PUBLIC
        )
        await run_log.append(run_id, "status", {"state": "running", "message": "benchmark"})
        run_ids.append(run_id)
    return run_ids


def token_text(length: int) -> str:
    """A token's text carrying its publish time, padded to `length` characters."""
    return f"t={time.time_ns()};".ljust(length, "x")


async def complete_runs(run_log: RunLog, run_ids: Iterable[str]) -> None:
    """End every run."""
    await asyncio.gather(
        *(
            run_log.append(
                run_id,
                "complete",
                {"status": "succeeded", "comment_url": None, "usage": {}},
            )
            for run_id in run_ids
        )
    )


async def expected_ids(run_log: RunLog, run_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every event id of every run: what each of its viewers must have received, once."""
    return {run_id: [e.id for e in await run_log.history(run_id)] for run_id in run_ids}


def producer_main(
    conn: Connection, redis_url: str, run_ids: list[str], rate: float, text_length: int
) -> None:
    """Entry point of the producer process: `rate` token events per second per run."""
    asyncio.run(_produce(conn, redis_url, run_ids, rate, text_length))


async def _produce(
    conn: Connection, redis_url: str, run_ids: list[str], rate: float, text_length: int
) -> None:
    channel = Channel(conn)
    # One append in flight per run at most; thousands of connections opened at once fail their
    # handshake on a loaded machine, so the pool stops at PRODUCER_CONNECTIONS (appends are short).
    connections = min(len(run_ids), PRODUCER_CONNECTIONS)
    redis = await connect(redis_url, max_connections=connections)
    run_log = RunLog(redis, ttl_seconds=3600)
    # Every pooled connection is opened before the clock starts, not in the first burst.
    await asyncio.gather(*(redis.ping() for _ in range(connections)))
    channel.put(("ready", None))
    await channel.expect("start")
    loop = asyncio.get_running_loop()
    # Appends wait their turn in order here: redis-py's blocking pool is not fair, and a run
    # starved of a connection for its whole timeout would fail.
    gate = asyncio.Semaphore(connections)
    stopping = asyncio.Event()
    counts = dict.fromkeys(run_ids, 0)
    late = [0.0]
    period = 1 / rate
    begin = loop.time()

    async def one_run(index: int, run_id: str) -> None:
        # Runs are staggered evenly over one period: a steady stream, not bursts.
        due = begin + period * index / len(run_ids)
        while not stopping.is_set():
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late[0] = max(late[0], -delay)
            if stopping.is_set():
                break
            # One append is one event: the benchmark's rate is events per second.
            async with gate:
                await run_log.append(run_id, "token", {"text": token_text(text_length)})
            counts[run_id] += 1
            due += period

    tasks = [asyncio.create_task(one_run(i, r)) for i, r in enumerate(run_ids)]
    stop = asyncio.create_task(channel.expect("stop"))
    done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopping.set()
    if stop not in done:
        failed = next(t for t in done if t.exception() is not None)
        channel.put(("failed", repr(failed.exception())))
        stop.cancel()
        for task in tasks:
            task.cancel()
        return
    await asyncio.gather(*tasks)
    elapsed = loop.time() - begin
    channel.put(
        (
            "stopped",
            {
                "appended": sum(counts.values()),
                "seconds": elapsed,
                "rate": sum(counts.values()) / elapsed,
                "max_late_ms": late[0] * 1000,
            },
        )
    )
    await redis.aclose()
    with contextlib.suppress(EOFError):
        await channel.get()


class Producer:
    """The producer process."""

    def __init__(self, redis_url: str, run_ids: list[str], rate: float, text_length: int) -> None:
        self.child = Child(producer_main, redis_url, run_ids, rate, text_length)

    @property
    def pid(self) -> int:
        """The producer's process id."""
        return self.child.pid

    async def start(self) -> None:
        """Start appending once the producer is connected."""
        await self.child.channel.expect("ready", 30)
        self.child.channel.put(("start", None))

    async def stop(self) -> dict[str, Any]:
        """Stop appending; what it appended."""
        self.child.channel.put(("stop", None))
        report: dict[str, Any] = await self.child.channel.expect("stopped", 30)
        self.child.channel.put(("bye", None))
        await self.child.stop()
        return report


class Producers:
    """Several producer processes sharing the runs, started and stopped together."""

    def __init__(self, producers: list[Producer]) -> None:
        self.producers = producers

    @property
    def pids(self) -> list[int]:
        """The producers' process ids."""
        return [producer.pid for producer in self.producers]

    async def start(self) -> None:
        """Start every producer."""
        await asyncio.gather(*(producer.start() for producer in self.producers))

    async def stop(self) -> dict[str, Any]:
        """Stop every producer; what they appended, together."""
        reports = await asyncio.gather(*(producer.stop() for producer in self.producers))
        appended = sum(report["appended"] for report in reports)
        seconds = max(report["seconds"] for report in reports)
        return {
            "appended": appended,
            "seconds": seconds,
            "rate": appended / seconds,
            "max_late_ms": max(report["max_late_ms"] for report in reports),
        }
