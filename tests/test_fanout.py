"""The fan-out on one Pub/Sub connection: exact delivery, gaps, release, connections, restarts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog, id_order
from livebot.store import keys
from livebot.store.client import COMMAND_POOL_SIZE, RedisClient, connect
from livebot.web.app_keys import LINK_SECRET, RUN_LOG
from livebot.web.live.bells import CLIENT_NAME
from livebot.web.live.fanout import FanOut
from tests.conftest import WebClient
from tests.support import PUBLIC, RedisServer, eventually

COUNTER: str = "test-counter"


@asynccontextmanager
async def started(
    run_log: RunLog, redis: RedisClient, sweep_seconds: float
) -> AsyncIterator[FanOut]:
    """A running fan-out."""
    fanout = FanOut(run_log, redis, sweep_seconds=sweep_seconds)
    fanout.start()
    try:
        yield fanout
    finally:
        await fanout.close()


@pytest.fixture
async def fanout(run_log: RunLog, redis_client: Redis) -> AsyncIterator[FanOut]:
    """A fan-out over the suite's Redis, sweeping often so that tests do not wait."""
    async with started(run_log, redis_client, 0.5) as fanout:
        yield fanout


async def watch(fanout: FanOut, run_log: RunLog, run_id: str) -> list[str]:
    """What a live page receives, as web/run_pages.py does it: subscribe, history, then live."""
    viewer = await fanout.subscribe(run_id)
    try:
        history = await run_log.history(run_id)
        ids = [event.id for event in history]
        last = id_order(ids[-1]) if ids else (0, 0)
        done = any(event.event == "complete" for event in history)
        while not done:
            await viewer.wait()
            for item in viewer.take():
                if item.order > last:
                    ids.append(item.frame.split(b"\n", 1)[0].removeprefix(b"id: ").decode())
                    last, done = item.order, item.final
    finally:
        fanout.unsubscribe(viewer)
    return ids


async def produce(run_log: RunLog, run_id: str, count: int, pause: float = 0.001) -> None:
    """`count` tokens, then `complete`."""
    for i in range(count):
        await run_log.append(run_id, "token", {"text": f"{i} "})
        await asyncio.sleep(pause * random.random())
    await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})


async def all_ids(run_log: RunLog, run_id: str) -> list[str]:
    """Every event id of the run, in order."""
    return [event.id for event in await run_log.history(run_id)]


async def test_every_viewer_sees_every_event_once_in_order(fanout: FanOut, run_log: RunLog) -> None:
    run_ids = [await run_log.create(workflow="comment", fields=PUBLIC) for _ in range(5)]
    producers = [asyncio.create_task(produce(run_log, run_id, 150)) for run_id in run_ids]
    viewers = []
    # Viewers join before, during and towards the end of the runs: every hand-over is tried.
    for round_ in range(12):
        viewers += [asyncio.create_task(watch(fanout, run_log, r)) for r in run_ids]
        await asyncio.sleep(0.01 * round_)
    await asyncio.gather(*producers)
    seen = await asyncio.wait_for(asyncio.gather(*viewers), 30)
    for index, ids in enumerate(seen):
        assert ids == await all_ids(run_log, run_ids[index % len(run_ids)])


async def subscribers(redis: Redis, channel: str) -> int:
    """How many connections are subscribed to a channel."""
    return int(dict(await redis.pubsub_numsub(channel))[channel])


async def test_lost_bells_are_read_from_the_stream(run_log: RunLog, redis_client: Redis) -> None:
    # No sweep during the test: the gap alone must bring the missing events.
    async with started(run_log, redis_client, 3600) as fanout:
        run_id = await run_log.create(workflow="comment", fields=PUBLIC)
        await run_log.append(run_id, "token", {"text": "before "})
        viewing = asyncio.create_task(watch(fanout, run_log, run_id))
        await eventually(lambda: run_id in fanout.feeds, "the viewer to subscribe")
        await fanout.feeds[run_id].ready
        # The bells of three events go unheard; the fourth's offset shows the gap.
        bell = keys.run_bell(run_id)
        fanout.bells.unsubscribe(bell)

        async def deaf() -> bool:
            return await subscribers(redis_client, bell) == 0

        await eventually(deaf, "the bell channel to be unsubscribed")
        for i in range(3):
            await run_log.append(run_id, "token", {"text": f"unheard {i} "})
        await fanout.bells.subscribe(bell)
        await run_log.append(run_id, "token", {"text": "heard"})
        await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})
        assert await asyncio.wait_for(viewing, 10) == await all_ids(run_log, run_id)


async def test_a_killed_pubsub_connection_loses_nothing(
    fanout: FanOut, run_log: RunLog, redis_client: Redis
) -> None:
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    viewing = asyncio.create_task(watch(fanout, run_log, run_id))
    await eventually(lambda: run_id in fanout.feeds, "the viewer to subscribe")
    await fanout.feeds[run_id].ready
    producer = asyncio.create_task(produce(run_log, run_id, 300, pause=0.004))
    await asyncio.sleep(0.2)
    killed = await redis_client.client_kill_filter(_type="pubsub")
    assert killed == 1
    await producer
    assert await asyncio.wait_for(viewing, 10) == await all_ids(run_log, run_id)


async def test_the_last_viewer_to_leave_releases_the_channel(
    fanout: FanOut, run_log: RunLog, redis_client: Redis
) -> None:
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    bell = keys.run_bell(run_id)
    viewers = [await fanout.subscribe(run_id) for _ in range(3)]
    assert await subscribers(redis_client, bell) == 1
    for viewer in viewers[:2]:
        fanout.unsubscribe(viewer)
    assert await subscribers(redis_client, bell) == 1
    fanout.unsubscribe(viewers[2])
    assert run_id not in fanout.feeds

    async def released() -> bool:
        return await subscribers(redis_client, bell) == 0

    await eventually(released, "the bell channel to be unsubscribed")


async def test_connections_do_not_grow_with_runs(web_client: WebClient, settings: Settings) -> None:
    client = await web_client(settings)
    run_log = client.app[RUN_LOG]
    counter = await connect(settings.redis_url or "", max_connections=1)
    await counter.client_setname(COUNTER)

    async def web_connections() -> list[dict[str, str]]:
        return [c for c in await counter.client_list() if c["name"] != COUNTER]

    # More streams at once than the test client's connector would open.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def open_streams(run_ids: list[str]) -> list[aiohttp.ClientResponse]:
        responses = []
        for run_id in run_ids:
            token = run_token(client.app[LINK_SECRET], run_id)
            url = client.make_url(f"/runs/{run_id}/events?token={token}")
            responses.append(await session.get(url))
        return responses

    first = [await run_log.create(workflow="comment", fields=PUBLIC)]
    streams = await open_streams(first)
    with_one = await web_connections()
    more = [await run_log.create(workflow="comment", fields=PUBLIC) for _ in range(199)]
    streams += await open_streams(more)
    with_200 = await web_connections()
    bells = [c for c in with_200 if c["name"] == CLIENT_NAME]
    assert len(bells) == 1 and bells[0]["sub"] == "200"
    assert len(with_200) <= COMMAND_POOL_SIZE + 1
    # A stream costs no connection: the count is what the command pool happens to hold.
    assert len(with_200) <= len(with_one) + 2
    assert all(stream.status == 200 for stream in streams)
    for stream in streams:
        stream.close()
    await session.close()
    await counter.aclose()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server that keeps its data across a restart (append-only, every write synced)."""
    server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    await server.start()
    yield server
    await server.stop()


async def test_a_redis_restart_mid_run_loses_nothing(own_redis: RedisServer) -> None:
    redis = await connect(own_redis.url)
    run_log = RunLog(redis, ttl_seconds=3600)
    async with started(run_log, redis, 0.5) as fanout:
        run_id = await run_log.create(workflow="comment", fields=PUBLIC)
        for i in range(20):
            await run_log.append(run_id, "token", {"text": f"{i} "})
        viewing = asyncio.create_task(watch(fanout, run_log, run_id))
        await eventually(lambda: run_id in fanout.feeds, "the viewer to subscribe")
        await fanout.feeds[run_id].ready
        producer = asyncio.create_task(produce(run_log, run_id, 200, pause=0.004))
        await asyncio.sleep(0.1)
        own_redis.kill()
        await own_redis.start()
        await producer
        assert await asyncio.wait_for(viewing, 20) == await all_ids(run_log, run_id)
    await redis.aclose()
