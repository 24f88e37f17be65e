"""`livebot web` starts while GitHub is unreachable: pages are served, deliveries are kept and
routed once GitHub says the app's name."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from redis.asyncio import Redis

from livebot.core.settings import Settings, SettingsError
from livebot.services import open_services
from livebot.store.keys import DEFERRED_DELIVERIES
from livebot.web.app import create_app
from livebot.web.app_keys import APP_NAME, JOB_QUEUE
from tests.conftest import AppClient
from tests.fake_github import FakeGitHub
from tests.support import SLUG, delivery, eventually, payload

MakeClient = Callable[..., Awaitable[AppClient]]


@pytest.fixture
def app_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    """An app whose name is not set: `livebot web` asks GitHub for it."""
    return dataclasses.replace(
        settings,
        github_app_id=fake_github.app_id,
        github_private_key=fake_github.private_key_pem,
        github_api_url=fake_github.url,
        github_app_slug=None,
    )


@pytest.fixture
async def web(
    aiohttp_client: MakeClient, redis_client: Redis
) -> AsyncIterator[Callable[[Settings], Awaitable[AppClient]]]:
    await redis_client.delete(DEFERRED_DELIVERIES)
    async with AsyncExitStack() as stack:

        async def make(settings: Settings) -> AppClient:
            services = await stack.enter_async_context(open_services(settings, "web"))
            return await aiohttp_client(create_app(services))

        yield make


async def test_web_starts_and_queues_a_mention_once_github_answers(
    web: Callable[[Settings], Awaitable[AppClient]],
    app_settings: Settings,
    fake_github: FakeGitHub,
) -> None:
    # GET /app fails at start and on the first background tries (5xx: GitHub away).
    fake_github.fail_next("GET", "/app", status=503, times=3)
    client = await web(app_settings)
    assert client.app[APP_NAME].slug == ""
    assert (await client.get("/healthz")).status == 200
    raw, headers = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=f"@{SLUG} hi")
    )
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 202 and (await resp.json())["outcome"] == "deferred"
    queue = client.app[JOB_QUEUE]
    delivery_id = headers["X-GitHub-Delivery"]
    await eventually(lambda: queue.seen(delivery_id), "the kept delivery queued", seconds=20)
    assert client.app[APP_NAME].slug == SLUG
    # Known now: the next delivery is queued at once.
    raw, headers = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=f"@{SLUG} again")
    )
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert (await resp.json())["outcome"] == "queued"


async def test_a_key_github_refuses_still_stops_the_start(
    app_settings: Settings, fake_github: FakeGitHub
) -> None:
    fake_github.fail_next("GET", "/app", status=401)
    with pytest.raises(SettingsError, match="GET /app failed"):
        async with open_services(app_settings, "web"):
            pass


async def test_other_modes_still_need_the_name_at_start(
    app_settings: Settings, fake_github: FakeGitHub
) -> None:
    fake_github.fail_next("GET", "/app", status=503, times=4)
    with pytest.raises(SettingsError, match="GitHub cannot be reached"):
        async with open_services(app_settings, "redeliver"):
            pass
