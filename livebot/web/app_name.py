"""The name people mention: set, or asked of GitHub in the background until it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from livebot.core.cancellation import cancel_and_wait
from livebot.intake import deferred
from livebot.services import Services, github_app

log = logging.getLogger(__name__)

FIRST_WAIT_SECONDS: Final = 2.0
MAX_WAIT_SECONDS: Final = 60.0


@dataclass
class AppName:
    """The app's slug; empty while GitHub has not said it (deliveries are kept meanwhile)."""

    slug: str


def app_name_context(
    services: Services, name: AppName, first_wait: float = FIRST_WAIT_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """For the app's life: learn the name if unknown, then route the deliveries kept till then."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_learn_then_replay(services, name, first_wait))
        try:
            yield
        finally:
            await cancel_and_wait([task])

    return context


async def _learn_then_replay(services: Services, name: AppName, wait: float) -> None:
    tries = 0
    while not name.slug:
        await asyncio.sleep(wait)
        tries += 1
        try:
            info = await github_app(services.settings, services.session).app_info()
        except Exception as exc:
            # GitHub away (or refusing the key): one line a try, `livebot check` says more.
            log.warning(
                "GET /app failed; mentions wait for the app's name",
                extra={"error": repr(exc)[:200], "tries": tries},
            )
            wait = min(wait * 2, MAX_WAIT_SECONDS)
            continue
        name.slug = str(info["slug"])
        log.info("app slug from GitHub", extra={"slug": name.slug, "tries": tries})
    while True:
        try:
            app_id = services.settings.github_app_id
            queued = await deferred.replay(services.redis, services.queue, name.slug, app_id)
        except Exception as exc:
            log.warning("could not route the deliveries kept", extra={"error": repr(exc)[:200]})
            await asyncio.sleep(MAX_WAIT_SECONDS)
            continue
        if queued:
            log.info("deliveries kept while the name was unknown, queued", extra={"jobs": queued})
        return
