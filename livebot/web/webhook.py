"""POST /webhook: verify, route, durably queue, answer within milliseconds."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import time
from typing import Final

import orjson
from aiohttp import web
from gidgethub import sansio
from prometheus_client import Counter
from redis.exceptions import TimeoutError as RedisTimeoutError

from livebot.core.logs import Summary
from livebot.core.metrics import WEBHOOK_SECONDS, WEBHOOKS, event_label
from livebot.github.payloads import PayloadError, parse
from livebot.intake import deferred
from livebot.intake.router import take_in
from livebot.web.app_keys import (
    APP_NAME,
    BODY_BUDGET,
    JOB_QUEUE,
    REDIS,
    SETTINGS,
    WEBHOOK_BODY_SECONDS,
)
from livebot.web.body import read_body

log = logging.getLogger(__name__)
# Anyone can send a wrong signature: one line a minute says how many.
REFUSED_SIGNATURES: Final = Summary(log, "webhook signatures refused")
routes = web.RouteTableDef()

SIGNATURE_PREFIX: Final = "sha256="
SIGNATURE: Final = re.compile(r"sha256=[0-9a-f]{64}")
# GitHub's delivery ids are GUIDs; printable ASCII keeps any other out of keys, jobs and logs
# (aiohttp hands on bytes that are not UTF-8 as lone surrogates, which no JSON may hold).
DELIVERY_ID: Final = re.compile(r"[\x21-\x7e]{1,100}")
# GitHub sends a whole delivery at once; a body that trickles in is an attack on our sockets.
BODY_SECONDS: Final = 10.0
# GitHub gives a delivery 10 s: past this, Redis is treated as down (503, nothing queued) and
# GitHub records a failure that `livebot redeliver` can send again.
REDIS_SECONDS: Final = 1.5


def signature_is_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is GitHub's `sha256=` HMAC of the exact body bytes (constant-time)."""
    if not SIGNATURE.fullmatch(header):
        return False
    expected = hmac.digest(secret.encode(), body, "sha256").hex()
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX) :].encode(), expected.encode())


@functools.cache
def _counter(event: str, outcome: str) -> Counter:
    """One series of the deliveries counter (few: `event_label` names a fixed set of events)."""
    return WEBHOOKS.labels(event=event, outcome=outcome)


def count_failure(request: web.Request, outcome: str) -> None:
    """A delivery answered 5xx (`unavailable`: Redis away; `error`: a bug of ours), counted."""
    if request.path == "/webhook":
        _counter(event_label(request.headers.get("X-GitHub-Event", "")), outcome).inc()


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _answer(status: int, event: str, outcome: str, started: float, **extra: object) -> web.Response:
    _counter(event_label(event), outcome).inc()
    WEBHOOK_SECONDS.observe(time.perf_counter() - started)
    return web.json_response({"outcome": outcome, **extra}, status=status, dumps=_json)


def _refused(event_name: str, started: float) -> web.Response:
    return _answer(
        401, event_name, "bad_signature", started, error="missing or wrong X-Hub-Signature-256"
    )


@routes.post("/webhook")
async def receive_webhook(request: web.Request) -> web.Response:
    """One GitHub delivery: 401 unsigned, 400 malformed, 202 queued, 200 nothing to do."""
    started = time.perf_counter()
    secret = request.app[SETTINGS].github_webhook_secret or ""
    event_name = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not SIGNATURE.fullmatch(signature):
        # Refused before a byte of the body is read: no signature, no memory spent.
        return _refused(event_name, started)
    body = await read_body(
        request, seconds=request.app[WEBHOOK_BODY_SECONDS], budget=request.app[BODY_BUDGET]
    )
    if not signature_is_valid(secret, body, signature):
        REFUSED_SIGNATURES.count(delivery_id=delivery_id[:100])
        return _refused(event_name, started)
    if not event_name or not DELIVERY_ID.fullmatch(delivery_id):
        return _answer(
            400,
            "unknown",
            "malformed",
            started,
            error="X-GitHub-Event and X-GitHub-Delivery (printable ASCII) are required",
        )
    try:
        data = parse(body)
    except PayloadError as exc:
        return _answer(400, event_name, "malformed", started, error=str(exc))
    slug = request.app[APP_NAME].slug
    if not slug:
        # Which comments mention the app is unknown until GitHub says its name: kept till then.
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                await deferred.keep(request.app[REDIS], event_name, delivery_id, data)
        except TimeoutError:
            raise RedisTimeoutError(f"Redis did not answer within {REDIS_SECONDS:g} s") from None
        return _answer(202, event_name, "deferred", started)
    event = sansio.Event(data, event=event_name, delivery_id=delivery_id)
    app_id = request.app[SETTINGS].github_app_id
    try:
        async with asyncio.timeout(REDIS_SECONDS):
            # Anything but a PayloadError is a bug of ours: a logged 500, never a "bad payload".
            job, queued = await take_in(event, slug, request.app[JOB_QUEUE], app_id)
    except PayloadError as exc:
        log.warning(
            "webhook payload malformed",
            extra={"delivery_id": delivery_id, "event": event_name, "error": str(exc)},
        )
        return _answer(400, event_name, "malformed", started, error=f"{event_name}: {exc}")
    except TimeoutError:
        raise RedisTimeoutError(f"Redis did not answer within {REDIS_SECONDS:g} s") from None
    if job is None:
        return _answer(200, event_name, "ignored", started)
    log.info(
        "webhook queued" if queued else "webhook duplicate",
        extra={"delivery_id": delivery_id, "run_id": job.run_id, "kind": job.kind},
    )
    if not queued:
        return _answer(202, event_name, "duplicate", started)
    return _answer(202, event_name, "queued", started, run_id=job.run_id)
