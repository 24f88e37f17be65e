"""Fixtures: a real redis-server started by the suite, settings, the web app."""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from livebot.core.settings import Settings
from livebot.queue.jobs import JobQueue
from livebot.runs.log import RunLog
from livebot.services import open_services
from livebot.store.client import RedisClient, connect
from livebot.web.app import create_app
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.fake_openai import FakeOpenAI
from tests.postgres import PostgresServer, running_postgres
from tests.support import ISSUE, OWNER, REPO, SLUG, WEBHOOK_SECRET, RedisServer, free_port
from tests.workers import open_worker_services, worker_settings

AppClient = TestClient[web.Request, web.Application]  # a test client of the web app
WebClient = Callable[..., Awaitable[AppClient]]
# The ports a developer's other apps most often hold; the suite must pass with them taken.
COMMON_PORTS = (3000, 8080)


@pytest.fixture(scope="session", autouse=True)
def common_ports_taken() -> Iterator[list[int]]:
    """Hold 3000 and 8080 on every address for the whole suite (those not already held).

    No test may depend on a fixed port being free; a test that does fails here as it would on
    a developer's machine.
    """
    held: list[socket.socket] = []
    for port in COMMON_PORTS:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind(("0.0.0.0", port))
            probe.listen()
        except OSError:
            probe.close()  # someone else holds it already: the condition holds anyway
            continue
        held.append(probe)
    yield [s.getsockname()[1] for s in held]
    for probe in held:
        probe.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the suite's own, on a free port."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start_blocking()
    yield server.url
    server.stop_blocking()


@pytest.fixture
async def redis_url(redis_server: str) -> str:
    """The suite's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[RedisClient]:
    """A client of the suite's Redis."""
    client = await connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def run_log(redis_client: Redis) -> RunLog:
    """A run log on the suite's Redis."""
    return RunLog(redis_client, ttl_seconds=3600)


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    """Settings for an app on the suite's Redis."""
    return Settings(
        github_webhook_secret=WEBHOOK_SECRET,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        run_ttl_seconds=3600,
        # `livebot web` checks its PORT is free at start: never a fixed port another holds.
        port=free_port(),
    )


@pytest.fixture
async def web_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> AsyncIterator[WebClient]:
    """Make a test client of the web app over the services `livebot web` builds for settings."""
    async with AsyncExitStack() as stack:

        async def make(settings: Settings, **app_options: Any) -> AppClient:
            settings = dataclasses.replace(
                settings, github_app_slug=settings.github_app_slug or SLUG
            )
            services = await stack.enter_async_context(open_services(settings, "web"))
            return await aiohttp_client(create_app(services, **app_options))

        yield make


@pytest.fixture
async def fake_github() -> AsyncIterator[FakeGitHub]:
    """GitHub's REST API, faked on loopback, with one repository and issue."""
    async with FakeGitHub() as fake:
        fake.add_repo(OWNER, REPO, description="A demo repository")
        fake.add_file(OWNER, REPO, "README.md", "# hello-world\n")
        fake.add_issue(OWNER, REPO, ISSUE, "Why does it crash?", "It crashes on start.")
        yield fake


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """The OpenAI API, faked on loopback."""
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def worker_services(
    settings: Settings, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> AsyncIterator[WorkerServices]:
    """The services `livebot worker` builds, wired to the fakes, with short times."""
    async with open_worker_services(worker_settings(settings, fake_github, fake_openai)) as svc:
        yield svc


@pytest.fixture
async def queue(redis_client: Redis) -> JobQueue:
    """The job queue, with its consumer group."""
    queue = JobQueue(redis_client)
    await queue.ensure_group()
    return queue


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL of the suite's own, on a free port (never a shared server)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the suite's PostgreSQL."""
    return postgres_server.create_database(f"test_{secrets.token_hex(6)}")


@pytest.fixture
async def oauth() -> AsyncIterator[FakeGitHubOAuth]:
    """GitHub's OAuth endpoints and user API, faked; tests add repositories and readers."""
    fake = FakeGitHubOAuth()
    await fake.start()
    yield fake
    await fake.close()
