"""Fan-out: one blocking Redis reader per active run per process, feeding every local viewer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

from bot.metrics import SSE_EVENTS_DELIVERED, SSE_SLOW_VIEWERS_CUT, SSE_VIEWERS
from bot.redis_client import BLOCK_MS
from bot.run_log import RunLog, id_order
from web import sse

log = logging.getLogger(__name__)

MAX_PENDING_EVENTS: Final = 1024
READ_RETRY_SECONDS: Final = 1.0


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event as every viewer of a run receives it: encoded once, ordered by its id."""

    order: tuple[int, int]
    frame: bytes
    final: bool


class Viewer:
    """One connected client's bounded queue of encoded events."""

    __slots__ = ("feed", "overflowed", "pending", "wakeup")

    def __init__(self, feed: RunFeed) -> None:
        self.feed = feed
        self.pending: deque[LiveEvent] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False

    def offer(self, item: LiveEvent, limit: int) -> None:
        """Queue an event, or mark this viewer as too slow to keep up."""
        if len(self.pending) >= limit:
            if not self.overflowed:
                SSE_SLOW_VIEWERS_CUT.inc()
            self.overflowed = True
        else:
            self.pending.append(item)
        self.wakeup.set()

    def take(self) -> list[LiveEvent]:
        """Everything queued so far."""
        items = list(self.pending)
        self.pending.clear()
        self.wakeup.clear()
        return items


class RunFeed:
    """Reads one run's stream and hands each event, encoded once, to every viewer."""

    def __init__(self, fanout: FanOut, run_id: str) -> None:
        self.fanout = fanout
        self.run_id = run_id
        self.viewers: set[Viewer] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._follow(), name=f"feed:{run_id}")

    async def _follow(self) -> None:
        run_log = self.fanout.run_log
        try:
            # Everything up to this id is read by each viewer from history after subscribing.
            cursor = await run_log.last_id(self.run_id)
        except Exception as exc:
            self.ready.set_exception(exc)
            self.fanout.discard(self)
            return
        self.ready.set_result(None)
        while True:
            try:
                events = await run_log.read_after(
                    self.run_id, cursor, block_ms=self.fanout.block_ms, redis=self.fanout.reader
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("run feed read failed", extra={"run_id": self.run_id}, exc_info=True)
                await asyncio.sleep(READ_RETRY_SECONDS)
                continue
            if not events:
                # A quiet run: let every viewer check that its client is still there.
                for viewer in self.viewers:
                    viewer.wakeup.set()
                continue
            limit = self.fanout.max_pending
            for event in events:
                cursor = event.id
                item = LiveEvent(id_order(event.id), sse.encode(event), event.event == "complete")
                for viewer in self.viewers:
                    viewer.offer(item, limit)
                SSE_EVENTS_DELIVERED.inc(len(self.viewers))
                if item.final:
                    self.fanout.discard(self)
                    return


class FanOut:
    """The feeds of this process, one per run that has viewers here."""

    def __init__(
        self,
        run_log: RunLog,
        reader: Redis,
        *,
        block_ms: int = BLOCK_MS,
        max_pending: int = MAX_PENDING_EVENTS,
    ) -> None:
        self.run_log = run_log
        self.reader = reader
        self.block_ms = block_ms
        self.max_pending = max_pending
        self.feeds: dict[str, RunFeed] = {}
        self.closing = False

    async def subscribe(self, run_id: str) -> Viewer:
        """Start receiving a run's new events; read its history only after this returns."""
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = RunFeed(self, run_id)
        viewer = Viewer(feed)
        feed.viewers.add(viewer)
        SSE_VIEWERS.inc()
        try:
            await asyncio.shield(feed.ready)
        except BaseException:
            self.unsubscribe(viewer)
            raise
        return viewer

    def unsubscribe(self, viewer: Viewer) -> None:
        """Stop feeding a viewer; a feed with no viewers left stops reading."""
        feed = viewer.feed
        if viewer in feed.viewers:
            feed.viewers.discard(viewer)
            SSE_VIEWERS.dec()
        if not feed.viewers:
            self.discard(feed)
            feed.task.cancel()

    def discard(self, feed: RunFeed) -> None:
        """Forget a feed that has ended, so the next viewer starts a fresh one."""
        if self.feeds.get(feed.run_id) is feed:
            del self.feeds[feed.run_id]

    def end_streams(self) -> None:
        """The server is stopping: end every stream now; browsers resume elsewhere."""
        self.closing = True
        for feed in self.feeds.values():
            for viewer in feed.viewers:
                viewer.wakeup.set()

    async def close(self) -> None:
        """Stop every feed."""
        tasks = [feed.task for feed in self.feeds.values()]
        self.feeds.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
