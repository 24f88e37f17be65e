"""Once Redis is back after an outage, ask GitHub to redeliver what the web tier refused."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import web

from livebot.core.cancellation import cancel_and_wait
from livebot.core.metrics import REDELIVERY_WAITS
from livebot.github.redelivery import WINDOW_MARGIN_SECONDS, OutageNotes, redeliver_failed
from livebot.services import Services, github_app
from livebot.web.app_keys import OUTAGES

log = logging.getLogger(__name__)

# Also how old the last 503 must be: GitHub lists a failed delivery a moment after it failed.
CHECK_SECONDS: Final = 5.0
NOTES_FILE: Final = "outages.json"


def note_refused(request: web.Request) -> None:
    """A webhook got 503 (Redis away): note when, to redeliver it later."""
    if request.path == "/webhook" and OUTAGES in request.app:
        request.app[OUTAGES].note()


def redelivery_context(
    services: Services, check_seconds: float = CHECK_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The outage notes and the task that redelivers their windows, for the app's life."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        notes = app[OUTAGES] = OutageNotes(services.settings.data_dir / NOTES_FILE)
        task = asyncio.create_task(_redeliver_when_back(services, notes, check_seconds))
        try:
            yield
        finally:
            await cancel_and_wait([task])

    return context


async def _redeliver_when_back(
    services: Services, notes: OutageNotes, check_seconds: float
) -> None:
    settings = services.settings
    while True:
        await asyncio.sleep(check_seconds)
        window = notes.window
        if window is None or time.time() - window[1] < check_seconds:
            continue
        try:
            await services.redis.ping()
        except Exception:
            REDELIVERY_WAITS.inc()
            continue  # still away: the window may grow
        if settings.github_app_id is None or settings.github_private_key is None:
            log.warning(
                "webhooks were refused while Redis was away; without GITHUB_APP_ID and "
                "GITHUB_PRIVATE_KEY this process cannot redeliver them: run "
                "`livebot redeliver --since <how long ago>`",
                extra={"since": window[0]},
            )
            notes.clear(window)
            continue
        try:
            app = github_app(settings, services.session)
            await redeliver_failed(app, window[0] - WINDOW_MARGIN_SECONDS, time.time())
        except Exception:
            log.warning("redelivery after the outage failed; retrying", exc_info=True)
            continue
        notes.clear(window)
