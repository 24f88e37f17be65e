"""Health and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from livebot.web.app_keys import REDIS, SETTINGS

routes = web.RouteTableDef()

BEARER: Final = "Bearer "
# A request a reverse proxy forwarded arrives from loopback too: it is not a local one.
FORWARDED_HEADERS: Final = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _is_local(request: web.Request) -> bool:
    """Whether the request comes straight from this host (no proxy in between)."""
    try:
        local = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    return local and not any(name in request.headers for name in FORWARDED_HEADERS)


def metrics_allowed(request: web.Request) -> bool:
    """With LIVEBOT_METRICS_TOKEN, whether the request bears it; without, whether it is local."""
    token = request.app[SETTINGS].metrics_token
    if token is None:
        return _is_local(request)
    offered = request.headers.get("Authorization", "")
    return offered.startswith(BEARER) and hmac.compare_digest(
        offered[len(BEARER) :].encode(errors="surrogateescape"), token.encode()
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 when Redis answers, 503 when it does not."""
    try:
        async with asyncio.timeout(2):
            await request.app[REDIS].ping()
    except (RedisError, OSError, TimeoutError) as exc:
        return web.json_response({"redis": "down", "error": str(exc)}, status=503)
    return web.json_response({"redis": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of this process (local requests, or with LIVEBOT_METRICS_TOKEN)."""
    if not metrics_allowed(request):
        raise web.HTTPForbidden(
            text="/metrics needs the LIVEBOT_METRICS_TOKEN bearer token, or a local request."
        )
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
