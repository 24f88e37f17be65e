"""Helpers for tests that run workers in-process: jobs for the test issue, a running pool."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from livebot.queue.jobs import Job, JobQueue
from livebot.queue.registry import REGISTRY, Registry
from livebot.queue.worker import WorkerPool
from livebot.runs.log import Event, RunLog, new_run_id
from livebot.worker_services import WorkerServices
from tests.support import ISSUE, OWNER, REPO, eventually


def make_job(kind: str = "answer", **changes: object) -> Job:
    """A job for the test issue."""
    base = Job(
        kind=kind,
        run_id=new_run_id(),
        delivery_id=new_run_id(),
        installation_id=4242,
        repository=f"{OWNER}/{REPO}",
        number=ISSUE,
        author="octocat",
        request="why?",
    )
    return dataclasses.replace(base, **changes)


def run_status(run_log: RunLog, run_id: str, *statuses: str) -> Callable[[], Awaitable[bool]]:
    """A check: the run has one of `statuses`."""

    async def check() -> bool:
        meta = await run_log.meta(run_id)
        return bool(meta) and meta["status"] in statuses

    return check


@asynccontextmanager
async def running(
    svc: WorkerServices, redis: Redis, registry: Registry = REGISTRY
) -> AsyncIterator[WorkerPool]:
    """A worker pool (its jobs handled by `registry`) that runs for the block, then stops
    gracefully."""
    workers = WorkerPool(svc, JobQueue(redis), concurrency=2, registry=registry)
    workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


async def run_to_end(
    services: WorkerServices,
    queue: JobQueue,
    redis: Redis,
    job_changes: dict[str, Any],
) -> tuple[str, list[Event]]:
    """Queue one job, run workers until its run ends; (run id, its events)."""
    job = make_job(**job_changes)
    await queue.enqueue(job)
    async with running(services, redis):
        await eventually(
            run_status(services.run_log, job.run_id, "succeeded", "failed", "cancelled"),
            "the run to end",
        )
    return job.run_id, await services.run_log.history(job.run_id)


def payloads(events: list[Event], kind: str) -> list[dict[str, Any]]:
    """The data of every event of one kind."""
    return [e.payload() for e in events if e.event == kind]
