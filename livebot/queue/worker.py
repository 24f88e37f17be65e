"""Workers: take jobs from the queue, run them, keep their claims fresh, hand back on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from livebot.core.cancellation import cancel_and_wait
from livebot.core.logs import warn_failure
from livebot.core.metrics import JOBS, JOBS_RUNNING, QUEUE_AGE
from livebot.queue.jobs import ClaimedJob, JobQueue, consumer_name
from livebot.queue.registry import REGISTRY, Registry
from livebot.runs.execution import REDIS_AWAY, give_up, say_delayed
from livebot.runs.log import StaleAttempt
from livebot.store.client import connect
from livebot.worker_services import WorkerServices

log = logging.getLogger(__name__)

TAKE_BLOCK_MS: Final = 1_000
REDIS_RETRY_SECONDS: Final = 0.2
REDIS_RETRY_MAX_SECONDS: Final = 5.0
# A short outage goes unsaid on GitHub; a long one says the answer is delayed, not failed.
DELAYED_AFTER_SECONDS: Final = 30.0
# How often the oldest waiting job's age (a gauge for alerts) is measured.
QUEUE_AGE_SECONDS: Final = 5.0


class WorkerPool:
    """Up to `concurrency` jobs at once, from one consumer of the job stream, each handled by
    `registry`."""

    def __init__(
        self,
        services: WorkerServices,
        queue: JobQueue,
        *,
        concurrency: int,
        registry: Registry = REGISTRY,
    ) -> None:
        self.services = services
        self.queue = queue
        self.concurrency = concurrency
        self.registry = registry
        self.consumer = consumer_name()
        self.running: dict[asyncio.Task[None], ClaimedJob] = {}
        # Jobs another consumer took over: stopped here, neither acked nor handed back.
        self._lost: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        # Set by `stop_now`: the grace period ends at once (jobs are still handed back).
        self._hurry = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._measure_task: asyncio.Task[None] | None = None

    @property
    def claim_timeout_ms(self) -> int:
        """How long a job may go without renewal before another worker takes it."""
        return int(self.services.settings.claim_timeout * 1000)

    def start(self) -> None:
        """Start taking jobs."""
        self._loop_task = asyncio.create_task(self._take_jobs(), name="worker-loop")
        self._renew_task = asyncio.create_task(self._renew_claims(), name="worker-renew")
        self._measure_task = asyncio.create_task(self._measure_queue(), name="worker-queue-age")
        log.info(
            "workers started", extra={"consumer": self.consumer, "concurrency": self.concurrency}
        )

    def waiting_notice(self) -> str:
        """What a first Ctrl-C prints: how long shutdown may wait, and for how many jobs."""
        count = len(self.running)
        jobs = "1 job" if count == 1 else f"{count} jobs"
        grace = self.services.settings.shutdown_grace
        return f"livebot: waiting up to {grace:g} s for {jobs} (Ctrl-C again to stop now)"

    def stop_now(self) -> None:
        """End the grace period at once: unfinished jobs are handed back without waiting."""
        self._hurry.set()

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish within the grace period, hand back the rest."""
        self._stopping.set()
        if self._loop_task is not None:
            await cancel_and_wait([self._loop_task])
        await self._grace()
        unfinished = dict(self.running)
        await cancel_and_wait(unfinished)
        for task, claimed in unfinished.items():
            if task not in self._lost:
                await self._hand_back(claimed)
        await cancel_and_wait([t for t in (self._renew_task, self._measure_task) if t is not None])

    async def _grace(self) -> None:
        """Until the running jobs are done, the grace period is over, or `stop_now`."""
        if not self.running or self._hurry.is_set():
            return
        finished = asyncio.create_task(asyncio.wait(list(self.running)))
        hurry = asyncio.create_task(self._hurry.wait())
        try:
            await asyncio.wait(
                [finished, hurry],
                timeout=self.services.settings.shutdown_grace,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            await cancel_and_wait([finished, hurry])

    async def _hand_back(self, claimed: ClaimedJob) -> None:
        """Requeue one unfinished job; if Redis cannot be reached, say so in one line."""
        extra = {"run_id": claimed.job.run_id}
        try:
            if await self.queue.requeue(claimed, self.consumer):
                log.info("job handed back", extra=extra)
        except Exception as exc:
            # Still pending: another worker takes it over after the claim timeout.
            warn_failure(log, "could not hand the job back; it is retried later", exc, **extra)

    async def _take_jobs(self) -> None:
        await self.queue.ensure_group()
        # A restarted process finishes what it left at once, without waiting for the timeout.
        self._start_all(await self.queue.adopt_orphans(self.consumer))
        while not self._stopping.is_set():
            free = self.concurrency - len(self.running)
            if free <= 0:
                await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                continue
            mine = frozenset(claimed.message_id for claimed in self.running.values())
            try:
                claimed_jobs = await self.queue.claim_abandoned(
                    self.consumer, self.claim_timeout_ms, free, mine
                ) or await self.queue.take(self.consumer, free, TAKE_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                warn_failure(log, "could not take jobs; retrying", exc)
                await asyncio.sleep(1)
                continue
            self._start_all(claimed_jobs)

    def _start_all(self, claimed_jobs: list[ClaimedJob]) -> None:
        for claimed in claimed_jobs:
            task = asyncio.create_task(self._run(claimed), name=f"job:{claimed.job.run_id}")
            self.running[task] = claimed
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)
        self._lost.discard(task)

    async def _run(self, claimed: ClaimedJob) -> None:
        job = claimed.job
        extra = {
            "run_id": job.run_id,
            "delivery_id": job.delivery_id,
            "kind": job.kind,
            "attempt": claimed.times_delivered,
        }
        JOBS_RUNNING.inc()
        try:
            if claimed.times_delivered > self.services.settings.max_attempts:
                log.error("job dead-lettered", extra=extra)
                if job.kind in self.registry.catalog.names:
                    await give_up(self.services, claimed, job.kind)
                await self.queue.dead_letter(claimed, "too many attempts")
                JOBS.labels(workflow=job.kind, outcome="dead_letter").inc()
                return
            log.info("job started", extra=extra)
            if not await self.registry.handle(self.services, claimed):
                log.error("unknown job kind", extra=extra)
            await self.queue.ack(claimed.message_id)
            JOBS.labels(workflow=job.kind, outcome="done").inc()
            log.info("job done", extra=extra)
        except asyncio.CancelledError:
            raise
        except REDIS_AWAY:
            JOBS.labels(workflow=job.kind, outcome="redis_away").inc()
            log.warning("Redis went away mid-job; handed back once it answers", extra=extra)
            await self._hand_back_after_outage(claimed)
        except StaleAttempt:
            # Not acked: the job is the other consumer's now.
            JOBS.labels(workflow=job.kind, outcome="taken_over").inc()
            log.warning("job taken over by another worker; this attempt stopped", extra=extra)
        except Exception:
            # Left pending: another attempt comes after the claim timeout, up to max_attempts.
            JOBS.labels(workflow=job.kind, outcome="error").inc()
            log.exception("job failed; it will be retried", extra=extra)
        finally:
            JOBS_RUNNING.dec()

    async def _hand_back_after_outage(self, claimed: ClaimedJob) -> None:
        """Wait for Redis, then queue the job afresh: an outage burns none of its attempts."""
        began, wait = time.monotonic(), REDIS_RETRY_SECONDS
        while True:
            try:
                await self.queue.requeue(claimed, self.consumer)
                break
            except REDIS_AWAY:
                await asyncio.sleep(wait)
                wait = min(wait * 2, REDIS_RETRY_MAX_SECONDS)
        if time.monotonic() - began >= DELAYED_AFTER_SECONDS:
            await say_delayed(self.services, claimed)

    async def _measure_queue(self) -> None:
        failures = 0
        while True:
            try:
                QUEUE_AGE.set(await self.queue.oldest_waiting_age(int(time.time() * 1000)))
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1:  # one line per outage: the take loop says the rest
                    warn_failure(log, "could not measure the queue's age", exc)
            await asyncio.sleep(QUEUE_AGE_SECONDS)

    async def _renew_claims(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.claim_timeout / 3)
            running = dict(self.running)
            try:
                lost = set(
                    await self.queue.renew(self.consumer, [c.message_id for c in running.values()])
                )
            except Exception as exc:
                warn_failure(log, "could not renew job claims", exc)
                continue
            for task, claimed in running.items():
                if claimed.message_id in lost and not task.done():
                    # Another worker took it over while this one was stalled: stop here.
                    log.warning("job taken over; stopping", extra={"run_id": claimed.job.run_id})
                    self._lost.add(task)
                    task.cancel()


@asynccontextmanager
async def running_workers(services: WorkerServices) -> AsyncIterator[WorkerPool]:
    """A started worker pool, stopped gracefully on exit."""
    # Blocking XREADGROUP holds its connection: the workers get their own client.
    redis = await connect(services.redis_url)
    pool = WorkerPool(services, JobQueue(redis), concurrency=services.settings.workers)
    pool.start()
    try:
        yield pool
    finally:
        await pool.stop()
        await redis.aclose()
