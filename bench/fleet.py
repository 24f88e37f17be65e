"""Viewer fleets: processes each holding a share of the viewers, and what they received."""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.children import Channel, Child
from bench.servers import raise_fd_limit
from bench.viewers import Viewer, open_raw, run_aiohttp
from livebot.core.settings import Settings
from livebot.runs.links import run_token


@dataclass(frozen=True)
class FleetSpec:
    """What one viewer process connects to."""

    port: int
    paths: tuple[tuple[str, str], ...]  # (run id, path with token)
    client: str = "raw"  # or "aiohttp"
    connect_concurrency: int = 50
    wait_live: bool = True  # report ready only once every viewer has had a live read


def fleet_main(conn: Connection, spec: FleetSpec) -> None:
    """Entry point of a viewer process."""
    raise_fd_limit()
    asyncio.run(_fleet(conn, spec))


async def _fleet(conn: Connection, spec: FleetSpec) -> None:
    channel = Channel(conn)
    viewers = [Viewer(run_id, path) for run_id, path in spec.paths]
    session = None
    if spec.client == "aiohttp":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(spec.connect_concurrency)

    async def connect_one(viewer: Viewer) -> None:
        async with gate:
            if session is None:
                await open_raw(viewer, spec.port)
            else:
                tasks.append(asyncio.create_task(run_aiohttp(viewer, session, spec.port)))
            await viewer.first_chunk

    started = time.monotonic()
    await asyncio.gather(*(connect_one(v) for v in viewers))
    connected = time.monotonic() - started
    if spec.wait_live:
        for viewer in viewers:
            viewer.expect_live()
        await asyncio.gather(*(v.live for v in viewers))
    failed = [v.error for v in viewers if v.error]
    channel.put(
        (
            "ready",
            {
                "viewers": len(viewers),
                "failed": len(failed),
                "errors": sorted(set(failed))[:5],
                "connect_seconds": connected,
            },
        )
    )
    window_start, window_end, expected, timeout = await channel.expect("finish")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(v.closed for v in viewers)), timeout)
    channel.put(("result", _fleet_result(viewers, window_start, window_end, expected)))
    for viewer in viewers:
        viewer.end()
    if session is not None:
        await session.close()
    for task in tasks:
        task.cancel()
    await channel.get()  # the parent's goodbye (or EOF)


def _fleet_result(
    viewers: list[Viewer], window_start: int, window_end: int, expected: dict[str, list[str]]
) -> dict[str, Any]:
    expected_sets = {run: {i.encode() for i in ids} for run, ids in expected.items()}
    latencies = array("q")
    lost = duplicated = unexpected = disordered = mismatched = incomplete = exact = 0
    for viewer in viewers:
        for published, received in viewer.samples:
            if window_start <= published < window_end:
                latencies.append((received - published) // 1000)
        if viewer.error:
            continue
        id_set = expected_sets[viewer.run_id]
        got = set(viewer.ids)
        missing = len(id_set - got)
        extra = len(got - id_set)
        twice = len(viewer.ids) - len(got)
        out_of_order = viewer.ids != sorted(viewer.ids, key=_id_key)
        lost += missing
        unexpected += extra
        duplicated += twice
        disordered += out_of_order
        incomplete += not viewer.complete
        mismatched += bool(missing or extra or twice or out_of_order)
        exact += viewer.complete and not (missing or extra or twice or out_of_order)
    return {
        "latencies_us": latencies.tobytes(),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "out_of_order_viewers": disordered,
        "mismatched_viewers": mismatched,
        "incomplete_viewers": incomplete,
        "exact_viewers": exact,
        "failed_viewers": sum(1 for v in viewers if v.error),
    }


def _id_key(event_id: bytes) -> tuple[int, int]:
    ms, _, seq = event_id.partition(b"-")
    return int(ms), int(seq or 0)


class Fleet:
    """Viewer processes, each holding its share of the viewers."""

    def __init__(self, specs: Iterable[FleetSpec]) -> None:
        self.children = [Child(fleet_main, spec) for spec in specs]

    @property
    def pids(self) -> list[int]:
        """The viewer processes' ids."""
        return [child.pid for child in self.children]

    async def ready(self, within: float) -> dict[str, Any]:
        """Wait until every viewer is connected, has its history and (if asked) a live read."""
        reports = await asyncio.gather(*(c.channel.expect("ready", within) for c in self.children))
        return {
            "viewers": sum(r["viewers"] for r in reports),
            "failed": sum(r["failed"] for r in reports),
            "errors": sorted({e for r in reports for e in r["errors"]})[:5],
            "connect_seconds": max(r["connect_seconds"] for r in reports),
        }

    async def finish(
        self, window: tuple[int, int], expected: dict[str, list[str]], within: float
    ) -> dict[str, Any]:
        """Wait for every stream to end; check delivery against `expected`; merge the results."""
        for child in self.children:
            child.channel.put(("finish", (*window, expected, within)))
        results = await asyncio.gather(
            *(c.channel.expect("result", within + 60) for c in self.children)
        )
        merged: dict[str, Any] = {"latencies_us": array("q")}
        for result in results:
            merged["latencies_us"].frombytes(result.pop("latencies_us"))
            for key, value in result.items():
                merged[key] = merged.get(key, 0) + value
        return merged

    async def stop(self) -> None:
        """Say goodbye and wait for the processes to end."""
        for child in self.children:
            with contextlib.suppress(OSError, ValueError):
                child.channel.put(("bye", None))
        await asyncio.gather(*(c.stop() for c in self.children))


def split_viewers(
    port: int, paths: Sequence[tuple[str, str]], processes: int, **options: Any
) -> list[FleetSpec]:
    """Deal the viewers round-robin over `processes` viewer processes."""
    return [
        FleetSpec(port=port, paths=tuple(paths[i::processes]), **options)
        for i in range(processes)
        if paths[i::processes]
    ]


def viewer_paths(settings: Settings, run_ids: Sequence[str], viewers: int) -> list[tuple[str, str]]:
    """The event-stream paths of `viewers` viewers spread evenly over the runs."""
    paths = []
    for i in range(viewers):
        run_id = run_ids[i % len(run_ids)]
        token = run_token(settings.link_secret, run_id)
        paths.append((run_id, f"/runs/{run_id}/events?token={token}"))
    return paths
