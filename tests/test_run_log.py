"""The run log on a real Redis: append, read, follow, coalescing, expiry, hash tags."""

from __future__ import annotations

import asyncio
import re

import pytest
from redis.asyncio import Redis

from livebot.runs.bell import BellFrame
from livebot.runs.log import (
    MIN_APPEND_SECONDS,
    RunComplete,
    RunLog,
    RunNotFound,
    StaleAttempt,
    id_order,
    new_run_id,
)
from livebot.store import keys
from tests.support import eventually


def test_run_ids_are_random_and_long_enough() -> None:
    ids = {new_run_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) * 4 >= 122 and re.fullmatch(r"[0-9a-f]+", i) for i in ids)


def _hash_tag(key: str) -> str:
    """The part of a Redis key between braces, which picks its cluster slot."""
    match = re.search(r"\{([^}]*)\}", key)
    assert match is not None, key
    return match.group(1)


def test_every_key_of_a_run_shares_one_hash_tag() -> None:
    run_id = new_run_id()
    tags = {_hash_tag(key) for key in (keys.run_meta(run_id), keys.run_events(run_id))}
    assert tags == {f"run:{run_id}"}


async def test_append_and_read_history(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment", repository="o/r", number=7)
    first = await run_log.append(run_id, "status", {"state": "running", "message": "Reading"})
    second = await run_log.append(run_id, "token", {"text": "Hello"})
    events = await run_log.history(run_id)
    assert [e.id for e in events] == [first, second]
    assert [e.event for e in events] == ["status", "token"]
    assert events[1].payload() == {"text": "Hello"}
    assert id_order(second) > id_order(first)
    assert [e.id for e in await run_log.history(run_id, after=first)] == [second]
    meta = await run_log.meta(run_id)
    assert meta is not None
    assert (meta["status"], meta["repository"], meta["number"]) == ("running", "o/r", "7")


async def test_status_follows_events_and_complete_seals_the_run(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment")
    meta = await run_log.meta(run_id)
    assert meta is not None and meta["status"] == "queued"
    await run_log.append(run_id, "status", {"state": "running", "message": "x"})
    meta = await run_log.meta(run_id)
    assert meta is not None and meta["status"] == "running"
    await run_log.append(
        run_id,
        "complete",
        {
            "status": "succeeded",
            "comment_url": "https://github.com/o/r/issues/1#c",
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
        },
    )
    meta = await run_log.meta(run_id)
    assert meta is not None and meta["status"] == "succeeded"
    assert (meta["prompt_tokens"], meta["completion_tokens"]) == ("10", "3")
    assert meta["comment_url"].endswith("#c")
    with pytest.raises(RunComplete):
        await run_log.append(run_id, "token", {"text": "late"})
    assert (await run_log.history(run_id))[-1].event == "complete"


async def test_unknown_run_and_unknown_event_are_refused(run_log: RunLog) -> None:
    with pytest.raises(RunNotFound):
        await run_log.append(new_run_id(), "token", {"text": "x"})
    run_id = await run_log.create(workflow="comment")
    with pytest.raises(ValueError):
        await run_log.append(run_id, "gossip", {})
    with pytest.raises(ValueError):
        await run_log.append(run_id, "complete", {"status": "running"})


async def test_finished_run_expires_after_the_ttl(redis_client: Redis) -> None:
    run_log = RunLog(redis_client, ttl_seconds=1)
    run_id = await run_log.create(workflow="comment")
    await run_log.append(run_id, "token", {"text": "bye"})
    await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})
    assert 0 < await redis_client.ttl(keys.run_events(run_id)) <= 1

    async def gone() -> bool:
        return await run_log.meta(run_id) is None and await run_log.history(run_id) == []

    await eventually(gone, "the run to expire", seconds=5)


async def test_an_unfinished_run_expires_too(run_log: RunLog, redis_client: Redis) -> None:
    run_id = await run_log.create(workflow="comment")
    assert 0 < await redis_client.ttl(keys.run_meta(run_id)) <= run_log.ttl_seconds


async def test_follow_returns_new_events(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment")
    cursor = await run_log.last_id(run_id)
    assert cursor == "0-0"
    waiting = asyncio.create_task(run_log.read_after(run_id, cursor, block_ms=2000))
    await asyncio.sleep(0.05)
    appended = await run_log.append(run_id, "token", {"text": "live"})
    events = await waiting
    assert [(e.id, e.payload()["text"]) for e in events] == [(appended, "live")]


async def test_coalescing_joins_tokens_and_loses_nothing(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment")
    writer = run_log.writer(run_id)
    pieces = [f"w{i} " for i in range(500)]
    for i, piece in enumerate(pieces):
        writer.token(piece)
        if i % 50 == 0:
            await asyncio.sleep(0.001)
    await writer.status("running", "still going")
    writer.token("tail")
    await writer.complete("succeeded", usage={"prompt_tokens": 1, "completion_tokens": 2})
    events = await run_log.history(run_id)
    tokens = [e for e in events if e.event == "token"]
    assert "".join(e.payload()["text"] for e in tokens) == "".join(pieces) + "tail"
    assert len(tokens) < 50, "tokens within the window must become few events"
    kinds = [e.event for e in events]
    assert kinds[-2:] == ["token", "complete"]
    status_at = kinds.index("status")
    assert "".join(e.payload()["text"] for e in events[:status_at]) == "".join(pieces)


async def test_coalescing_flushes_within_the_window(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment")
    writer = run_log.writer(run_id)
    writer.token("soon")

    async def flushed() -> bool:
        return [e.payload()["text"] for e in await run_log.history(run_id)] == ["soon"]

    await eventually(flushed, "the token appended", seconds=1.0)


async def test_an_idle_writer_appends_a_token_at_once(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="comment")
    writer = run_log.writer(run_id)
    writer.min_interval = 60.0
    writer.token("first")
    await eventually(lambda: run_log.text(run_id), "the first token appended")
    assert await run_log.text(run_id) == "first"
    assert writer.appends == 1


async def test_a_fast_model_costs_at_most_one_append_per_interval(run_log: RunLog) -> None:
    """A token every millisecond: text exact, appends bounded by the minimum interval."""
    run_id = await run_log.create(workflow="comment")
    writer = run_log.writer(run_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pieces = [f"t{i} " for i in range(1000)]
    for piece in pieces:
        writer.token(piece)
        await asyncio.sleep(0.001)
    await writer.complete("succeeded")
    elapsed = loop.time() - started
    assert await run_log.text(run_id) == "".join(pieces)
    tokens = [e for e in await run_log.history(run_id) if e.event == "token"]
    assert len(tokens) <= elapsed / MIN_APPEND_SECONDS + 2, (len(tokens), elapsed)


async def test_a_repeated_append_is_applied_once(run_log: RunLog) -> None:
    """A retry after a lost reply (same writer sequence) adds nothing and answers the same id."""
    run_id = await run_log.create(workflow="comment")
    first = await run_log.append(run_id, "token", {"text": "once"}, writer_seq="w:1")
    again = await run_log.append(run_id, "token", {"text": "once"}, writer_seq="w:1")
    assert again == first
    await run_log.append(run_id, "complete", {"status": "succeeded"}, writer_seq="w:2")
    assert await run_log.append(run_id, "complete", {"status": "succeeded"}, writer_seq="w:2")
    assert [e.event for e in await run_log.history(run_id)] == ["token", "complete"]


async def test_every_event_is_published_with_its_offset(
    run_log: RunLog, redis_client: Redis
) -> None:
    run_id = await run_log.create(workflow="comment")
    assert await run_log.position(run_id) == (0, "0-0")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.run_bell(run_id))
    await pubsub.get_message(timeout=1)
    first = await run_log.append(run_id, "token", {"text": "a\nb"})
    second = await run_log.append(run_id, "status", {"state": "running", "message": "m"})
    messages: list[str] = []
    while len(messages) < 2:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if message:
            messages.append(message["data"])
    await pubsub.aclose()
    assert messages == [
        f'1\n{first}\ntoken\n{{"text":"a\\nb"}}',
        f'2\n{second}\nstatus\n{{"state":"running","message":"m"}}',
    ]
    assert await run_log.position(run_id) == (2, second)


async def test_handover_has_no_gap_or_duplicate_under_concurrent_appends(run_log: RunLog) -> None:
    """A reader that takes history and then follows sees every event exactly once."""
    run_id = await run_log.create(workflow="comment")
    total = 300

    async def produce() -> None:
        for i in range(total):
            await run_log.append(run_id, "token", {"text": f"{i},"})
            if i % 7 == 0:
                await asyncio.sleep(0)

    async def consume(start_after: float) -> list[str]:
        await asyncio.sleep(start_after)
        cursor = await run_log.last_id(run_id)
        seen = [
            e.payload()["text"]
            for e in await run_log.history(run_id)
            if id_order(e.id) <= id_order(cursor)
        ]
        while len(seen) < total:
            for event in await run_log.read_after(run_id, cursor, block_ms=1000):
                cursor = event.id
                seen.append(event.payload()["text"])
        return seen

    producer = asyncio.create_task(produce())
    results = await asyncio.gather(*(consume(delay / 1000) for delay in range(0, 40, 4)))
    await producer
    expected = [f"{i}," for i in range(total)]
    assert all(result == expected for result in results)


async def test_a_closed_writer_appends_nothing_later(run_log: RunLog) -> None:
    """A producer cancelled mid-answer must not append behind the worker that resumes it."""
    run_id = await run_log.create(workflow="comment")
    writer = run_log.writer(run_id)
    writer.token("buffered")
    writer.close()
    # Every task that could append for the writer has ended: had close() not stopped its
    # appends, "buffered" would be in the log by then.
    pumps = [t for t in asyncio.all_tasks() if t.get_name() == f"writer:{run_id}"]
    assert pumps, "the writer started no task to append with"
    await asyncio.wait(pumps)
    assert await run_log.history(run_id) == []


async def test_a_stale_attempt_can_write_nothing_once_another_took_over(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="answer")
    first = await run_log.begin_attempt(run_id)
    await run_log.append(run_id, "token", {"text": "A1 "}, epoch=first)
    second = await run_log.begin_attempt(run_id)
    assert second > first
    with pytest.raises(StaleAttempt):
        await run_log.append(run_id, "token", {"text": "A2 "}, epoch=first)
    with pytest.raises(StaleAttempt):
        await run_log.update_fenced(run_id, first, comment_id=1)
    with pytest.raises(StaleAttempt):
        await run_log.record_final(run_id, first, "failed", "internal error")
    # A stale attempt cannot end the run either: the seal is the current attempt's.
    with pytest.raises(StaleAttempt):
        await run_log.append(run_id, "complete", {"status": "failed"}, epoch=first)
    await run_log.append(run_id, "token", {"text": "B"}, epoch=second)
    assert await run_log.text(run_id) == "A1 B"
    assert not await run_log.is_current(run_id, first)
    assert await run_log.is_current(run_id, second)


async def test_the_final_comment_is_decided_once(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="answer")
    first = await run_log.begin_attempt(run_id)
    assert await run_log.record_final(run_id, first, "succeeded", "The answer") == (
        "succeeded",
        "The answer",
    )
    second = await run_log.begin_attempt(run_id)
    # A later failure of the same run cannot replace the answer.
    assert await run_log.record_final(run_id, second, "failed", "⚠️ failed") == (
        "succeeded",
        "The answer",
    )


async def test_a_lease_needs_an_existing_run(run_log: RunLog) -> None:
    with pytest.raises(RunNotFound):
        await run_log.begin_attempt(new_run_id())


def test_a_bell_frame_encodes_to_what_it_decodes_from() -> None:
    frame = BellFrame(7, "1732400000000-3", "token", '{"text":"a\\nb\\n"}')
    assert frame.encode() == b'7\n1732400000000-3\ntoken\n{"text":"a\\nb\\n"}'
    assert BellFrame.decode(frame.encode()) == frame
    assert BellFrame.decode(frame.encode().decode()) == frame
    with pytest.raises(ValueError):
        BellFrame.decode(b"7\n1732400000000-3\ntoken")
    with pytest.raises(ValueError):
        BellFrame.decode(b"seven\n1-0\ntoken\n{}")


async def test_the_append_script_publishes_a_bell_frame_of_the_event(
    run_log: RunLog, redis_client: Redis
) -> None:
    run_id = await run_log.create(workflow="comment")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.run_bell(run_id))
    await pubsub.get_message(timeout=1)
    event_id = await run_log.append(run_id, "token", {"text": "line\nnext"})
    message = None
    while message is None:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    await pubsub.aclose()
    frame = BellFrame.decode(message["data"])
    [event] = await run_log.history(run_id)
    assert frame == BellFrame(1, event_id, event.event, event.data)
    assert (frame.id, frame.event, frame.data) == (event.id, "token", event.data)
    published = message["data"]
    assert frame.encode() == (published.encode() if isinstance(published, str) else published)
