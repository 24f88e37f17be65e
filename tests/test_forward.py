"""`livebot serve --forward`: the app's deliveries read from the fake GitHub's deliveries API and
taken in as /webhook takes them in; nothing replayed, neither old deliveries nor after a restart."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from livebot.github.client import GitHubApp
from livebot.intake.forward import NOTICE, Forwarder, forwarding
from livebot.queue.jobs import JobQueue
from livebot.store.keys import FORWARD_AFTER, JOB_STREAM
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.support import (
    ISSUE,
    OWNER,
    REPO,
    SLUG,
    WEBHOOK_SECRET,
    clean_env,
    eventually,
    free_port,
    livebot_process,
    payload,
)
from tests.workers import running

# Seconds between polls in these tests (2 s in use); each poll signs a JWT, and the fake GitHub
# checks it in the test's own event loop: polls beside running workers are a little slower.
FAST = 0.02
BESIDE_WORKERS = 0.2
SLOW = 30.0  # seconds a run may take on a busy machine


def mention(fake: FakeGitHub, body: str = f"@{SLUG} why does it crash?") -> dict[str, Any]:
    """A mention of the app on the fake issue, and the delivery GitHub records of it."""
    comment = fake.add_comment(OWNER, REPO, ISSUE, body, user="Codertocat")
    data = payload("issue_comment", "created.payload.json", body=body)
    data["issue"].pop("pull_request", None)
    data["comment"]["id"] = comment["id"]
    return fake.add_delivery(status_code=502, payload=data)  # GitHub could not reach us


def forwarder(services: WorkerServices, queue: JobQueue) -> Forwarder:
    """A forwarder over the worker's GitHub client and Redis."""
    return Forwarder(services.github, services.redis, queue, SLUG)


def answers(fake: FakeGitHub) -> list[str]:
    """The bodies of the app's comments in the issue."""
    return [
        c["body"]
        for c in fake.comments_on(OWNER, REPO, ISSUE)
        if c["user"]["login"] == fake.bot_login
    ]


async def test_a_delivery_listed_by_github_becomes_a_posted_answer(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="It crashes because of X."))
    polls = forwarder(worker_services, queue)
    async with running(worker_services, redis_client), forwarding(polls, interval=BESIDE_WORKERS):
        await eventually(lambda: redis_client.exists(FORWARD_AFTER), "the first poll", seconds=SLOW)
        mention(fake_github)
        await eventually(
            lambda: any(b.startswith("It crashes because of X.") for b in answers(fake_github)),
            "the answer",
            seconds=SLOW,
        )
    [detail] = fake_github.requests_to("GET", "/app/hook/deliveries/*")
    assert detail.path.endswith(str(fake_github.deliveries[-1]["id"]))


async def test_the_first_run_does_not_replay_older_deliveries(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    mention(fake_github)
    mention(fake_github)
    polls = forwarder(worker_services, queue)
    assert await polls.poll() == 0  # notes where GitHub's list stands
    assert await polls.poll() == 0
    assert await redis_client.xlen(JOB_STREAM) == 0
    mention(fake_github)
    assert await polls.poll() == 1
    assert await redis_client.xlen(JOB_STREAM) == 1


async def test_a_restart_does_not_replay_and_a_redelivery_is_taken_in_once(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    assert await forwarder(worker_services, queue).poll() == 0
    first = mention(fake_github)
    assert await forwarder(worker_services, queue).poll() == 1
    restarted = forwarder(worker_services, queue)
    assert await restarted.poll() == 0
    # GitHub sends the same delivery again (its GUID, a new id): already taken in.
    fake_github.add_delivery(guid=first["guid"], redelivery=True, payload={"action": "created"})
    assert await restarted.poll() == 0
    assert len(fake_github.requests_to("GET", "/app/hook/deliveries/*")) == 1
    assert await redis_client.xlen(JOB_STREAM) == 1


async def test_github_away_is_one_line_per_outage(
    worker_services: WorkerServices,
    queue: JobQueue,
    fake_github: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="livebot.intake.forward")
    async with aiohttp.ClientSession() as session:
        # One attempt a poll, as `livebot serve --forward` builds it: the poll is the retry.
        app = GitHubApp(
            session,
            app_id=fake_github.app_id,
            private_key=fake_github.private_key_pem,
            api_url=fake_github.url,
            max_attempts=1,
        )
        fake_github.fail_next("GET", "/app/hook/deliveries", status=502, times=4)
        polls = Forwarder(app, worker_services.redis, queue, SLUG)
        async with forwarding(polls, interval=FAST):
            await eventually(
                lambda: "forwarding resumed after 4 failed polls" in caplog.text,
                "the recovery",
                seconds=SLOW,
            )
    lines = [r for r in caplog.records if r.name.startswith(("livebot", "gidgethub"))]
    warnings = [r.getMessage() for r in lines if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "forwarding paused" in warnings[0], warnings
    assert all(r.exc_info is None for r in lines)


async def test_serve_forward_answers_without_a_public_url(
    fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    """The app's webhook points elsewhere and PUBLIC_URL at this machine: with --forward, serve
    starts, says what it is for, and answers a mention GitHub could not deliver."""
    fake_openai.script(Reply(text="Forwarded, and answered."))
    port = free_port()
    env = clean_env(
        GITHUB_APP_ID=str(fake_github.app_id),
        GITHUB_PRIVATE_KEY=fake_github.private_key_pem,
        GITHUB_API_URL=fake_github.url,
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.url,
        REDIS_URL=redis_url,
        PUBLIC_URL=f"http://localhost:{port}",
        LIVEBOT_DATA_DIR=str(tmp_path / "data"),
        LIVEBOT_LOG_FORMAT="json",
    )
    server = livebot_process(
        "serve", "--forward", port=port, env=env, log_path=tmp_path / "serve.log", cwd=tmp_path
    )
    await server.start()
    try:
        assert NOTICE in server.log()
        await eventually(
            lambda: "forwarding deliveries newer than" in server.log(), "first poll", seconds=SLOW
        )
        mention(fake_github)
        await eventually(
            lambda: any(b.startswith("Forwarded, and answered.") for b in answers(fake_github)),
            "the answer",
            seconds=SLOW,
        )
        forwarded = [
            json.loads(line) for line in server.log().splitlines() if "delivery forwarded" in line
        ]
        assert [entry["message"] for entry in forwarded] == ["delivery forwarded"]
    finally:
        await server.stop()


async def test_more_new_deliveries_than_a_page_are_all_taken_in_oldest_first(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    polls = forwarder(worker_services, queue)
    assert await polls.poll() == 0
    pings = [
        fake_github.add_delivery("ping", None, payload={"zen": "Keep it simple."})
        for _ in range(40)
    ]
    mention(fake_github)
    assert await polls.poll() == 41  # two pages of the list, by GitHub's cursor
    details = fake_github.requests_to("GET", "/app/hook/deliveries/*")
    assert [q.path.rsplit("/", 1)[1] for q in details[:40]] == [str(p["id"]) for p in pings]
    assert await redis_client.xlen(JOB_STREAM) == 1  # pings start nothing
    assert await polls.poll() == 0
