"""`livebot worker`'s own /metrics (LIVEBOT_METRICS_PORT): the web tier's route and token rule."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from livebot.core.settings import Settings, SettingsError
from livebot.web import health
from livebot.web.app_keys import SETTINGS


def metrics_app(settings: Settings) -> web.Application:
    """An application serving only GET /metrics, as the web server serves it."""
    app = web.Application()
    app[SETTINGS] = settings
    app.router.add_get("/metrics", health.metrics)
    return app


@asynccontextmanager
async def serving_metrics(settings: Settings) -> AsyncIterator[None]:
    """/metrics on HOST:LIVEBOT_METRICS_PORT until the block ends (nothing when it is unset)."""
    port = settings.metrics_port
    if port is None:
        yield
        return
    runner = web.AppRunner(metrics_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise SettingsError(
            f"LIVEBOT_METRICS_PORT {port} on {settings.host} cannot be used "
            f"({exc.strerror or exc}); choose a free port or unset it"
        ) from None
    print(f"livebot: metrics on http://{settings.host}:{port}/metrics", file=sys.stderr)
    try:
        yield
    finally:
        await runner.cleanup()
