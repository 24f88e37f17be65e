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


async def test_a_reloaded_page_counts_once_while_its_old_stream_is_still_open(
    redis_client: Redis,
) -> None:
    run_id = new_run_id()
    presence = Presence(redis_client)
    page = "a1b2c3d4e5f6a7b8c9d0"
    old = await presence.join(run_id, page)
    other = await presence.join(run_id, "another-tab-0123456789")
    # The reload's stream arrives before the server has noticed the old one gone.
    new = await presence.join(run_id, page)
    assert new.news() == b'event: viewers\ndata: {"viewers": 2}\n\n'
    await presence.leave(old)
    assert await presence.count(run_id) == 2, "the page still watches through its new stream"
    await presence.leave(new)
    assert await presence.count(run_id) == 1
    # A name that is not a page id counts as a stream of its own.
    odd = [await presence.join(run_id, name) for name in ("short", "x" * 65, "a b" * 8)]
    assert await presence.count(run_id) == 4
    for watching in [other, *odd]:
        await presence.leave(watching)
    assert await presence.count(run_id) == 0
