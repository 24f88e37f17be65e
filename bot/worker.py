"""Workers: take jobs from the queue, run them, keep their claims fresh, hand back on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from bot import comments
from bot.jobs import Delivery, JobQueue
from bot.metrics import JOBS, JOBS_RUNNING
from bot.redis_client import connect
from bot.run_log import RunLog
from bot.services import Services, app_slug, github_app, github_session, services
from bot.settings import Settings, SettingsError
from bot.workflows import cancel
from bot.workflows.comment_on_issue import WORKFLOW, comment_on_issue
from bot.workflows.replies import reply
from bot.workflows.runner import execute, give_up

log = logging.getLogger(__name__)

TAKE_BLOCK_MS: Final = 1_000
REPLIES: Final = {
    "help": comments.HELP,
    "refuse": comments.REFUSAL,
    "review": comments.NOT_AVAILABLE,
    "goal": comments.NOT_AVAILABLE,
    "resolve": comments.NOT_AVAILABLE,
}


async def handle(services: Services, delivery: Delivery) -> None:
    """Do what one job asks."""
    job = delivery.job
    if job.kind == "ask":
        await execute(services, job, delivery.times_delivered, WORKFLOW, comment_on_issue)
    elif job.kind == "cancel":
        await cancel.request_cancel(services, job)
    elif job.kind in REPLIES:
        await reply(services, job, REPLIES[job.kind])
    else:
        log.error("unknown job kind", extra={"run_id": job.run_id, "kind": job.kind})


class WorkerPool:
    """Up to `concurrency` jobs at once, from one consumer of the job stream."""

    def __init__(self, services: Services, queue: JobQueue, *, concurrency: int) -> None:
        self.services = services
        self.queue = queue
        self.concurrency = concurrency
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.running: dict[asyncio.Task[None], Delivery] = {}
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None

    @property
    def claim_timeout_ms(self) -> int:
        """How long a job may go without renewal before another worker takes it."""
        return int(self.services.settings.claim_timeout * 1000)

    def start(self) -> None:
        """Start taking jobs."""
        self._loop_task = asyncio.create_task(self._take_jobs(), name="worker-loop")
        self._renew_task = asyncio.create_task(self._renew_claims(), name="worker-renew")
        log.info(
            "workers started", extra={"consumer": self.consumer, "concurrency": self.concurrency}
        )

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish within the grace period, hand back the rest."""
        self._stopping.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.running:
            await asyncio.wait(self.running, timeout=self.services.settings.shutdown_grace)
        unfinished = dict(self.running)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for delivery in unfinished.values():
            await self.queue.requeue(delivery)
            log.info("job handed back", extra={"run_id": delivery.job.run_id})
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task

    async def _take_jobs(self) -> None:
        await self.queue.ensure_group()
        while not self._stopping.is_set():
            free = self.concurrency - len(self.running)
            if free <= 0:
                await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                deliveries = await self.queue.claim_abandoned(
                    self.consumer, self.claim_timeout_ms, free
                ) or await self.queue.take(self.consumer, free, TAKE_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not take jobs; retrying")
                await asyncio.sleep(1)
                continue
            for delivery in deliveries:
                task = asyncio.create_task(self._run(delivery), name=f"job:{delivery.job.run_id}")
                self.running[task] = delivery
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)

    async def _run(self, delivery: Delivery) -> None:
        job = delivery.job
        extra = {
            "run_id": job.run_id,
            "delivery_id": job.delivery_id,
            "kind": job.kind,
            "attempt": delivery.times_delivered,
        }
        JOBS_RUNNING.inc()
        try:
            if delivery.times_delivered > self.services.settings.max_attempts:
                log.error("job dead-lettered", extra=extra)
                await give_up(self.services, job, delivery.times_delivered - 1)
                await self.queue.dead_letter(delivery, "too many attempts")
                JOBS.labels(workflow=job.kind, outcome="dead_letter").inc()
                return
            log.info("job started", extra=extra)
            await handle(self.services, delivery)
            await self.queue.ack(delivery.message_id)
            JOBS.labels(workflow=job.kind, outcome="done").inc()
            log.info("job done", extra=extra)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left pending: another attempt comes after the claim timeout, up to max_attempts.
            JOBS.labels(workflow=job.kind, outcome="error").inc()
            log.exception("job failed; it will be retried", extra=extra)
        finally:
            JOBS_RUNNING.dec()

    async def _renew_claims(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.claim_timeout / 3)
            try:
                await self.queue.renew(self.consumer, [d.message_id for d in self.running.values()])
            except Exception:
                log.warning("could not renew job claims", exc_info=True)


@asynccontextmanager
async def running_workers(services: Services, redis_url: str) -> AsyncIterator[WorkerPool]:
    """A started worker pool, stopped gracefully on exit."""
    # Blocking XREADGROUP holds its connection: the workers get their own client.
    redis = await connect(redis_url)
    pool = WorkerPool(services, JobQueue(redis), concurrency=services.settings.workers)
    pool.start()
    try:
        yield pool
    finally:
        await pool.stop()
        await redis.aclose()


async def worker_main(settings: Settings) -> None:
    """`livebot worker`: workers only, on a shared Redis, until SIGTERM or SIGINT."""
    if not settings.redis_url:
        raise SettingsError("REDIS_URL is required for `livebot worker` (workers share one Redis)")
    settings.require("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "LIVEBOT_LINK_SECRET")
    redis = await connect(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with github_session() as session:
            github = github_app(settings, session)
            slug = await app_slug(settings, github)
            run_log = RunLog(redis, ttl_seconds=settings.run_ttl_seconds)
            async with running_workers(
                services(settings, run_log, github, slug), settings.redis_url
            ):
                await stop.wait()
    finally:
        await redis.aclose()
