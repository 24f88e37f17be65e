"""Health and Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from web.keys import REDIS

routes = web.RouteTableDef()


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
    """Prometheus metrics of this process."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
