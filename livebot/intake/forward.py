"""`livebot serve --forward`: a trial without a public URL. The app's recent deliveries are read
from GitHub's API every few seconds and taken in as if GitHub had posted them to /webhook."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

import aiohttp
from gidgethub import GitHubException, sansio
from redis.exceptions import RedisError

from livebot.github.client import GitHubApp
from livebot.github.paths import api_path
from livebot.github.payloads import PayloadError, checked
from livebot.intake.router import take_in
from livebot.queue.jobs import JobQueue
from livebot.store import keys
from livebot.store.client import RedisClient

log = logging.getLogger(__name__)

NOTICE: Final = (
    "livebot: --forward is for trials: deliveries are read from GitHub's API every few seconds "
    "(so they arrive a few seconds late; GitHub keeps them 3 days), and the links Livebot posts "
    "work on this machine only. For production, give Livebot a public URL (PUBLIC_URL) and let "
    "GitHub post to PUBLIC_URL/webhook."
)
INTERVAL_SECONDS: Final = 2.0
MAX_BACKOFF_SECONDS: Final = 60.0
PER_PAGE: Final = 30
# After a long stop, at most this many deliveries are read back (newest first).
MAX_READ: Final = 1_000
# GitHub keeps deliveries 3 days: a GUID seen longer ago cannot come back.
SEEN_SECONDS: Final = 3 * 86400
FAILURES: Final = (GitHubException, aiohttp.ClientError, TimeoutError, OSError, RedisError)


def _header(headers: dict[str, Any], name: str) -> str | None:
    """A header of the original request (GitHub spells them in either case)."""
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value if isinstance(value, str) else None


class Forwarder:
    """Takes in the app's deliveries that GitHub's API lists and no one took in before."""

    def __init__(self, app: GitHubApp, redis: RedisClient, queue: JobQueue, slug: str) -> None:
        self.app = app
        self.redis = redis
        self.queue = queue
        self.slug = slug

    async def poll(self) -> int:
        """One look at GitHub; how many deliveries were taken in. The first ever only notes
        where GitHub's list stands: what came before Livebot forwarded is not replayed."""
        after = await self.redis.get(keys.FORWARD_AFTER)
        if after is None:
            newest = await self._newer_than(0, limit=1)
            start = newest[0]["id"] if newest else 0
            await self.redis.set(keys.FORWARD_AFTER, start, nx=True)
            log.info("forwarding deliveries newer than %s", start, extra={"after": start})
            return 0
        taken = 0
        for item in reversed(await self._newer_than(int(after), limit=MAX_READ)):
            if await self.redis.zscore(keys.FORWARD_SEEN, item["guid"]) is None:
                await self._take(item)
                taken += 1
            await self.redis.set(keys.FORWARD_AFTER, item["id"])
        await self.redis.zremrangebyscore(keys.FORWARD_SEEN, 0, time.time() - SEEN_SECONDS)
        return taken

    async def _newer_than(self, after: int, *, limit: int) -> list[dict[str, Any]]:
        """The listed deliveries whose id is above `after`, newest first."""
        url = api_path("app", "hook", "deliveries", query={"per_page": min(PER_PAGE, limit)})
        found: list[dict[str, Any]] = []
        async for item in self.app.gh.getiter(url, jwt=self.app.jwt(), iterable_key=None):
            if int(item["id"]) <= after or len(found) >= limit:
                break
            found.append(item)
        return found

    async def _take(self, item: dict[str, Any]) -> None:
        """Fetch the delivery's original request and take it in as /webhook does."""
        full = await self.app.gh.getitem(
            api_path("app", "hook", "deliveries", int(item["id"])), jwt=self.app.jwt()
        )
        guid = str(item["guid"])
        request = full.get("request") or {}
        headers = request.get("headers") or {}
        event_name = _header(headers, "X-GitHub-Event") or str(item.get("event") or "")
        # No signature to check: the delivery comes from GitHub's API, over HTTPS, read with the
        # app's own JWT; no one else could have put it there.
        try:
            data = checked(request.get("payload"))
            event = sansio.Event(data, event=event_name, delivery_id=guid)
            job, queued = await take_in(event, self.slug, self.queue, self.app.app_id)
        except PayloadError as exc:
            log.warning(
                "forwarded delivery malformed",
                extra={"delivery_id": guid, "event": event_name, "error": str(exc)},
            )
            job, queued = None, False
        await self.redis.zadd(keys.FORWARD_SEEN, {guid: time.time()})
        if job is not None:
            log.info(
                "delivery forwarded" if queued else "delivery forwarded before",
                extra={"delivery_id": guid, "run_id": job.run_id, "kind": job.kind},
            )

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        """Poll until cancelled; an outage is one line when it starts and one when it ends."""
        failures = 0
        while True:
            try:
                await self.poll()
            except FAILURES as exc:
                failures += 1
                if failures == 1:
                    log.warning("forwarding paused (%s); retrying", _reason(exc))
            else:
                if failures:
                    log.info("forwarding resumed after %d failed polls", failures)
                failures = 0
            await asyncio.sleep(min(MAX_BACKOFF_SECONDS, interval * 2 ** min(failures, 10)))


def _reason(exc: BaseException) -> str:
    """The error in a few words: its type, and its message if it has one."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@asynccontextmanager
async def forwarding(
    forwarder: Forwarder, interval: float = INTERVAL_SECONDS
) -> AsyncIterator[None]:
    """The forwarder polling in the background for the block."""
    task = asyncio.create_task(forwarder.run(interval), name="forward")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
