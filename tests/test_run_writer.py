"""The run writer's text is exactly the model's, whatever the chunking, timing and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livebot.runs.log import RunLog
from livebot.store.client import connect
from tests.faults import ReplyLosingProxy

# (text, pause in ms before the next piece, lose the reply to the next command)
PIECES = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=300),
        st.integers(min_value=0, max_value=25),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[ReplyLosingProxy]:
    """Redis behind a proxy that can lose replies."""
    proxy = ReplyLosingProxy(redis_url)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def lossy_run_log(proxy: ReplyLosingProxy) -> AsyncIterator[RunLog]:
    """A run log whose client talks to Redis through the proxy (and retries, as in production)."""
    client = await connect(proxy.url)
    yield RunLog(client, ttl_seconds=3600)
    await client.aclose()


async def test_an_append_whose_reply_was_lost_is_not_repeated(
    lossy_run_log: RunLog, proxy: ReplyLosingProxy
) -> None:
    run_log = lossy_run_log
    run_id = await run_log.create(workflow="answer")
    writer = run_log.writer(run_id, await run_log.begin_attempt(run_id))
    await writer.status("running", "Thinking")
    proxy.lose_next_reply = True
    writer.token("exactly once")
    await writer.complete("succeeded")
    assert proxy.replies_lost == 1
    assert [e.event for e in await run_log.history(run_id)] == ["status", "token", "complete"]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pieces=PIECES)
async def test_the_page_text_is_the_model_text(
    lossy_run_log: RunLog, proxy: ReplyLosingProxy, pieces: list[tuple[str, int, bool]]
) -> None:
    """Random pieces, random pauses, replies lost mid-answer: not a character lost or repeated."""
    run_log = lossy_run_log
    run_id = await run_log.create(workflow="answer")
    writer = run_log.writer(run_id, await run_log.begin_attempt(run_id))
    for text, pause_ms, lose in pieces:
        writer.token(text)
        proxy.lose_next_reply = lose
        await asyncio.sleep(pause_ms / 1000)
    proxy.lose_next_reply = False
    await writer.complete("succeeded")
    assert await run_log.text(run_id) == "".join(text for text, _, _ in pieces)


async def test_thinking_is_merged_like_tokens_but_never_into_the_answer(run_log: RunLog) -> None:
    run_id = await run_log.create(workflow="answer")
    writer = run_log.writer(run_id, await run_log.begin_attempt(run_id))
    await writer.status("running", "Thinking")
    # All buffered at once (nothing awaited in between): each run of one kind is one event.
    for piece in ["The user ", "asks why."]:
        writer.thinking(piece)
    for piece in ["It crashes ", "because"]:
        writer.token(piece)
    writer.thinking("Check count.")
    writer.token(" count is 0.")
    await writer.complete("succeeded")
    events = [(e.event, e.payload().get("text")) for e in await run_log.history(run_id)]
    assert events[1:-1] == [
        ("thinking", "The user asks why."),
        ("token", "It crashes because"),
        ("thinking", "Check count."),
        ("token", " count is 0."),
    ]
    assert await run_log.text(run_id) == "It crashes because count is 0."
