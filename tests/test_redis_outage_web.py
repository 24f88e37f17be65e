"""The web tier through a Redis that dies, comes back, or hangs (webhooks, health)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livebot.core.settings import Settings
from livebot.queue.jobs import Job
from livebot.store.client import connect
from livebot.store.keys import JOB_STREAM, range_entries
from tests.conftest import AppClient, WebClient
from tests.support import SLUG, RedisServer, delivery, eventually, payload

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

WEBHOOKS = 40
# The bound: GitHub gives a delivery 10 s, and the web tier answers within 2 s.
HANG_BOUND_SECONDS = 2.0


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own, which it may kill, stop and start again."""
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    if server.running():
        os.kill(server.pid, signal.SIGCONT)
    await server.stop()


@pytest.fixture
async def client(web_client: WebClient, settings: Settings, own_redis: RedisServer) -> AppClient:
    """The web app on that redis-server."""
    return await web_client(
        dataclasses.replace(settings, redis_url=own_redis.url, github_app_slug=SLUG)
    )


async def post_mentions(client: AppClient, count: int, prefix: str) -> list[int]:
    """Post `count` mentions at once; their statuses."""
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?")

    async def one(n: int) -> int:
        raw, headers = delivery("issue_comment", data, delivery_id=f"{prefix}-{n}")
        async with client.post("/webhook", data=raw, headers=headers) as resp:
            return resp.status

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def test_no_webhook_fails_once_healthz_is_back_after_a_redis_kill(
    client: AppClient, own_redis: RedisServer
) -> None:
    # Fill the pool with connections that the restart will leave stale.
    assert await post_mentions(client, WEBHOOKS, "before") == [202] * WEBHOOKS
    own_redis.kill()
    await own_redis.start()

    async def healthy() -> bool:
        return (await client.get("/healthz")).status == 200

    await eventually(healthy, "/healthz to answer 200 again")
    assert await post_mentions(client, WEBHOOKS, "after") == [202] * WEBHOOKS


async def test_webhook_answers_503_quickly_while_redis_hangs_and_a_redelivery_counts(
    client: AppClient, own_redis: RedisServer
) -> None:
    redis_client = await connect(own_redis.url)
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?")
    raw, headers = delivery("issue_comment", data, delivery_id="while-hung")
    os.kill(own_redis.pid, signal.SIGSTOP)
    started = time.monotonic()
    resp = await client.post("/webhook", data=raw, headers=headers)
    waited = time.monotonic() - started
    assert resp.status == 503
    assert waited < HANG_BOUND_SECONDS, f"answered after {waited:.1f} s"
    os.kill(own_redis.pid, signal.SIGCONT)
    # GitHub's redelivery is queued, or found queued already (a command sent before the timeout
    # may run once Redis wakes up): either way the work is there exactly once.
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 202
    assert (await resp.json())["outcome"] in ("queued", "duplicate")
    jobs = [
        Job.decode(fields["job"])
        for _, fields in range_entries(await redis_client.xrange(JOB_STREAM))
    ]
    assert [job.delivery_id for job in jobs] == ["while-hung"]
    await redis_client.aclose()
