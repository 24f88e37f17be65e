"""Slow clients cannot take the web server down: 3,000 of them under `ulimit -n 1024`."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest
from aiohttp import web

from bench.measure import latency_summary
from livebot.core.settings import Settings, load_settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.store.client import connect
from livebot.web.connections import (
    ConnectionGuard,
    GuardedSite,
    connection_cap,
    raise_descriptor_limit,
    server_options,
)
from tests.slowloris import attack, limited_web_server
from tests.support import (
    PUBLIC,
    SLUG,
    WEBHOOK_SECRET,
    RedisServer,
    ServerProcess,
    eventually,
    free_port,
    healthz,
)

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


@pytest.mark.slow
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
    run_id = await run_log.create(workflow="answer", repository="o/r", number=1, fields=PUBLIC)
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


def test_the_cap_leaves_descriptors_for_everything_else() -> None:
    assert connection_cap(1024) == 512
    assert connection_cap(65536) == 65536 - 1024
    assert connection_cap(1024, configured=100) == 100
    assert connection_cap(1024, configured=5000) == 512
    environ = {"LIVEBOT_MAX_CONNECTIONS": "100"}
    assert load_settings(environ, env_file=Path("/nonexistent")).max_connections == 100


async def hello(request: web.Request) -> web.Response:
    """A route to reach through the guard (it leaves any body unread)."""
    return web.Response(text="hello")


async def echo(request: web.Request) -> web.Response:
    """A route that reads the whole body first."""
    return web.Response(body=await request.read())


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[int, ConnectionGuard]]:
    """A small app behind a guard of 4 connections with short deadlines: its port, the guard."""
    app = web.Application()
    app.router.add_route("*", "/", hello)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None, **server_options())
    await runner.setup()
    assert runner.server is not None
    guard = ConnectionGuard(runner.server, 4, head_seconds=0.3, body_seconds=0.3)
    port = free_port()
    await GuardedSite(runner, guard, "127.0.0.1", port).start()
    yield port, guard
    await runner.cleanup()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), 10)


async def test_a_head_or_a_body_that_never_ends_is_cut_off(
    guarded: tuple[int, ConnectionGuard], caplog: pytest.LogCaptureFixture
) -> None:
    port, guard = guarded
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert await closed_by_server(reader) == b""
    for path, answer in ((b"/echo", b""), (b"/", b"hello")):
        # A handler reading the body, and aiohttp draining what a handler left unread.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert (await closed_by_server(reader)).endswith(answer)
    assert guard.cut["head_timeout"] == 1
    assert guard.cut["body_timeout"] == 2
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_a_cut_connection_leaves_no_cycle_for_the_collector(
    guarded: tuple[int, ConnectionGuard],
) -> None:
    port, guard = guarded
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert await closed_by_server(reader) == b""
        writer.close()
        gc.collect()
        # The error the handler met, kept alive by its own traceback (error -> frames -> the
        # body's stream -> error), would cost every cut connection a collection.
        kept = [o for o in gc.garbage if isinstance(o, ConnectionResetError)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert guard.cut["body_timeout"] == 1
    assert kept == []


async def test_at_the_cap_the_longest_owing_connection_makes_room(
    guarded: tuple[int, ConnectionGuard],
) -> None:
    port, guard = guarded
    stalled = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    await eventually(lambda: len(guard.open) == 4, "four connections held")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await closed_by_server(reader)).endswith(b"hello")
    assert await closed_by_server(stalled[0][0]) == b""
    assert guard.cut["evicted"] == 1
