"""Calls of one moment sent as one: each caller its own result, errors to all, nothing lost."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from redis.asyncio import Redis

from livebot.core.batching import Batcher
from livebot.queue.jobs import Job, JobQueue
from livebot.store.keys import JOB_STREAM, range_entries
from tests.workers import make_job


class Recorder:
    """A `send` that records each call's items and answers each item doubled."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.error = error

    async def send(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        await asyncio.sleep(0)  # a round trip: later callers submit meanwhile
        if self.error is not None:
            raise self.error
        return [item * 2 for item in items]


async def test_items_of_one_moment_are_one_call_and_each_gets_its_own_result() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert recorder.calls == [list(range(10))]


async def test_an_item_alone_is_sent_alone_and_later_ones_start_a_new_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send)
    assert await batcher.submit(1) == 2
    assert await batcher.submit(2) == 4
    assert recorder.calls == [[1], [2]]


async def test_a_full_batch_is_sent_and_the_rest_go_in_the_next() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send, max_items=4)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert recorder.calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_an_error_of_the_call_reaches_every_caller_of_the_batch() -> None:
    batcher = Batcher(Recorder(error=ConnectionError("Redis is away")).send)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert [str(result) for result in results] == ["Redis is away"] * 3


async def test_a_caller_that_stops_waiting_leaves_its_item_and_the_others_their_results() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send)
    impatient = asyncio.create_task(batcher.submit(1))
    patient = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)  # both submitted, the batch's call under way
    impatient.cancel()
    assert await patient == 4
    assert recorder.calls == [[1, 2]]
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_concurrent_enqueues_are_queued_exactly_once_each(
    queue: JobQueue, redis_client: Redis
) -> None:
    jobs = [make_job(delivery_id=f"delivery-{i}") for i in range(300)]
    # Each delivery twice in the same moment, as GitHub may redeliver: one is queued, one not
    # (which one is up to Redis: batches of one moment race on their own connections).
    again = [dataclasses.replace(job, run_id=job.run_id + "-again") for job in jobs]
    submitted = [*jobs, *again]
    answers = await asyncio.gather(*(queue.enqueue(job) for job in submitted))
    queued = [job for job, answer in zip(submitted, answers, strict=True) if answer]
    assert sorted(job.delivery_id for job in queued) == sorted(job.delivery_id for job in jobs)
    entries = range_entries(await redis_client.xrange(JOB_STREAM))
    assert sorted((Job.decode(fields["job"]) for _, fields in entries), key=str) == sorted(
        queued, key=str
    )
