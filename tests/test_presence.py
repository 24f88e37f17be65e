"""Presence in Redis: streams of several processes add up, and a dead process's lapse."""

from __future__ import annotations

from redis.asyncio import Redis

from livebot.runs.log import new_run_id
from livebot.web.live.presence import Presence
from tests.support import eventually


async def test_streams_of_two_processes_add_up_and_leave(redis_client: Redis) -> None:
    run_id = new_run_id()
    one, two = Presence(redis_client), Presence(redis_client)
    first = await one.join(run_id)
    assert first.news() == b'event: viewers\ndata: {"viewers": 1}\n\n'
    assert first.news() == b"", "an unchanged count is not sent again"
    second = await two.join(run_id)
    third = await two.join(run_id)
    assert await one.count(run_id) == 3
    assert two.counts[run_id] == 3
    await two.leave(second)
    await two.leave(third)
    assert run_id not in two.members and run_id not in two.counts
    assert await two.count(run_id) == 1
    await one.leave(first)
    assert await one.count(run_id) == 0


async def test_a_process_that_stops_renewing_lapses(redis_client: Redis) -> None:
    run_id = new_run_id()
    dead = Presence(redis_client, refresh_seconds=0.05)
    alive = Presence(redis_client, refresh_seconds=0.05)
    await dead.join(run_id)  # never renewed, never left: as if its process had died
    async with alive.running():
        watching = await alive.join(run_id)
        assert alive.counts[run_id] == 2
        await eventually(lambda: alive.counts[run_id] == 1, "the dead process's stream to lapse")
        assert watching.news() == b'event: viewers\ndata: {"viewers": 1}\n\n'
