"""Learnings kept in Redis and in PostgreSQL: the same numbers, bounds, refusals and races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from livebot.archive.learnings import PostgresLearnings
from livebot.archive.store import Archive
from livebot.learnings.store import (
    MAX_CHARS,
    MAX_LEARNINGS,
    LearningRefused,
    Learnings,
    RedisLearnings,
    prompt_section,
)

REPO = "Octo-Org/Widgets"
URL = "https://github.com/octo-org/widgets/pull/1#discussion_r1"


@pytest.fixture(params=["redis", "postgres"])
async def learnings(
    request: pytest.FixtureRequest, redis_client: Redis
) -> AsyncIterator[Learnings]:
    if request.param == "redis":
        yield RedisLearnings(redis_client)
        return
    archive = await Archive.open(request.getfixturevalue("database_url"))
    try:
        yield PostgresLearnings(archive.pool)
    finally:
        await archive.close()


async def test_learn_list_forget_with_stable_numbers(learnings: Learnings) -> None:
    first = await learnings.add(REPO, "  We allow bare\nexcept in scripts/. ", "octocat", URL)
    second = await learnings.add(REPO, "Prefer pathlib.", "hubot", URL)
    assert (first.learning.number, second.learning.number) == (1, 2) and first.created
    assert first.learning.text == "We allow bare except in scripts/."
    # The same rule again keeps its number (a retried job adds nothing).
    again = await learnings.add(REPO.lower(), "We allow bare except in scripts/.", "x", URL)
    assert (again.learning.number, again.created, again.learning.author) == (1, False, "octocat")
    forgotten = await learnings.forget(REPO, 1)
    assert forgotten is not None and forgotten.text == "We allow bare except in scripts/."
    assert await learnings.forget(REPO, 1) is None
    third = await learnings.add(REPO, "Tests use pytest.", "octocat", URL)
    assert third.learning.number == 3  # numbers are never reused
    listed = await learnings.list(REPO)
    assert [(item.number, item.author) for item in listed] == [(2, "hubot"), (3, "octocat")]
    assert await learnings.list("octo-org/other") == []
    assert prompt_section(listed).endswith("1. Prefer pathlib.\n2. Tests use pytest.\n")
    assert prompt_section([]) == ""


async def test_bounds_refuse_with_a_clear_message(learnings: Learnings) -> None:
    with pytest.raises(LearningRefused, match="at most 500"):
        await learnings.add(REPO, "x" * (MAX_CHARS + 1), "octocat", URL)
    with pytest.raises(LearningRefused, match="no rule"):
        await learnings.add(REPO, "  ", "octocat", URL)
    # Racing adds: exactly the bound is kept, every other add is refused as full.
    results = await asyncio.gather(
        *(learnings.add(REPO, f"Rule {i}.", "octocat", URL) for i in range(MAX_LEARNINGS + 5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, LearningRefused)]
    assert len(refused) == 5 and "forget <number>" in str(refused[0])
    numbers = [item.number for item in await learnings.list(REPO)]
    assert numbers == list(range(1, MAX_LEARNINGS + 1))
