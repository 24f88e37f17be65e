"""Installing the app posts nothing: GitHub's real `installation` and `installation_repositories`
deliveries start no job, and `@livebot help` says how to start."""

from __future__ import annotations

import dataclasses
import json

from redis.asyncio import Redis

from livebot.core.settings import Settings
from livebot.github import comments
from livebot.worker_services import WorkerServices
from tests.conftest import WebClient
from tests.fake_github import FakeGitHub
from tests.support import FIXTURES, ISSUE, OWNER, REPO, SLUG, delivery, eventually, payload
from tests.workers import running

INSTALL_DELIVERIES = [
    ("installation", "created.payload.json"),
    ("installation", "created.with-requester.payload.json"),
    ("installation_repositories", "added.payload.json"),
]


async def test_installing_posts_nothing(
    web_client: WebClient,
    settings: Settings,
    worker_services: WorkerServices,
    redis_client: Redis,
    fake_github: FakeGitHub,
) -> None:
    client = await web_client(dataclasses.replace(settings, github_app_slug=SLUG))
    for event, name in INSTALL_DELIVERIES:
        raw, headers = delivery(event, json.loads((FIXTURES / event / name).read_bytes()))
        resp = await client.post("/webhook", data=raw, headers=headers)
        assert (resp.status, (await resp.json())["outcome"]) == (200, "ignored"), name
    # A mention after them: once the workers have answered it, anything the installs had
    # queued (jobs run in order) would have posted too.
    raw, headers = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=f"@{SLUG} help")
    )
    assert (await client.post("/webhook", data=raw, headers=headers)).status == 202
    async with running(worker_services, redis_client):
        await eventually(lambda: fake_github.comments_on(OWNER, REPO, ISSUE), "the help reply")
    [reply] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert f"To start, mention @{SLUG}" in reply["body"]
    thread = f"/repos/{OWNER}/{REPO}/issues/"
    posts = [r.path for r in fake_github.requests if r.method == "POST"]
    assert posts and all(
        path.startswith(thread) or path.endswith("/access_tokens") for path in posts
    ), posts
    assert comments.HELP_OUTRO.format(slug=SLUG) in reply["body"]
