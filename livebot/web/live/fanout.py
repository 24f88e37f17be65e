"""Fan-out: every run followed here on one Pub/Sub connection, each event to every local viewer.

A run's first local viewer subscribes this process to the run's bell channel, then the feed reads
the run's position (offset, last id); each bell carries the next offset, its stream id and the
event itself, so the next event in order is delivered straight from the bell. A bell out of order
(one was lost, or the connection dropped) makes the feed read the stream from its cursor instead:
those reads, and a sweep of every feed every few seconds, go out as one pipeline. The last viewer
to leave unsubscribes at once. See docs/fanout.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Final

from livebot.core.cancellation import cancel_and_wait
from livebot.core.logs import warn_failure
from livebot.core.metrics import SSE_EVENTS_DELIVERED, SSE_SLOW_VIEWERS_CUT, SSE_VIEWERS
from livebot.runs.bell import BellFrame
from livebot.runs.log import Event, RunLog, id_order
from livebot.store import keys
from livebot.store.client import RedisClient
from livebot.web.live import sse
from livebot.web.live.bells import Bells, BellsUnavailable

log = logging.getLogger(__name__)

MAX_PENDING_EVENTS: Final = 1024
# Every feed is read from its cursor this often (a bell lost any other way is found), and every
# viewer is woken to notice a client that has gone.
SWEEP_SECONDS: Final = 5.0
SWEEP_SLICES: Final = 20
# A catch-up read takes at most this many events per run; a run further behind is read again.
CATCH_UP_COUNT: Final = 1000
CATCH_UP_RETRY_SECONDS: Final = 1.0
# Catch-up reads go out this many to a pipeline: bells are handled between two batches.
CATCH_UP_BATCH: Final = 500
# Bells that ring while a feed is still reading its position wait for it, up to this many.
MAX_EARLY_BELLS: Final = 256


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event as every viewer of a run receives it: encoded once, ordered by its id."""

    order: tuple[int, int]
    frame: bytes
    final: bool


class _Awake:
    """An awaitable that is done at once."""

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


AWAKE: Final = _Awake()


class Viewer:
    """One connected client's bounded queue of encoded events."""

    __slots__ = ("abort", "feed", "overflowed", "pending", "waiter", "woken")

    def __init__(self, feed: RunFeed) -> None:
        self.feed = feed
        # Cuts the client's connection: its handler may be stuck in a write for a long while
        # (a socket that takes a few hundred bytes at a time), so the cut cannot wait for it.
        self.abort: Callable[[], None] | None = None
        # No container while idle, a future only while waiting: thousands cost little each.
        self.pending: list[LiveEvent] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.woken = False
        self.overflowed = False

    def offer(self, item: LiveEvent, limit: int) -> None:
        """Queue an event, or mark this viewer as too slow to keep up."""
        pending = self.pending
        if pending is None:
            self.pending = [item]
        elif len(pending) >= limit:
            if not self.overflowed:
                SSE_SLOW_VIEWERS_CUT.inc()
                if self.abort is not None:
                    self.abort()
            self.overflowed = True
        else:
            pending.append(item)
        self.wake()

    def wake(self) -> None:
        """There is news (events, or a reason to check that the client is still there)."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        else:
            self.woken = True

    def wait(self) -> Awaitable[None]:
        """Until `wake`, unless it was called since the last wait. A future to await, not a
        coroutine: an idle viewer holds no frame of its own."""
        if self.woken:
            self.woken = False
            return AWAKE
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    def take(self) -> list[LiveEvent]:
        """Everything queued so far."""
        items = self.pending or []
        self.pending = None
        return items


class RunFeed:
    """One run followed here: its viewers, and how far its events have been handed out."""

    __slots__ = ("bell", "cursor", "early", "offset", "order", "ready", "run_id", "task", "viewers")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.bell = keys.run_bell(run_id)
        self.viewers: set[Viewer] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Offset and id of the last event handed out; None until the position is read.
        self.offset: int | None = None
        self.cursor = "0-0"
        self.order = (0, 0)
        self.early: list[BellFrame] | None = []
        self.task: asyncio.Task[None] | None = None


class FanOut:
    """The feeds of this process, one per run that has viewers here, over one Pub/Sub link."""

    def __init__(
        self,
        run_log: RunLog,
        redis: RedisClient,
        *,
        max_pending: int = MAX_PENDING_EVENTS,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self.run_log = run_log
        self.redis = redis
        self.max_pending = max_pending
        self.sweep_seconds = sweep_seconds
        self.feeds: dict[str, RunFeed] = {}
        self.by_bell: dict[str, RunFeed] = {}
        self.closing = False
        self.bells = Bells(redis, self._ring, self._catch_up_all, dead_after=3 * sweep_seconds)
        self._behind: set[RunFeed] = set()
        self._catch_up = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Connect the Pub/Sub link; start catching up and sweeping."""
        self.bells.start()
        self._tasks = [
            asyncio.create_task(self._catch_up_loop(), name="fanout-catch-up"),
            asyncio.create_task(self._sweep_loop(), name="fanout-sweep"),
        ]

    async def subscribe(self, run_id: str) -> Viewer:
        """Start receiving a run's new events; read its history only after this returns."""
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = self.by_bell[keys.run_bell(run_id)] = RunFeed(run_id)
            feed.task = asyncio.create_task(self._start(feed), name=f"feed:{run_id}")
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
        """Stop feeding a viewer; a run with no viewer left here is unsubscribed at once."""
        viewer.abort = None  # no reference from here to its transport once it has gone
        feed = viewer.feed
        if viewer in feed.viewers:
            feed.viewers.discard(viewer)
            SSE_VIEWERS.dec()
        if not feed.viewers:
            self._discard(feed)

    def end_streams(self) -> None:
        """The server is stopping: end every stream now; browsers resume elsewhere."""
        self.closing = True
        for feed in self.feeds.values():
            for viewer in feed.viewers:
                viewer.wake()

    async def close(self) -> None:
        """Stop every feed and the Pub/Sub link."""
        for feed in list(self.feeds.values()):
            self._discard(feed)
        await cancel_and_wait(self._tasks)
        await self.bells.close()

    async def _start(self, feed: RunFeed) -> None:
        """Subscribe (confirmed), then read the position: every later event rings here."""
        try:
            await self.bells.subscribe(feed.bell)
            feed.offset, feed.cursor = await self.run_log.position(feed.run_id)
        except Exception as exc:
            _fail(feed, exc)
            self._discard(feed)
            return
        feed.order = id_order(feed.cursor)
        feed.ready.set_result(None)
        early, feed.early = feed.early or [], None
        for bell in early:
            self._deliver_bell(feed, bell)
        if len(early) >= MAX_EARLY_BELLS:
            self._fall_behind(feed)

    def _discard(self, feed: RunFeed) -> None:
        """Forget a feed (its last viewer left, or the run ended) and drop its bell at once."""
        if self.feeds.get(feed.run_id) is not feed:
            return
        del self.feeds[feed.run_id]
        del self.by_bell[feed.bell]
        self._behind.discard(feed)
        self.bells.unsubscribe(feed.bell)
        if feed.task is not None and not feed.ready.done():
            feed.task.cancel()  # still starting
            _fail(feed, BellsUnavailable("the run is no longer followed here"))

    def _ring(self, channel: str, message: str) -> None:
        """A bell: the next event of a run, or news that the feed is behind."""
        feed = self.by_bell.get(channel)
        if feed is None:
            return  # unsubscribed a moment ago
        try:
            bell = BellFrame.decode(message)
        except ValueError:
            log.warning("unreadable bell", extra={"run_id": feed.run_id})
            self._fall_behind(feed)
            return
        if feed.early is not None:
            if len(feed.early) < MAX_EARLY_BELLS:
                feed.early.append(bell)
            return
        self._deliver_bell(feed, bell)

    def _deliver_bell(self, feed: RunFeed, bell: BellFrame) -> None:
        offset = bell.offset
        if feed.offset is None or offset <= feed.offset:
            return  # handed out already
        if offset != feed.offset + 1:
            self._fall_behind(feed)  # a bell went missing: the stream has it
            return
        feed.offset = offset
        self._deliver(feed, Event(bell.id, bell.event, bell.data))

    def _deliver(self, feed: RunFeed, event: Event) -> None:
        """Hand an event, encoded once, to every viewer of the run."""
        feed.cursor = event.id
        feed.order = order = id_order(event.id)
        item = LiveEvent(order, sse.encode(event), event.event == "complete")
        limit = self.max_pending
        for viewer in feed.viewers:
            viewer.offer(item, limit)
        SSE_EVENTS_DELIVERED.inc(len(feed.viewers))
        if item.final:
            self._discard(feed)

    def _fall_behind(self, feed: RunFeed) -> None:
        self._behind.add(feed)
        self._catch_up.set()

    def _catch_up_all(self) -> None:
        """Read every feed from its cursor (after a reconnect: bells rung meanwhile are lost)."""
        for feed in self.feeds.values():
            if feed.early is None:
                self._behind.add(feed)
        self._catch_up.set()

    async def _catch_up_loop(self) -> None:
        while True:
            await self._catch_up.wait()
            self._catch_up.clear()
            # Feeds still reading their position catch up once they have it.
            feeds = [feed for feed in self._behind if feed.early is None]
            self._behind.difference_update(feeds)
            for start in range(0, len(feeds), CATCH_UP_BATCH):
                batch = feeds[start : start + CATCH_UP_BATCH]
                try:
                    replies = await self._read_from_cursors(batch)
                except Exception as exc:
                    warn_failure(log, "catching up failed; retrying", exc)
                    self._behind.update(feeds[start:])
                    await asyncio.sleep(CATCH_UP_RETRY_SECONDS)
                    self._catch_up.set()
                    break
                for feed, entries in zip(batch, replies, strict=True):
                    self._deliver_entries(feed, keys.range_entries(entries))

    async def _read_from_cursors(self, feeds: list[RunFeed]) -> list[object]:
        """One pipeline: each feed's events after its cursor."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for feed in feeds:
                after = f"({feed.cursor}"
                pipe.xrange(keys.run_events(feed.run_id), min=after, count=CATCH_UP_COUNT)
            return await pipe.execute()

    def _deliver_entries(self, feed: RunFeed, entries: list[keys.StreamEntry]) -> None:
        """Events read from the stream: those after the cursor (bells may have overtaken the
        read), each one offset further."""
        for entry_id, fields in entries:
            if self.feeds.get(feed.run_id) is not feed or feed.offset is None:
                return  # ended, or left by its viewers
            if id_order(entry_id) <= feed.order:
                continue
            feed.offset += 1
            self._deliver(feed, Event(entry_id, fields["event"], fields["data"]))
        if len(entries) >= CATCH_UP_COUNT:
            self._fall_behind(feed)

    async def _sweep_loop(self) -> None:
        # Each feed once per sweep, in slices spread over it: thousands of feeds cost no pause.
        while True:
            self.bells.ping()
            feeds = list(self.feeds.values())
            for part in range(SWEEP_SLICES):
                await asyncio.sleep(self.sweep_seconds / SWEEP_SLICES)
                self._sweep(feeds[part::SWEEP_SLICES])

    def _sweep(self, feeds: list[RunFeed]) -> None:
        """Read these feeds from their cursors, and let their viewers check their clients."""
        for feed in feeds:
            if self.feeds.get(feed.run_id) is not feed or feed.early is not None:
                continue
            self._behind.add(feed)
            for viewer in feed.viewers:
                viewer.wake()
        self._catch_up.set()


def _fail(feed: RunFeed, exc: Exception) -> None:
    """The feed could not start: its waiting viewers get the error (none waiting is fine)."""
    if not feed.ready.done():
        feed.ready.set_exception(exc)
        feed.ready.exception()  # retrieved: no "never retrieved" warning when nobody waits
