"""Health, metrics and structured logs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from livebot.core.logs import JsonFormatter
from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.web.app_keys import LINK_SECRET
from tests.conftest import AppClient, WebClient
from tests.support import SLUG, RedisServer, delivery, payload

ClientFactory = Callable[..., Awaitable[AppClient]]


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A running redis-server of this test's own, which it may stop and start again."""
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client_on_own_redis(
    web_client: WebClient, settings: Settings, own_redis: RedisServer
) -> AppClient:
    """The web app (webhooks included) on that redis-server."""
    settings = dataclasses.replace(settings, redis_url=own_redis.url, github_app_slug=SLUG)
    return await web_client(settings)


async def test_healthz_is_503_while_redis_is_down_and_recovers(
    client_on_own_redis: AppClient, own_redis: RedisServer
) -> None:
    client = client_on_own_redis
    assert (await client.get("/healthz")).status == 200
    await own_redis.stop()
    down = await client.get("/healthz")
    assert down.status == 503
    assert (await down.json())["redis"] == "down"
    await own_redis.start()
    for _ in range(100):
        if (await client.get("/healthz")).status == 200:
            break
        await asyncio.sleep(0.05)
    assert (await client.get("/healthz")).status == 200


async def test_metrics_are_prometheus_text(web_client: WebClient, settings: Settings) -> None:
    client = await web_client(settings)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "livebot_sse_viewers" in text and "livebot_webhook_seconds_bucket" in text


def test_log_lines_are_json_with_their_ids() -> None:
    record = logging.LogRecord(
        "livebot.queue.worker", logging.INFO, __file__, 1, "job %s", ("done",), None
    )
    record.run_id = "abc"
    record.delivery_id = "d-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job done"
    assert (line["run_id"], line["delivery_id"], line["level"]) == ("abc", "d-1", "info")


async def test_webhook_and_pages_answer_503_while_redis_is_down(
    client_on_own_redis: AppClient, own_redis: RedisServer
) -> None:
    client = client_on_own_redis
    await own_redis.stop()
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?")
    raw, headers = delivery("issue_comment", data, delivery_id="while-down")
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 503
    assert "redeliver" in (await resp.json())["error"]
    token = run_token(client.app[LINK_SECRET], "a" * 32)
    assert (await client.get(f"/runs/{'a' * 32}/state?token={token}")).status == 503
    await own_redis.start()
    for _ in range(100):
        resp = await client.post("/webhook", data=raw, headers=headers)
        if resp.status != 503:
            break
        await asyncio.sleep(0.05)
    # Nothing was marked as seen while Redis was down: the redelivery is queued.
    assert resp.status == 202 and (await resp.json())["outcome"] == "queued"
