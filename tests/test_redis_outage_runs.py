"""A Redis that dies mid-run and comes back (its append-only file intact): every run goes on
where it stopped, with nothing doubled or lost on the page, and no false failure on GitHub."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from livebot.core.settings import Settings
from livebot.github import comments
from livebot.runs.log import RunLog
from livebot.store.client import connect
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.support import ISSUE, OWNER, REPO, RedisServer, eventually
from tests.workers import (
    make_job,
    open_worker_services,
    run_status,
    running,
    worker_settings,
)

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

TEXT = "".join(f"Line {n} of an answer written across an outage.\n" for n in range(1, 31))
RUNS = 3


@pytest.fixture
async def durable_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of this test's own that keeps every write on disk, so a SIGKILL loses nothing."""
    server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    await server.start()
    yield server
    await server.stop()


async def follow(url: str, run_id: str) -> str:
    """A viewer: the run's text, read from the log to its end, reconnecting through outages."""
    client = await connect(url)
    run_log = RunLog(client, ttl_seconds=3600)
    text, after = "", "0-0"
    try:
        while True:
            try:
                events = await run_log.read_after(run_id, after, block_ms=200)
            except (RedisError, OSError):
                await asyncio.sleep(0.1)
                continue
            for event in events:
                after = event.id
                if event.event == "token":
                    text += event.payload()["text"]
                if event.event == "complete":
                    return text
    finally:
        await client.aclose()


@pytest.fixture
async def svc(
    durable_redis: RedisServer,
    settings: Settings,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> AsyncIterator[WorkerServices]:
    """Worker services on the durable Redis, with a claim that outlasts the outage."""
    settings = worker_settings(
        settings, fake_github, fake_openai, redis_url=durable_redis.url, claim_timeout=30.0
    )
    async with open_worker_services(settings) as services:
        yield services


async def test_runs_survive_a_redis_restart_exactly(
    durable_redis: RedisServer,
    svc: WorkerServices,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.default = Reply(text=TEXT, chunk_size=5, delay=0.01)
    run_log = svc.run_log
    jobs = [make_job() for _ in range(RUNS)]
    for job in jobs:
        await svc.queue.enqueue(job)
    viewers = [asyncio.create_task(follow(durable_redis.url, job.run_id)) for job in jobs]
    try:
        async with running(svc, svc.redis):
            for job in jobs:
                await eventually(functools.partial(_some_text, run_log, job.run_id), "text")
            durable_redis.kill()
            await asyncio.sleep(1.0)
            await durable_redis.start()
            for job in jobs:
                ended = run_status(run_log, job.run_id, "succeeded", "failed")
                await eventually(functools.partial(_unless_away, ended), "the end", seconds=60)
        seen = await asyncio.wait_for(asyncio.gather(*viewers), 30)
    finally:
        for viewer in viewers:
            viewer.cancel()

    for job, text in zip(jobs, seen, strict=True):
        assert (await run_log.meta(job.run_id) or {})["status"] == "succeeded"
        assert await run_log.text(job.run_id) == TEXT
        assert text == TEXT
    bot_comments = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert len(bot_comments) == RUNS
    for comment in bot_comments:
        assert comment["body"].startswith(TEXT)
    # No false failure was ever shown, not even for a moment.
    for patch in fake_github.requests_to("PATCH", "/repos/*/issues/comments/*"):
        assert comments.FAILED.split("{")[0] not in patch.json["body"]


async def _unless_away(check: Callable[[], Awaitable[bool]]) -> bool:
    """The check, or False while this test's own client still meets the outage."""
    try:
        return await check()
    except RedisError:
        return False


async def _some_text(run_log: RunLog, run_id: str) -> bool:
    return bool(await run_log.text(run_id))
