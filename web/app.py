"""The aiohttp application: webhooks, live pages, SSE, health and metrics, composed in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from aiohttp import web
from redis.exceptions import RedisError

from bot.jobs import JobQueue
from bot.redis_client import READER_POOL_SIZE, EmbeddedRedis, connect
from bot.run_log import RunLog
from bot.services import app_slug, github_app, github_session, services
from bot.settings import Settings
from bot.worker import running_workers
from web import health, runs, webhook
from web.fanout import MAX_PENDING_EVENTS, FanOut
from web.keys import APP_SLUG, FANOUT, JOB_QUEUE, LINK_SECRET, REDIS, REDIS_URL, RUN_LOG, SETTINGS

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


def redis_context(max_pending: int) -> Context:
    """Redis (embedded when REDIS_URL is unset), the run log and the fan-out, for the app's life."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        embedded = None if settings.redis_url else EmbeddedRedis(settings.data_dir)
        try:
            url = settings.redis_url or await embedded.start()  # type: ignore[union-attr]
            redis = await connect(url)
            # Blocking reads get their own pool: they hold a connection for the whole block.
            reader = await connect(url, max_connections=READER_POOL_SIZE)
            run_log = RunLog(redis, ttl_seconds=settings.run_ttl_seconds)
            app[REDIS_URL] = url
            app[REDIS] = redis
            app[JOB_QUEUE] = JobQueue(redis)
            await app[JOB_QUEUE].ensure_group()
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


def github_context(with_workers: bool) -> Context:
    """The app's identity on GitHub and, for `serve`, the workers."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        async with github_session() as session:
            needs_app = with_workers or settings.github_app_slug is None
            github = github_app(settings, session) if needs_app else None
            app[APP_SLUG] = await app_slug(settings, github)
            if github is None or not with_workers:
                yield
                return
            worker_services = services(settings, app[RUN_LOG], github, app[APP_SLUG])
            async with running_workers(worker_services, app[REDIS_URL]):
                yield

    return context


def create_app(
    settings: Settings,
    *,
    contexts: tuple[Context, ...] = (),
    sub_routes: tuple[web.RouteTableDef, ...] = (),
    max_pending: int = MAX_PENDING_EVENTS,
) -> web.Application:
    """The web application; `contexts` run inside the Redis context (workers, GitHub client)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[redis_unavailable])
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[LINK_SECRET] = settings.link_secret
    app.cleanup_ctx.append(redis_context(max_pending))
    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.extend(contexts)
    app.add_routes(runs.routes)
    app.add_routes(health.routes)
    app.add_routes(webhook.routes)
    for table in sub_routes:
        app.add_routes(table)
    app.router.add_static("/static", runs.STATIC_DIR, append_version=True)
    return app
