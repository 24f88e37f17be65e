"""The aiohttp application: live pages, SSE, health and metrics, composed in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import web

from bot.redis_client import EmbeddedRedis, connect
from bot.run_log import RunLog
from bot.settings import Settings
from web import health, runs
from web.fanout import MAX_PENDING_EVENTS, FanOut
from web.keys import FANOUT, LINK_SECRET, REDIS, RUN_LOG, SETTINGS

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# GitHub sends deliveries of up to 25 MiB; aiohttp refuses more than 1 MiB by default.
MAX_BODY_BYTES: Final = 25 * 1024 * 1024

Context = Callable[[web.Application], AsyncIterator[None]]


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response carries: pages load nothing foreign and are not indexed."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Robots-Tag", "noindex")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def redis_context(max_pending: int) -> Context:
    """Redis (embedded when REDIS_URL is unset), the run log and the fan-out, for the app's life."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        embedded = None if settings.redis_url else EmbeddedRedis(settings.data_dir)
        try:
            url = settings.redis_url or await embedded.start()  # type: ignore[union-attr]
            redis = await connect(url)
            # Blocking reads get their own pool: they hold a connection for the whole block.
            reader = await connect(url)
            run_log = RunLog(redis, ttl_seconds=settings.run_ttl_seconds)
            app[REDIS] = redis
            app[RUN_LOG] = run_log
            app[FANOUT] = FanOut(run_log, reader, max_pending=max_pending)
            try:
                yield
            finally:
                await app[FANOUT].close()
                await reader.aclose()
                await redis.aclose()
        finally:
            if embedded is not None:
                await embedded.stop()

    return context


def create_app(
    settings: Settings,
    *,
    contexts: tuple[Context, ...] = (),
    sub_routes: tuple[web.RouteTableDef, ...] = (),
    max_pending: int = MAX_PENDING_EVENTS,
) -> web.Application:
    """The web application; `contexts` run inside the Redis context (workers, GitHub client)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[LINK_SECRET] = settings.link_secret
    app.cleanup_ctx.append(redis_context(max_pending))
    app.cleanup_ctx.extend(contexts)
    app.add_routes(runs.routes)
    app.add_routes(health.routes)
    for table in sub_routes:
        app.add_routes(table)
    app.router.add_static("/static", runs.STATIC_DIR, append_version=True)
    return app
