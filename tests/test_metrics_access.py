"""/metrics: bounded whatever outsiders send, and shown only locally or with its token."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time

from aiohttp.test_utils import TestClient

from bot.settings import Settings
from tests.conftest import WebClient

DELIVERIES = 40_000
BATCH = 500
MAX_METRICS_BYTES = 64 * 1024


async def test_random_unsigned_event_names_do_not_grow_metrics(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings)
    started = time.monotonic()

    async def unsigned(n: int) -> int:
        headers = {"X-GitHub-Event": secrets.token_hex(8), "X-GitHub-Delivery": f"d-{n}"}
        async with client.post("/webhook", data=b"{}", headers=headers) as resp:
            return resp.status

    for first in range(0, DELIVERIES, BATCH):
        statuses = await asyncio.gather(*(unsigned(n) for n in range(first, first + BATCH)))
        assert set(statuses) == {401}
    took = time.monotonic() - started
    body = await (await client.get("/metrics")).read()
    print(f"{DELIVERIES} unsigned deliveries in {took:.1f} s; /metrics {len(body)} bytes")
    assert len(body) < MAX_METRICS_BYTES
    assert b'event="other",outcome="bad_signature"' in body


async def test_metrics_refused_through_a_proxy_or_without_the_token(
    web_client: WebClient, settings: Settings
) -> None:
    local = await web_client(settings)
    assert (await local.get("/metrics")).status == 200
    proxied = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status == 403
    guarded: TestClient = await web_client(dataclasses.replace(settings, metrics_token="s3cret"))
    assert (await guarded.get("/metrics")).status == 403
    wrong = await guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    right = await guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert right.status == 200 and b"livebot_webhooks_total" in await right.read()
