"""Deliveries taken before the app's name is known: kept in Redis, routed once it is."""

from __future__ import annotations

import logging
from typing import Any, Final, cast

import orjson
from gidgethub import sansio

from livebot.github.payloads import PayloadError
from livebot.intake.router import take_in
from livebot.queue.jobs import JobQueue
from livebot.store.client import RedisClient
from livebot.store.keys import DEFERRED_DELIVERIES

log = logging.getLogger(__name__)

# GitHub keeps a delivery for redelivery 3 days; a name unknown for longer is a broken setup.
KEEP_SECONDS: Final = 3 * 86400
MAX_KEPT: Final = 10_000


async def keep(redis: RedisClient, event: str, delivery_id: str, data: dict[str, Any]) -> None:
    """Hold a verified delivery until the app's name is known (the newest MAX_KEPT)."""
    entry = orjson.dumps({"event": event, "delivery_id": delivery_id, "data": data})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(DEFERRED_DELIVERIES, entry)
        pipe.ltrim(DEFERRED_DELIVERIES, 0, MAX_KEPT - 1)
        pipe.expire(DEFERRED_DELIVERIES, KEEP_SECONDS)
        await pipe.execute()


async def replay(redis: RedisClient, queue: JobQueue, slug: str, app_id: int | None) -> int:
    """Route every kept delivery, oldest first, as if it arrived now; how many became jobs
    (a delivery queued before, a redelivery say, is not queued twice)."""
    queued = 0
    while (raw := await redis.rpop(DEFERRED_DELIVERIES)) is not None:
        entry = orjson.loads(cast(str, raw))
        delivery_id = entry["delivery_id"]
        event = sansio.Event(entry["data"], event=entry["event"], delivery_id=delivery_id)
        try:
            job, now = await take_in(event, slug, queue, app_id)
        except PayloadError as exc:
            log.warning(
                "deferred delivery malformed",
                extra={"delivery_id": delivery_id, "error": str(exc)},
            )
            continue
        if job is not None and now:
            queued += 1
            log.info(
                "deferred webhook queued", extra={"delivery_id": delivery_id, "run_id": job.run_id}
            )
    return queued
