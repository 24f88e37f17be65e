"""/metrics: bounded whatever outsiders send, and shown only locally or with its token."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import time

import pytest

from livebot.core.settings import Settings
from tests.conftest import AppClient, WebClient

DELIVERIES = 40_000
# Deliveries are pipelined on a few keep-alive connections: the test client's cost per request
# (not the server's) made this test take minutes.
CONNECTIONS = 8
MAX_METRICS_BYTES = 64 * 1024
OTHER_REFUSED = re.compile(
    rb'^livebot_webhooks_total\{event="other",outcome="bad_signature"\} (\S+)$', re.M
)


def other_refused(metrics: bytes) -> float:
    """How many unsigned deliveries of unknown events /metrics counts (so far, in this process)."""
    found = OTHER_REFUSED.search(metrics)
    return float(found[1]) if found else 0.0


def unsigned_delivery(host: str, n: int) -> bytes:
    """The bytes of an unsigned delivery of a random event name."""
    return (
        f"POST /webhook HTTP/1.1\r\nHost: {host}\r\n"
        f"X-GitHub-Event: {secrets.token_hex(8)}\r\nX-GitHub-Delivery: d-{n}\r\n"
        "Content-Length: 2\r\n\r\n{}"
    ).encode()


async def pipelined(host: str, port: int, requests: list[bytes]) -> list[int]:
    """Send `requests` back to back on one connection; the status of each answer, in order."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"".join(requests))
    statuses = []
    try:
        for _ in requests:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in head
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
            statuses.append(int(head[0].split()[1]))
    finally:
        writer.close()
    return statuses


@pytest.mark.slow
async def test_random_unsigned_event_names_do_not_grow_metrics(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings)
    host, port = client.server.host, client.server.port
    assert port is not None
    before = other_refused(await (await client.get("/metrics")).read())
    started = time.monotonic()
    per_connection = DELIVERIES // CONNECTIONS
    answers = await asyncio.gather(
        *(
            pipelined(
                host,
                port,
                [unsigned_delivery(host, n) for n in range(first, first + per_connection)],
            )
            for first in range(0, DELIVERIES, per_connection)
        )
    )
    statuses = [status for connection in answers for status in connection]
    assert len(statuses) == DELIVERIES and set(statuses) == {401}
    took = time.monotonic() - started
    body = await (await client.get("/metrics")).read()
    print(f"{DELIVERIES} unsigned deliveries in {took:.1f} s; /metrics {len(body)} bytes")
    assert len(body) < MAX_METRICS_BYTES
    assert other_refused(body) - before == DELIVERIES


async def test_metrics_refused_through_a_proxy_or_without_the_token(
    web_client: WebClient, settings: Settings
) -> None:
    local = await web_client(settings)
    assert (await local.get("/metrics")).status == 200
    proxied = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status == 403
    guarded: AppClient = await web_client(dataclasses.replace(settings, metrics_token="s3cret"))
    assert (await guarded.get("/metrics")).status == 403
    wrong = await guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    right = await guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert right.status == 200 and b"livebot_webhooks_total" in await right.read()
