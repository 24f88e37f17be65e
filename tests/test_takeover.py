"""Attempts that overlap: a paused worker that wakes after another took its run over, and a
restarted `livebot serve` that finishes its own abandoned job at once."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from tests import test_end_to_end
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import answer
from tests.support import eventually
from tests.test_end_to_end import (
    StartServe,
    bot_comments,
    comment_posts,
    events_url,
    mention_on_github,
    placeholder,
    post_delivery,
    read_run,
    read_until,
)

livebot = test_end_to_end.livebot  # the fixture that starts `livebot serve` processes
# What a worker logs when it is done with a job, one way or another.
JOB_ENDINGS = ("job taken over", "job done", "job failed")
LONG_TEXT = "".join(f"{n}. Step {n}, in a sentence of its own.\n" for n in range(1, 41))


@pytest.mark.slow
async def test_a_paused_worker_that_wakes_up_after_a_takeover_changes_nothing(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    # A writes slowly and is paused midway; B takes the run over and finishes it.
    fake_openai.script(
        Reply(text=LONG_TEXT, chunk_size=4, delay=0.01),
        Reply(text=LONG_TEXT, chunk_size=8, delay=0.001),
    )
    server_a = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        status, _ = await post_delivery(session, server_a, raw, headers)
        assert status == 202
        found = await placeholder(fake_github)
        async with asyncio.timeout(10), session.get(found.events_url) as resp:
            await read_until(resp, lambda events: len(answer(events)) >= 100)
            server_a.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            server_b = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
            events = await read_run(session, events_url(server_b, found.run_id), seconds=30)
            (final,) = bot_comments(fake_github)
            finished_body = final["body"]
        finally:
            server_a.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        # A wakes with text still to write and an answer of its own to post: it must not.
        await eventually(lambda: _woke(server_a.log()), "A to be done with its job", seconds=15)
        replay = await read_run(session, events_url(server_b, found.run_id))

    assert events[-1].data["status"] == "succeeded"
    assert answer(events) == LONG_TEXT
    assert answer(replay) == LONG_TEXT  # nothing appended after the takeover, nor after the end
    # The run's own events (a live stream also says how many watch: `viewers`, without an id).
    run_events = [e.event for e in events if e.event != "viewers"]
    assert [e.event for e in replay if e.event != "viewers"] == run_events
    (final,) = bot_comments(fake_github)
    assert final["body"] == finished_body and final["body"].startswith(LONG_TEXT)
    assert len(comment_posts(fake_github)) == 1
    patches = fake_github.requests_to("PATCH", f"/repos/*/issues/comments/{final['id']}")
    assert patches[-1].json["body"] == finished_body
    assert "could not finish" not in finished_body


def _woke(log: str) -> bool:
    return any(ending in log for ending in JOB_ENDINGS)


@pytest.mark.slow
async def test_a_restarted_serve_finishes_its_own_abandoned_job_at_once(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(
        Reply(text=LONG_TEXT, chunk_size=4, delay=0.02),
        Reply(text=LONG_TEXT, chunk_size=8, delay=0.001),
    )
    # The default claim timeout: another worker would wait a whole minute for it.
    server_a = await livebot()
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        status, _ = await post_delivery(session, server_a, raw, headers)
        assert status == 202
        found = await placeholder(fake_github)
        async with asyncio.timeout(10), session.get(found.events_url) as resp:
            await read_until(resp, lambda events: len(answer(events)) >= 100)
            server_a.kill()
        server_b = await livebot()
        events = await read_run(session, events_url(server_b, found.run_id), seconds=20)

    assert events[-1].data["status"] == "succeeded"
    assert answer(events) == LONG_TEXT
    (final,) = bot_comments(fake_github)
    assert final["body"].startswith(LONG_TEXT)
    assert "took over a dead consumer's jobs" in server_b.log()
