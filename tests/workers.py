"""Helpers for tests that run workers in-process: jobs for the test issue, a running pool."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from redis.asyncio import Redis

from livebot.core.settings import Settings
from livebot.queue.jobs import Job, JobQueue
from livebot.queue.registry import REGISTRY, Registry
from livebot.queue.worker import WorkerPool
from livebot.runs.log import Event, RunLog, new_run_id
from livebot.services import open_services
from livebot.store.client import RedisClient
from livebot.store.keys import JOB_GROUP, JOB_STREAM
from livebot.worker_services import WorkerServices, worker_services
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI
from tests.support import ISSUE, OWNER, REPO, SLUG, eventually

# Seconds before a first retry, of a GitHub request and of a model turn: no test waits them out.
GITHUB_BACKOFF: Final = 0.01
LLM_RETRY_BACKOFF: Final = 0.0


def worker_settings(
    settings: Settings, github: FakeGitHub, openai: FakeOpenAI, **changes: Any
) -> Settings:
    """`settings` for workers on the fakes, with short claim and grace times and two attempts."""
    fields: dict[str, Any] = {
        "github_app_id": github.app_id,
        "github_private_key": github.private_key_pem,
        "github_api_url": github.url,
        "github_app_slug": SLUG,
        "openai_api_key": openai.api_key,
        "openai_base_url": openai.url,
        "claim_timeout": 0.5,
        "shutdown_grace": 0.2,
        "max_attempts": 2,
    }
    return dataclasses.replace(settings, **{**fields, **changes})


@asynccontextmanager
async def open_worker_services(settings: Settings) -> AsyncIterator[WorkerServices]:
    """The services `livebot worker` builds for `settings`, with the tests' short backoffs."""
    async with open_services(settings, "worker") as services:
        clients = worker_services(
            services, github_backoff=GITHUB_BACKOFF, llm_retry_backoff=LLM_RETRY_BACKOFF
        )
        try:
            yield clients
        finally:
            # As `livebot` does: an unclosed model client is closed by the garbage collector,
            # on whatever event loop is running then, or on none.
            await clients.llm.close()


def make_job(kind: str = "answer", **changes: Any) -> Job:
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
        return meta is not None and meta["status"] in statuses

    return check


@asynccontextmanager
async def running(
    svc: WorkerServices, redis: RedisClient, registry: Registry = REGISTRY
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


async def jobs_drained(redis: Redis) -> bool:
    """Whether every job queued so far was handed out and acknowledged, so its run is over."""
    stream = await redis.xinfo_stream(JOB_STREAM)
    (group,) = [g for g in await redis.xinfo_groups(JOB_STREAM) if g["name"] == JOB_GROUP]
    return bool(group["pending"] == 0 and group["last-delivered-id"] == stream["last-generated-id"])


def payloads(events: list[Event], kind: str) -> list[dict[str, Any]]:
    """The data of every event of one kind."""
    return [e.payload() for e in events if e.event == kind]
