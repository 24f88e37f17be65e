"""The baseline: the polling design of the original plan, served like livebot's stream.

Each viewer's handler reads the run's whole event list (XRANGE from the start) every 100 ms
and sends what is new. Same Redis, run log, token check, SSE framing and response class as
livebot's own handler, so the only difference measured is polling versus fan-out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web
from aiohttp_sse import sse_response

from bot.links import token_is_valid
from bot.redis_client import connect
from bot.run_log import RunLog, id_order
from bot.settings import Settings
from web import health, sse
from web.keys import LINK_SECRET, REDIS, RUN_LOG, SETTINGS

POLL_SECONDS: Final = 0.1
RETRY_MS: Final = 2000
KEEPALIVE_SECONDS: Final = 15.0
POOL_SIZE: Final = 20_000

routes = web.RouteTableDef()


@routes.get("/runs/{run_id}/events")
async def poll_events(request: web.Request) -> web.StreamResponse:
    """Every 100 ms: the whole event list, and what is new in it."""
    run_id = request.match_info["run_id"]
    if not token_is_valid(request.app[LINK_SECRET], run_id, request.query.get("token", "")):
        raise web.HTTPNotFound(text="No such run.")
    run_log: RunLog = request.app[RUN_LOG]
    if await run_log.meta(run_id) is None:
        raise web.HTTPNotFound(text="No such run.")
    after = request.headers.get("Last-Event-ID") or request.query.get("after") or "0-0"
    last = id_order(after)
    preamble = f"retry: {RETRY_MS}\n\n".encode()
    async with sse_response(request, ping_interval=KEEPALIVE_SECONDS) as resp:
        try:
            while resp.is_connected():
                events = await run_log.history(run_id)
                fresh = [e for e in events if id_order(e.id) > last]
                if fresh or preamble:
                    await resp.write(preamble + b"".join(sse.encode(e) for e in fresh))
                    preamble = b""
                if fresh:
                    last = id_order(fresh[-1].id)
                    if fresh[-1].event == "complete":
                        break
                await asyncio.sleep(POLL_SECONDS)
        except ConnectionResetError:
            pass
    return resp


def create_polling_app(settings: Settings) -> web.Application:
    """The baseline server: health and the polling event stream."""

    async def redis_context(app: web.Application) -> AsyncIterator[None]:
        # Every viewer polls on its own: redis-py 8's default pool (100 connections) would
        # refuse the excess with "Too many connections", so the baseline gets enough for all.
        redis = await connect(settings.redis_url or "", max_connections=POOL_SIZE)
        app[REDIS] = redis
        app[RUN_LOG] = RunLog(redis, ttl_seconds=settings.run_ttl_seconds)
        yield
        await redis.aclose()

    app = web.Application()
    app[SETTINGS] = settings
    app[LINK_SECRET] = settings.link_secret
    app.cleanup_ctx.append(redis_context)
    app.add_routes(routes)
    app.add_routes(health.routes)
    return app
