"""`cancel`: stop the work running in a thread; the placeholder says who cancelled it."""

from __future__ import annotations

import asyncio
from typing import Final

from bot import comments
from bot.jobs import Job
from bot.run_log import RunLog, RunNotFound
from bot.services import Services
from bot.workflows.replies import reply

POLL_SECONDS: Final = 1.0
CANCELLED_BY: Final = "cancel_requested_by"


def thread_key(repository: str, number: int) -> str:
    """The set of runs active in one thread."""
    return f"livebot:{{thread:{repository}#{number}}}:runs"


async def track(run_log: RunLog, job: Job) -> None:
    """Note that the job's run is active in its thread."""
    key = thread_key(job.repository, job.number)
    async with run_log.redis.pipeline(transaction=True) as pipe:
        pipe.sadd(key, job.run_id)
        pipe.expire(key, run_log.ttl_seconds)
        await pipe.execute()


async def untrack(run_log: RunLog, job: Job) -> None:
    """The job's run is no longer active."""
    await run_log.redis.srem(thread_key(job.repository, job.number), job.run_id)


async def request_cancel(services: Services, job: Job) -> None:
    """Ask every run active in the thread to stop; say so when there is none."""
    run_log = services.run_log
    run_ids = await run_log.redis.smembers(thread_key(job.repository, job.number))
    asked = 0
    for run_id in run_ids:
        try:
            await run_log.update(run_id, **{CANCELLED_BY: job.author})
            asked += 1
        except RunNotFound:
            await run_log.redis.srem(thread_key(job.repository, job.number), run_id)
    if not asked:
        await reply(services, job, comments.NOTHING_TO_CANCEL)


async def wait_for_cancel(run_log: RunLog, run_id: str) -> str:
    """Return who cancelled the run, once someone does."""
    while True:
        meta = await run_log.meta(run_id)
        if meta and meta.get(CANCELLED_BY):
            return meta[CANCELLED_BY]
        await asyncio.sleep(POLL_SECONDS)
