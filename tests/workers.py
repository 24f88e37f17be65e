"""Helpers for tests that run workers in-process: jobs for the test issue, a running pool."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from bot.jobs import Job, JobQueue
from bot.run_log import RunLog, new_run_id
from bot.services import WorkerServices
from bot.worker import WorkerPool
from tests.support import ISSUE, OWNER, REPO


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
async def running(svc: WorkerServices, redis: Redis) -> AsyncIterator[WorkerPool]:
    """A worker pool that runs for the block, then stops gracefully."""
    workers = WorkerPool(svc, JobQueue(redis), concurrency=2)
    workers.start()
    try:
        yield workers
    finally:
        await workers.stop()
