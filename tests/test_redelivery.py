"""Deliveries GitHub gave up on: redelivered after an outage by the web tier, and on demand by
`livebot redeliver --since`, against the fake GitHub's deliveries API."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from livebot.core.settings import Settings
from tests.conftest import WebClient
from tests.fake_github import FakeGitHub
from tests.support import (
    ISSUE,
    RedisServer,
    clean_env,
    delivery,
    eventually,
    livebot_command,
    payload,
)

MINUTE = 60.0


def redelivery_waits() -> float:
    """How many checks of this process found refused deliveries and Redis away."""
    return REGISTRY.get_sample_value("livebot_redelivery_waits_total") or 0.0


def mention() -> tuple[bytes, dict[str, str]]:
    """A signed mention of the app."""
    data = payload("issue_comment", "created.payload.json", body="@livebot-test why?")
    data["issue"].pop("pull_request", None)
    data["issue"]["number"] = ISSUE
    return delivery("issue_comment", data)


async def test_redeliver_since_redelivers_exactly_what_failed_in_the_window(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    now = time.time()
    # In the order GitHub sent them (its ids grow with time).
    fake_github.add_delivery(status_code=503, delivered_at=now - 3 * 60 * MINUTE)  # too old
    timed_out = fake_github.add_delivery(status_code=0, delivered_at=now - 30 * MINUTE)
    again = fake_github.add_delivery(
        status_code=0, guid=timed_out["guid"], delivered_at=now - 25 * MINUTE
    )
    healed = fake_github.add_delivery(status_code=503, delivered_at=now - 20 * MINUTE)
    fake_github.add_delivery(guid=healed["guid"], delivered_at=now - 19 * MINUTE, redelivery=True)
    fake_github.add_delivery(status_code=200, delivered_at=now - 15 * MINUTE)
    recent = fake_github.add_delivery(status_code=503, delivered_at=now - 10 * MINUTE)
    env = clean_env(
        GITHUB_APP_ID=str(fake_github.app_id),
        GITHUB_PRIVATE_KEY=fake_github.private_key_pem,
        GITHUB_API_URL=fake_github.url,
    )
    process = await asyncio.create_subprocess_exec(
        *livebot_command(),
        "redeliver",
        "--since",
        "2h",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()

    # Oldest first; once per delivery (its newest attempt); nothing that succeeded or is older.
    assert fake_github.redeliveries == [again["id"], recent["id"]]
    lines = out.decode().splitlines()
    assert lines[0].split() == ["id", "delivery", "event", "sent", "(UTC)", "status", "outcome"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [str(again["id"]), again["guid"]],
        [str(recent["id"]), recent["guid"]],
    ]
    assert all(line.endswith("redelivered") for line in lines[1:])
    assert "2 failed deliveries redelivered" in err.decode()


async def test_redeliver_needs_a_duration_it_understands(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *livebot_command(),
        "redeliver",
        "--since",
        "two hours",
        env=clean_env(),
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "not a duration like 30m, 2h or 1d" in err.decode()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis this test may stop and start."""
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


async def test_deliveries_refused_while_redis_was_away_are_redelivered_once_it_is_back(
    own_redis: RedisServer,
    web_client: WebClient,
    fake_github: FakeGitHub,
    settings: Settings,
) -> None:
    settings = dataclasses.replace(
        settings,
        redis_url=own_redis.url,
        github_app_id=fake_github.app_id,
        github_private_key=fake_github.private_key_pem,
        github_api_url=fake_github.url,
    )
    client = await web_client(settings, redelivery_check_seconds=0.2)
    waits = redelivery_waits()
    fake_github.add_delivery(status_code=503, delivered_at=time.time() - 2 * 3600)  # long ago
    own_redis.kill()
    raw, headers = mention()
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 503
    # What GitHub records of that answer.
    refused = fake_github.add_delivery(status_code=503, guid=headers["X-GitHub-Delivery"])
    # Two checks found the refused delivery and Redis away: the first would have redelivered.
    await eventually(lambda: redelivery_waits() >= waits + 2, "two checks while Redis is away")
    assert fake_github.redeliveries == []  # not while Redis is away
    await own_redis.start()
    await eventually(lambda: fake_github.redeliveries, "the redelivery", seconds=15)
    assert fake_github.redeliveries == [refused["id"]]
    notes = settings.data_dir / "outages.json"
    await eventually(lambda: not notes.exists(), "the outage notes cleared once redelivered")
