"""The same code on a real three-node Redis Cluster: hash tags keep every command in one slot."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
from redis.asyncio import Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from livebot.core.settings import Settings
from livebot.queue.jobs import Job, JobQueue
from livebot.runs.links import run_token
from livebot.runs.log import RunLog, new_run_id
from livebot.store.client import COMMAND_POOL_SIZE, RedisClient, connect, retry_policy
from livebot.web.app_keys import LINK_SECRET, RUN_LOG
from tests.conftest import AppClient, WebClient
from tests.sse import answer, read_events
from tests.support import PUBLIC, RedisServer, free_port

SLOTS = 16384
ClientFactory = Callable[..., Awaitable[AppClient]]


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three masters sharing the 16,384 slots, started for this module."""
    servers = []
    for _ in range(3):
        folder = tmp_path_factory.mktemp("cluster")
        config = ("--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"))
        servers.append(RedisServer(folder, *config, port=cluster_port()))
    try:
        for server in servers:
            server.start_blocking()
        no_retry = Retry(NoBackoff(), 0)
        nodes = [redis.Redis(port=s.port, decode_responses=True, retry=no_retry) for s in servers]
        share = SLOTS // len(nodes)
        for index, node in enumerate(nodes):
            last = SLOTS if index == len(nodes) - 1 else (index + 1) * share
            node.cluster("ADDSLOTS", *range(index * share, last))
        for node in nodes[1:]:
            node.cluster("MEET", "127.0.0.1", servers[0].port)
        deadline = time.monotonic() + 20
        while any(n.cluster("INFO")["cluster_state"] != "ok" for n in nodes):
            assert time.monotonic() < deadline, "the cluster did not form"
            time.sleep(0.1)
        for node in nodes:
            node.close()
        yield servers[0].url
    finally:
        for server in servers:
            server.stop_blocking()


def cluster_port() -> int:
    """A free port whose cluster bus port (+10,000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[RedisClient]:
    """A client of the cluster, as livebot makes it."""
    client = await connect(cluster_url)
    yield client
    await client.aclose()


async def test_connect_detects_the_cluster(cluster: RedisClient) -> None:
    assert isinstance(cluster, RedisCluster)
    assert len(cluster.get_nodes()) == 3


async def test_the_cluster_client_has_the_single_node_limits(
    cluster: RedisClient, redis_client: RedisClient
) -> None:
    assert isinstance(cluster, RedisCluster) and isinstance(redis_client, Redis)
    pool = redis_client.connection_pool
    limits = ("socket_timeout", "socket_connect_timeout", "health_check_interval")
    for node in cluster.get_nodes():
        assert node.max_connections == pool.max_connections == COMMAND_POOL_SIZE
        for limit in limits:
            assert node.connection_kwargs[limit] == pool.connection_kwargs[limit], limit
            assert node.connection_kwargs[limit] is not None, limit
    # The Cluster client retries the whole command (its node connections retry nothing).
    assert cluster.retry == pool.connection_kwargs["retry"] == retry_policy()


async def test_run_log_on_a_cluster(cluster: RedisClient) -> None:
    run_log = RunLog(cluster, ttl_seconds=60)
    run_ids = [
        await run_log.create(workflow="comment", repository="o/r", number=n) for n in range(6)
    ]
    for run_id in run_ids:
        writer = run_log.writer(run_id)
        await writer.status("running", "Writing")
        for piece in ("Hello", ", ", "cluster"):
            writer.token(piece)
        await writer.complete("succeeded")
        assert await run_log.text(run_id) == "Hello, cluster"
        meta = await run_log.meta(run_id)
        assert meta is not None and meta["status"] == "succeeded"
    follow = asyncio.create_task(run_log.read_after(run_ids[0], "0-0", block_ms=1000))
    assert [e.event for e in await follow][-1] == "complete"


async def test_job_queue_on_a_cluster(cluster: RedisClient) -> None:
    queue = JobQueue(cluster)
    await queue.ensure_group()
    job = Job(
        kind="answer",
        run_id=new_run_id(),
        delivery_id=new_run_id(),
        installation_id=1,
        repository="o/r",
        number=1,
        author="octocat",
    )
    assert await queue.enqueue(job)
    assert not await queue.enqueue(job)
    # Deliveries of the same moment share one script call: its keys all live in one slot.
    others = [dataclasses.replace(job, delivery_id=new_run_id()) for _ in range(3)]
    assert await asyncio.gather(*(queue.enqueue(other) for other in [*others, job])) == [
        True,
        True,
        True,
        False,
    ]
    taken = await queue.take("one", 10, 100)
    assert [claimed.job for claimed in taken] == [job, *others]
    for claimed in taken[1:]:
        await queue.ack(claimed.message_id)
    delivery = taken[0]
    await queue.renew("one", [delivery.message_id])
    await queue.requeue(delivery)
    [again] = await queue.take("two", 10, 100)
    assert again.job == job
    await queue.dead_letter(again, "test")
    await queue.ack(again.message_id)


async def test_live_stream_on_a_cluster(
    web_client: WebClient, settings: Settings, cluster_url: str
) -> None:
    client = await web_client(dataclasses.replace(settings, redis_url=cluster_url))
    run_log = client.app[RUN_LOG]
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    token = run_token(client.app[LINK_SECRET], run_id)

    async def view() -> str:
        async with client.get(f"/runs/{run_id}/events?token={token}") as resp:
            return answer(await read_events(resp))

    viewers = [asyncio.create_task(view()) for _ in range(20)]
    await asyncio.sleep(0.1)
    writer = run_log.writer(run_id)
    for i in range(30):
        writer.token(f"{i} ")
        await asyncio.sleep(0.002)
    await writer.complete("succeeded")
    assert set(await asyncio.gather(*viewers)) == {"".join(f"{i} " for i in range(30))}
    assert (await client.get("/healthz")).status == 200
