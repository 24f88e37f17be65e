"""The aiohttp application: webhooks, live pages, SSE, health and metrics, composed in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from aiohttp import web
from redis.exceptions import RedisError

from bot.redis_client import READER_POOL_SIZE, connect
from bot.services import Services
from web import health, run_pages, webhook
from web.fanout import MAX_PENDING_EVENTS, FanOut
from web.keys import APP_SLUG, FANOUT, JOB_QUEUE, LINK_SECRET, REDIS, RUN_LOG, SETTINGS

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# GitHub sends deliveries of up to 25 MiB; aiohttp refuses more than 1 MiB by default.
MAX_BODY_BYTES: Final = 25 * 1024 * 1024

Context = Callable[[web.Application], AsyncIterator[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def redis_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redis down: a clear 503 (nothing was queued or changed, so a retry loses nothing)."""
    try:
        return await handler(request)
    except RedisError as exc:
        log.error(
            "Redis unavailable",
            extra={
                "path": request.path,
                "error": repr(exc),
                "delivery_id": request.headers.get("X-GitHub-Delivery"),
            },
        )
        return web.json_response(
            {"error": "Redis is unavailable; try again later (GitHub deliveries: redeliver)"},
            status=503,
        )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response carries: pages load nothing foreign and are not indexed."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Robots-Tag", "noindex")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def end_streams(app: web.Application) -> None:
    """On shutdown, end SSE streams at once: aiohttp would wait out its timeout for each."""
    if FANOUT in app:
        app[FANOUT].end_streams()


def fanout_context(services: Services, max_pending: int) -> Context:
    """The fan-out and its blocking readers, for the app's life."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        # Blocking reads get their own pool: they hold a connection for the whole block.
        reader = await connect(services.redis_url, max_connections=READER_POOL_SIZE)
        app[FANOUT] = FanOut(services.run_log, reader, max_pending=max_pending)
        try:
            yield
        finally:
            await app[FANOUT].close()
            await reader.aclose()

    return context


def create_app(services: Services, *, max_pending: int = MAX_PENDING_EVENTS) -> web.Application:
    """The web application over the process's services."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[redis_unavailable])
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = services.settings
    app[LINK_SECRET] = services.settings.link_secret
    app[REDIS] = services.redis
    app[RUN_LOG] = services.run_log
    app[JOB_QUEUE] = services.queue
    app[APP_SLUG] = services.slug
    app.cleanup_ctx.append(fanout_context(services, max_pending))
    app.on_shutdown.append(end_streams)
    app.add_routes(run_pages.routes)
    app.add_routes(health.routes)
    app.add_routes(webhook.routes)
    app.router.add_static("/static", run_pages.STATIC_DIR, append_version=True)
    return app
