"""What the benchmark's two peer servers share: settings, the run check, the application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from livebot.core.settings import Settings
from livebot.runs.links import token_is_valid
from livebot.runs.log import RunLog
from livebot.store.client import connect
from livebot.web import health
from livebot.web.app_keys import LINK_SECRET, REDIS, RUN_LOG, SETTINGS

RETRY_MS: Final = 2000
KEEPALIVE_SECONDS: Final = 15.0
# Every viewer holds or polls on a connection of its own: redis-py 8's default pool (100
# connections) would refuse the excess with "Too many connections".
POOL_SIZE: Final = 20_000


async def watched_run(request: web.Request) -> tuple[str, RunLog]:
    """The run a stream request asks for, checked as livebot checks it (404 otherwise)."""
    run_id = request.match_info["run_id"]
    if not token_is_valid(request.app[LINK_SECRET], run_id, request.query.get("token", "")):
        raise web.HTTPNotFound(text="No such run.")
    run_log = request.app[RUN_LOG]
    if await run_log.meta(run_id) is None:
        raise web.HTTPNotFound(text="No such run.")
    return run_id, run_log


def peer_app(settings: Settings, routes: web.RouteTableDef) -> web.Application:
    """A peer server: health and `routes`, on a Redis pool big enough for every viewer."""

    async def redis_context(app: web.Application) -> AsyncIterator[None]:
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
