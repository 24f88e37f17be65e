"""The hand-over from Redis to the archive: a consumer group on the finished-runs stream.

At-least-once: an entry is acknowledged only after its run is committed, and saving is an
upsert, so a retry after a crash or an outage writes the same row again. A periodic sweep
archives sealed runs whose announcement was lost (a crash between the seal and the XADD).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, cast

from redis.exceptions import ResponseError

from livebot.archive.records import FinishedRun
from livebot.archive.store import Archive
from livebot.core.cancellation import cancel_and_wait
from livebot.runs.events import TERMINAL_STATUSES
from livebot.runs.log import RunLog, RunNotFound
from livebot.store import keys
from livebot.store.client import RedisClient

log = logging.getLogger(__name__)

BATCH: Final = 32
BLOCK_MS: Final = 1_000
# An entry pending this long belongs to an archiver that stopped: another takes it over.
CLAIM_IDLE_MS: Final = 60_000
RETRY_FIRST_SECONDS: Final = 0.5
RETRY_MAX_SECONDS: Final = 30.0
SWEEP_SECONDS: Final = 600.0
# A run sealed this recently is still on its way through the stream.
SWEEP_GRACE_SECONDS: Final = 60.0
CLEAN_UP_SECONDS: Final = 86_400.0
ARCHIVED_AT: Final = "archived_at"
META_PATTERN: Final = keys.run_meta("*")


class Archiver:
    """Reads finished runs from Redis and writes them to the archive."""

    def __init__(
        self, run_log: RunLog, archive: Archive, *, archive_days: int, consumer: str | None = None
    ) -> None:
        self.run_log = run_log
        self.redis: RedisClient = run_log.redis
        self.archive = archive
        self.archive_days = archive_days
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"

    async def ensure_group(self) -> None:
        """Create the finished-runs stream and its consumer group if they do not exist."""
        try:
            await self.redis.xgroup_create(
                keys.FINISHED_STREAM, keys.ARCHIVE_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _load(self, run_id: str) -> FinishedRun | None:
        """A sealed run from Redis; None when Redis no longer has it (or it has not ended)."""
        meta = await self.run_log.meta(run_id)
        if meta is None or meta.get("status") not in TERMINAL_STATUSES:
            return None
        return FinishedRun(run_id, meta, await self.run_log.history(run_id))

    async def _mark_archived(self, run_id: str) -> None:
        with contextlib.suppress(RunNotFound):
            await self.run_log.update(run_id, **{ARCHIVED_AT: time.time()})

    async def archive_runs(self, run_ids: list[str]) -> int:
        """Save sealed runs in one transaction; return how many Redis still had."""
        run_ids = list(dict.fromkeys(run_ids))
        loaded = await asyncio.gather(*(self._load(run_id) for run_id in run_ids))
        runs = [run for run in loaded if run is not None]
        for run_id, run in zip(run_ids, loaded, strict=True):
            if run is None:
                log.warning(
                    "finished run not in Redis; nothing to archive", extra={"run_id": run_id}
                )
        if runs:
            await self.archive.save(runs)
            await asyncio.gather(*(self._mark_archived(run.run_id) for run in runs))
        return len(runs)

    async def _entries(self) -> list[keys.StreamEntry]:
        """What to do next: own unacknowledged entries, then abandoned ones, then new ones."""
        stream, group = keys.FINISHED_STREAM, keys.ARCHIVE_GROUP
        own = keys.read_entries(
            await self.redis.xreadgroup(group, self.consumer, {stream: "0"}, count=BATCH)
        )
        if own:
            return own
        claimed = await self.redis.xautoclaim(
            stream, group, self.consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=BATCH
        )
        abandoned = [entry for entry in keys.range_entries(claimed[1]) if entry[1]]
        if abandoned:
            return abandoned
        return keys.read_entries(
            await self.redis.xreadgroup(
                group, self.consumer, {stream: ">"}, count=BATCH, block=BLOCK_MS
            )
        )

    async def step(self) -> int:
        """Archive one batch; return how many entries were acknowledged."""
        entries = await self._entries()
        if not entries:
            return 0
        await self.archive_runs([fields["run"] for _, fields in entries if fields.get("run")])
        entry_ids = [entry_id for entry_id, _ in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.FINISHED_STREAM, keys.ARCHIVE_GROUP, *entry_ids)
            pipe.xdel(keys.FINISHED_STREAM, *entry_ids)
            await pipe.execute()
        return len(entry_ids)

    async def sweep(self) -> int:
        """Archive sealed runs that were never announced; return how many."""
        missed = []
        now = time.time()
        async for key in self.redis.scan_iter(match=META_PATTERN, count=1000):
            status, finished_at, archived_at = cast(
                list[str | None],
                await self.redis.hmget(key, ["status", "finished_at", ARCHIVED_AT]),
            )
            if status not in TERMINAL_STATUSES or archived_at or not finished_at:
                continue
            if now - float(finished_at) < SWEEP_GRACE_SECONDS:
                continue
            missed.append(key.split("{run:", 1)[1].split("}", 1)[0])
        found = 0
        for start in range(0, len(missed), BATCH):
            found += await self.archive_runs(missed[start : start + BATCH])
        if found:
            log.info("sweep archived unannounced runs", extra={"runs": found})
        return found

    async def consume(self) -> None:
        """Archive announced runs until cancelled; failures wait and retry, losing nothing."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self.step()
                delay = RETRY_FIRST_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "archiving failed; will retry", extra={"error": repr(exc), "retry_in": delay}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def housekeeping(self) -> None:
        """Sweep every SWEEP_SECONDS and apply the retention once a day, until cancelled."""
        next_clean_up = 0.0
        while True:
            try:
                await self.sweep()
                if time.monotonic() >= next_clean_up:
                    await self.archive.clean_up(self.archive_days)
                    next_clean_up = time.monotonic() + CLEAN_UP_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("archive housekeeping failed; will retry", extra={"error": repr(exc)})
            await asyncio.sleep(SWEEP_SECONDS)


@asynccontextmanager
async def running_archiver(
    run_log: RunLog, archive: Archive, *, archive_days: int
) -> AsyncIterator[Archiver]:
    """An archiver consuming and sweeping in the background for the block's life."""
    archiver = Archiver(run_log, archive, archive_days=archive_days)
    await archiver.ensure_group()
    tasks = [
        asyncio.create_task(archiver.consume(), name="archiver"),
        asyncio.create_task(archiver.housekeeping(), name="archive-housekeeping"),
    ]
    try:
        yield archiver
    finally:
        await cancel_and_wait(tasks)
