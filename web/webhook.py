"""POST /webhook: verify, route, durably queue, answer within milliseconds."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Final

from aiohttp import web
from gidgethub import sansio

from bot.intake import Intake
from bot.metrics import WEBHOOK_SECONDS, WEBHOOKS
from bot.payloads import PayloadError
from bot.router import router
from web.keys import APP_SLUG, JOB_QUEUE, SETTINGS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SIGNATURE_PREFIX: Final = "sha256="


def signature_is_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is GitHub's `sha256=` HMAC of the exact body bytes (constant-time)."""
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX) :].encode(), expected.encode())


def _answer(status: int, event: str, outcome: str, started: float, **extra: object) -> web.Response:
    WEBHOOKS.labels(event=event, outcome=outcome).inc()
    WEBHOOK_SECONDS.observe(time.perf_counter() - started)
    return web.json_response({"outcome": outcome, **extra}, status=status)


@routes.post("/webhook")
async def receive_webhook(request: web.Request) -> web.Response:
    """One GitHub delivery: 401 unsigned, 400 malformed, 202 queued, 200 nothing to do."""
    started = time.perf_counter()
    body = await request.read()
    secret = request.app[SETTINGS].github_webhook_secret or ""
    event_name = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not signature_is_valid(secret, body, request.headers.get("X-Hub-Signature-256", "")):
        log.warning("webhook signature refused", extra={"delivery_id": delivery_id})
        return _answer(
            401,
            event_name or "unknown",
            "bad_signature",
            started,
            error="missing or wrong X-Hub-Signature-256",
        )
    if not event_name or not delivery_id:
        return _answer(
            400,
            "unknown",
            "malformed",
            started,
            error="X-GitHub-Event and X-GitHub-Delivery are required",
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _answer(400, event_name, "malformed", started, error=f"body is not JSON: {exc}")
    if not isinstance(data, dict):
        return _answer(400, event_name, "malformed", started, error="body is not a JSON object")
    event = sansio.Event(data, event=event_name, delivery_id=delivery_id)
    intake = Intake(slug=request.app[APP_SLUG], delivery_id=delivery_id)
    try:
        # Anything but a PayloadError is a bug of ours: a logged 500, never a "bad payload".
        await router.dispatch(event, intake)
    except PayloadError as exc:
        log.warning(
            "webhook payload malformed",
            extra={"delivery_id": delivery_id, "event": event_name, "error": str(exc)},
        )
        return _answer(400, event_name, "malformed", started, error=f"{event_name}: {exc}")
    if intake.job is None:
        return _answer(200, event_name, "ignored", started)
    queued = await request.app[JOB_QUEUE].enqueue(intake.job)
    log.info(
        "webhook queued" if queued else "webhook duplicate",
        extra={"delivery_id": delivery_id, "run_id": intake.job.run_id, "kind": intake.job.kind},
    )
    if not queued:
        return _answer(202, event_name, "duplicate", started)
    return _answer(202, event_name, "queued", started, run_id=intake.job.run_id)
