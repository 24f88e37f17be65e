"""The aiohttp application: webhooks, live pages, SSE, health and metrics, composed in one place."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from aiohttp import web
from redis.exceptions import RedisError

from livebot.demo.recordings import DemoPlayer
from livebot.services import Services
from livebot.setup.app_setup import SetupStates
from livebot.web import health, redelivery, webhook
from livebot.web.accounts import signin
from livebot.web.accounts.sessions import csrf_protect
from livebot.web.app_keys import (
    ACCESS_SECONDS,
    APP_NAME,
    ARCHIVE,
    BODY_BUDGET,
    DEMO_PLAYER,
    FANOUT,
    HTTP_SESSION,
    JOB_QUEUE,
    KEEPALIVE,
    LINK_SECRET,
    PRESENCE,
    REDIS,
    RUN_LOG,
    SETTINGS,
    SETUP_STATES,
    VIEWER_LIMITS,
    WEBHOOK_BODY_SECONDS,
)
from livebot.web.app_name import AppName, app_name_context
from livebot.web.body import DEFAULT_BODY_BYTES, MAX_BODY_BYTES, BodyBudget
from livebot.web.live import cancel, run_pages
from livebot.web.live.fanout import MAX_PENDING_EVENTS, SWEEP_SECONDS, FanOut
from livebot.web.live.presence import Presence
from livebot.web.live.viewer_limits import ViewerLimits
from livebot.web.pages import demo, favicon, history, home
from livebot.web.pages import setup as setup_pages
from livebot.web.pages.shell import CONTENT_SECURITY_POLICY
from livebot.web.paths import STATIC_DIR

log = logging.getLogger(__name__)

# Large bodies not yet verified may hold this much memory at once (beyond a small part each).
BODY_BUDGET_BYTES: Final = 4 * MAX_BODY_BYTES
# aiohttp names itself and its version unless the header is set; the version helps only attackers.
SERVER_NAME: Final = "livebot"
# Run pages, states and streams hold what a link's token unlocks: never kept by a cache.
NO_STORE_EXCEPT: Final = "/static/"

Context = Callable[[web.Application], AsyncIterator[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def archive_error(exc: Exception) -> bool:
    """Whether `exc` is PostgreSQL's (psycopg is loaded only with an archive: else never)."""
    if "psycopg" not in sys.modules:
        return False
    import psycopg
    from psycopg_pool import PoolTimeout

    return isinstance(exc, psycopg.Error | PoolTimeout)


@web.middleware
async def unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redis or PostgreSQL down: a clear 503 (nothing was queued or changed, so a retry loses
    nothing; live runs in Redis are served without the archive all the same). One middleware
    for both: each is a frame held for the life of every event stream."""
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
        redelivery.note_refused(request)
        webhook.count_failure(request, "unavailable")
        return web.json_response(
            {"error": "Redis is unavailable; try again later (GitHub deliveries: redeliver)"},
            status=503,
        )
    except web.HTTPException:
        raise
    except Exception as exc:
        if not archive_error(exc):
            webhook.count_failure(request, "error")
            raise
        log.error("archive unavailable", extra={"path": request.path, "error": repr(exc)})
        return web.json_response(
            {"error": "The run archive is unavailable; try again later"}, status=503
        )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response carries: pages load nothing foreign and are not indexed."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Robots-Tag", "noindex")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers["Server"] = SERVER_NAME
    if not request.path.startswith(NO_STORE_EXCEPT):
        response.headers["Cache-Control"] = "no-store"


async def end_streams(app: web.Application) -> None:
    """On shutdown, end SSE streams at once: aiohttp would wait out its timeout for each."""
    if FANOUT in app:
        app[FANOUT].end_streams()


def fanout_context(services: Services, max_pending: int, sweep_seconds: float) -> Context:
    """The fan-out and its Pub/Sub connection, for the app's life."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[FANOUT] = FanOut(
            services.run_log, services.redis, max_pending=max_pending, sweep_seconds=sweep_seconds
        )
        app[FANOUT].start()
        try:
            yield
        finally:
            await app[FANOUT].close()

    return context


def demo_context(player: DemoPlayer) -> Context:
    """Demo runs a crash left unfinished are ended at start; those playing are ended at stop."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        await player.end_unfinished()
        app[DEMO_PLAYER] = player
        try:
            yield
        finally:
            await player.close()

    return context


async def presence_context(app: web.Application) -> AsyncIterator[None]:
    """Who watches which run, renewed in Redis for the app's life."""
    async with Presence(app[REDIS]).running() as presence:
        app[PRESENCE] = presence
        yield


def create_app(
    services: Services,
    *,
    max_pending: int = MAX_PENDING_EVENTS,
    sweep_seconds: float = SWEEP_SECONDS,
    keepalive_seconds: float = run_pages.KEEPALIVE_SECONDS,
    demo_player: DemoPlayer | None = None,
    redelivery_check_seconds: float = redelivery.CHECK_SECONDS,
    access_seconds: float = signin.RECHECK_SECONDS,
    setup_states: SetupStates | None = None,
    webhook_body_seconds: float = webhook.BODY_SECONDS,
) -> web.Application:
    """The web application over the process's services (with `setup_states`: setup's pages)."""
    # Every route's own reads stop at the default; the webhook reads its body with `read_body`.
    app = web.Application(
        client_max_size=DEFAULT_BODY_BYTES, middlewares=[unavailable, csrf_protect]
    )
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = services.settings
    app[VIEWER_LIMITS] = ViewerLimits(
        services.settings.max_viewers_per_address,
        services.settings.max_viewers_per_run,
        services.settings.trusted_proxies,
    )
    app[KEEPALIVE] = keepalive_seconds
    app[ACCESS_SECONDS] = access_seconds
    app[WEBHOOK_BODY_SECONDS] = webhook_body_seconds
    app[BODY_BUDGET] = BodyBudget(BODY_BUDGET_BYTES)
    app[LINK_SECRET] = services.settings.link_secret
    app[REDIS] = services.redis
    app[RUN_LOG] = services.run_log
    app[JOB_QUEUE] = services.queue
    app[APP_NAME] = AppName(services.slug)
    app[HTTP_SESSION] = services.session
    if services.archive is not None:
        app[ARCHIVE] = services.archive
    app.cleanup_ctx.append(fanout_context(services, max_pending, sweep_seconds))
    app.cleanup_ctx.append(redelivery.redelivery_context(services, redelivery_check_seconds))
    app.cleanup_ctx.append(presence_context)
    app.cleanup_ctx.append(app_name_context(services, app[APP_NAME]))
    app.on_shutdown.append(end_streams)
    app.add_routes(run_pages.routes)
    app.add_routes(health.routes)
    app.add_routes(webhook.routes)
    app.add_routes(favicon.routes)
    app.add_routes(home.routes)
    app.add_routes(cancel.routes)
    app.add_routes(setup_pages.installed_routes)
    if setup_states is not None:
        app[SETUP_STATES] = setup_states
        app.add_routes(setup_pages.routes)
    if demo_player is not None:
        app.cleanup_ctx.append(demo_context(demo_player))
        app.add_routes(demo.routes)
    app.add_routes(signin.routes)
    app.add_routes(history.routes)
    app.router.add_static("/static", STATIC_DIR, append_version=True)
    return app
