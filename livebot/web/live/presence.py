"""Who is watching a run: every open live page, counted in Redis across every web process.

Each page is one member of its run's sorted set, scored by when it lapses: a page that names
itself is the same member again when it reloads, so a browser tab never counts twice while its
old stream is still being noticed gone. This process renews its own members every
REFRESH_SECONDS; a process that dies stops renewing and its members drop out after
LAPSE_RENEWALS missed renewals. Each renewal also reads the count, which the streams of that run
on this process then send to their pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Final, cast

from redis.exceptions import RedisError

from livebot.core.cancellation import cancel_and_wait
from livebot.core.logs import warn_failure
from livebot.store import keys
from livebot.store.client import RedisClient

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 5.0
# A member lapses after this many missed renewals: a busy process is not taken for a dead one.
LAPSE_RENEWALS: Final = 3
VIEWERS_EVENT: Final = "viewers"
# What a page may call itself (random, drawn once per browser tab); anything else is ignored.
PAGE_ID: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")


class Watching:
    """One stream's presence: its member, and the count its page was last told."""

    __slots__ = ("member", "presence", "run_id", "told")

    def __init__(self, presence: Presence, run_id: str, member: str) -> None:
        self.presence = presence
        self.run_id = run_id
        self.member = member
        self.told: int | None = None

    def news(self) -> bytes:
        """A `viewers` event if the count changed since the page was last told, else nothing."""
        count = self.presence.counts.get(self.run_id)
        if count is None or count == self.told:
            return b""
        self.told = count
        # No id: the page's resume point stays the last run event.
        data = json.dumps({"viewers": count})
        return f"event: {VIEWERS_EVENT}\ndata: {data}\n\n".encode()


class Presence:
    """This process's open streams per run, renewed in Redis; the latest count of each run."""

    def __init__(self, redis: RedisClient, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.redis = redis
        self.refresh_seconds = refresh_seconds
        self.lapse_seconds = LAPSE_RENEWALS * refresh_seconds
        self.process = uuid.uuid4().hex[:12]
        self.serial = itertools.count()
        # Per run, this process's members and how many of its streams each one stands for.
        self.members: dict[str, Counter[str]] = {}
        self.counts: dict[str, int] = {}

    async def join(self, run_id: str, page: str | None = None) -> Watching:
        """Count a new stream of the run, now: as its `page`'s (a PAGE_ID) if it names one."""
        named = page is not None and PAGE_ID.fullmatch(page)
        member = f"page:{page}" if named else f"{self.process}:{next(self.serial)}"
        self.members.setdefault(run_id, Counter())[member] += 1
        # Only the new member: a crowd arriving at once must not rewrite every other one each time.
        await self._renew(run_id, {member})
        return Watching(self, run_id, member)

    async def leave(self, watching: Watching) -> None:
        """The stream has ended: it no longer counts, here or anywhere."""
        run_id, member = watching.run_id, watching.member
        members = self.members.get(run_id, Counter())
        members[member] -= 1
        if members[member] > 0:
            return  # the same page's newer stream still counts it
        del members[member]
        if not members:
            self.members.pop(run_id, None)
            self.counts.pop(run_id, None)
        await self.redis.zrem(keys.run_viewers(run_id), member)

    async def count(self, run_id: str) -> int:
        """How many pages watch the run right now, on every process."""
        key = keys.run_viewers(run_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.zcard(key)
            _, count = await pipe.execute()
        return cast(int, count)

    async def _renew(self, run_id: str, members: set[str]) -> None:
        if not members:
            return
        key = keys.run_viewers(run_id)
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, dict.fromkeys(members, now + self.lapse_seconds))
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            pipe.expire(key, int(self.lapse_seconds) + 1)
            _, _, count, _ = await pipe.execute()
        if run_id in self.members:
            self.counts[run_id] = cast(int, count)

    async def renew_forever(self) -> None:
        """Renew this process's members of every run, every `refresh_seconds`."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            for run_id in list(self.members):
                try:
                    await self._renew(run_id, set(self.members.get(run_id, ())))
                except RedisError as exc:
                    warn_failure(log, "presence renewal failed", exc, run_id=run_id)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Presence]:
        """Renew in the background for as long as the block lasts."""
        task = asyncio.create_task(self.renew_forever(), name="presence")
        try:
            yield self
        finally:
            await cancel_and_wait([task])
