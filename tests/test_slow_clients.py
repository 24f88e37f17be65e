"""Slow clients cannot take the web server down: 3,000 of them under `ulimit -n 1024`."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest

from bench.measure import latency_summary
from bot.links import run_token
from bot.redis_client import connect
from bot.run_log import RunLog
from bot.settings import Settings
from tests.slowloris import attack, limited_web_server
from tests.support import SLUG, WEBHOOK_SECRET, RedisServer, ServerProcess, eventually, healthz
from web.connections import raise_descriptor_limit

SLOW_CLIENTS: Final = 3_000
ATTACK_SECONDS: Final = 15.0
MAX_LOG_BYTES: Final = 1_000_000
VIEWERS: Final = 10


@pytest.fixture
async def server_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of the server's own."""
    redis = RedisServer(tmp_path)
    await redis.start()
    yield redis
    await redis.stop()


@pytest.fixture
def redis_url_of_server(server_redis: RedisServer) -> str:
    """Where the server under test keeps its runs."""
    return server_redis.url


@pytest.fixture
async def web_server(tmp_path: Path, server_redis: RedisServer) -> AsyncIterator[ServerProcess]:
    """`livebot web` under `ulimit -n 1024`, on a Redis of its own."""
    server = limited_web_server(tmp_path, server_redis.url, WEBHOOK_SECRET, SLUG)
    await server.start()
    yield server
    await server.stop()


async def test_3000_slow_posts_leave_healthz_answering(web_server: ServerProcess) -> None:
    if raise_descriptor_limit() < SLOW_CLIENTS + 100:
        pytest.skip("this test's own process cannot open 3,000 connections")
    probes, seen, most = await attack(web_server, SLOW_CLIENTS, ATTACK_SECONDS)
    # Latency is reported, not asserted (bench/slowloris.py holds the bar).
    summary = latency_summary(int(ms * 1000) for _, ms in probes)
    print(f"/healthz under attack: {summary}; clients saw {dict(seen)}; at most {most} fds")
    assert probes, "no probe ran"
    assert [status for status, _ in probes] == [200] * len(probes)
    assert web_server.running()
    assert healthz(web_server.url) == 200
    log = web_server.log()
    assert len(log.encode()) < MAX_LOG_BYTES
    assert "Too many open files" not in log
    assert "Traceback" not in log


async def open_stream(server: ServerProcess, path: str) -> tuple[socket.socket, bytes]:
    """A raw connection reading `path`'s event stream: the socket and what came first."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: livebot\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    sock.settimeout(5)
    first = await asyncio.to_thread(sock.recv, 65536)
    return sock, first


async def test_viewers_that_go_away_leave_no_traceback(
    web_server: ServerProcess, redis_url_of_server: str
) -> None:
    redis = await connect(redis_url_of_server)
    run_log = RunLog(redis, ttl_seconds=3600)
    run_id = await run_log.create(workflow="answer", repository="o/r", number=1)
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
    token = run_token(Settings(github_webhook_secret=WEBHOOK_SECRET).link_secret, run_id)
    path = f"/runs/{run_id}/events?token={token}"
    viewers = [await open_stream(web_server, path) for _ in range(VIEWERS)]
    assert all(first.startswith(b"HTTP/1.1 200") for _, first in viewers)
    for number, (sock, _) in enumerate(viewers):
        if number % 2:
            # An abortive close: the server's next write meets a reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    for _ in range(VIEWERS):
        # Gone before the answer starts: the stream's headers meet a closed connection.
        sock = socket.create_connection(("127.0.0.1", web_server.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: livebot\r\n\r\n".encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    # Events to write to viewers that are gone, then one more viewer that reads them all.
    for n in range(20):
        await run_log.append(run_id, "token", {"text": f"piece {n} " * 200})
        await asyncio.sleep(0.01)
    sock, seen = await open_stream(web_server, path)
    while b"piece 19" not in seen:
        more = await asyncio.to_thread(sock.recv, 65536)
        assert more, "the stream ended early"
        seen += more
    sock.close()
    await run_log.append(run_id, "complete", {"status": "succeeded"})
    await redis.aclose()
    assert await eventually(lambda: healthz(web_server.url) == 200, "the server to answer")
    log = web_server.log()
    assert "Traceback" not in log, log
    assert "Error handling request" not in log, log
