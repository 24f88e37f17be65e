"""Request bodies, per route: the webhook takes GitHub's largest deliveries; every other route
decides before it reads, and the server reads no more of a body than its route allows."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import pytest
from aiohttp import web

from livebot.core.settings import Settings
from livebot.services import open_services
from livebot.web.app import create_app
from livebot.web.connections import ConnectionGuard, GuardedSite, server_options
from tests.support import SLUG, delivery, eventually, free_port, payload

# Far beyond what the kernel's socket buffers hold on either side.
HOSTILE_BYTES: Final = 64 * 1024 * 1024
CHUNK: Final = 64 * 1024


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[str, ConnectionGuard]]:
    """`livebot web`'s app behind the connection guard it runs with: its URL and the guard."""
    settings = dataclasses.replace(settings, github_app_slug=SLUG)
    async with open_services(settings, "web") as services:
        runner = web.AppRunner(create_app(services), **server_options())
        await runner.setup()
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, 64)
        port = free_port()
        await GuardedSite(runner, guard, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}", guard
        finally:
            await runner.cleanup()


async def test_a_chunked_logout_is_refused_before_its_body_is_read(
    served: tuple[str, ConnectionGuard],
) -> None:
    url, guard = served
    reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
    writer.write(
        b"POST /logout HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + chunk
    )
    # The answer comes while the body is still being sent: nothing waited for it.
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.split()[1] == b"403"
    sent = len(chunk)
    with pytest.raises(ConnectionError):
        while sent < HOSTILE_BYTES:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    # The server stopped reading at the route's limit and closed the connection, long before
    # the body's end: what got through is what the sockets' buffers held.
    assert sent < HOSTILE_BYTES
    await eventually(lambda: guard.cut["body_too_large"] == 1, "the connection cut")
    writer.close()


async def test_the_webhook_still_takes_a_20_mib_delivery(
    served: tuple[str, ConnectionGuard],
) -> None:
    url, _ = served
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?")
    data["padding"] = "x" * (20 * 1024 * 1024)
    raw, headers = delivery("issue_comment", json.dumps(data).encode())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhook", data=raw, headers=headers) as resp,
    ):
        assert resp.status == 202, await resp.text()
