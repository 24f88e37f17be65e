"""The run log: one append-only Redis Stream of events per run, plus the run's metadata."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from redis.exceptions import RedisError, ResponseError

from livebot.core.logs import warn_failure
from livebot.runs import tombstones
from livebot.runs.events import EVENT_TYPES, TERMINAL_STATUSES, CompleteData, UsageData
from livebot.store import keys, scripts
from livebot.store.client import RedisClient

log = logging.getLogger(__name__)

# A safety cap, far above what a coalesced answer needs: trimming would lose text.
STREAM_MAXLEN: Final = 100_000
# A run appends at most 50 times a second however fast its model writes.
MIN_APPEND_SECONDS: Final = 0.02
# Bounds the finished-runs stream if no archiver reads it; the archiver's sweep finds the rest.
FINISHED_MAXLEN: Final = 100_000

# Status follows the events and `complete` seals the run, atomically with the XADD, so two
# writers (a worker and the one that claimed its job) can never append after the end; an
# attempt whose epoch is no longer the run's (another attempt took over) appends nothing.
# A writer's append carries its own "<writer>:<seq>": repeated (a retry after a reply was lost
# to a broken connection), it answers the id it already has instead of appending twice.
# Each event bumps the run's offset and is published, with it, on the run's bell channel (a
# `BellFrame`): a live reader delivers it from there and reads the stream only when an offset is
# missing. The scripts (KEYS and ARGV in their headers) are livebot/store/lua/run_*.lua.
# The statuses that end a run, as the append script's ARGV[9] reads them.
_TERMINAL_ARG: Final = " ".join(sorted(TERMINAL_STATUSES))
CANCELLED_BY: Final = "cancel_requested_by"
SUPERSEDED_BY: Final = "superseded_by"
# Who cancelled a run that was stopped from its live page (not a GitHub login).
RUN_PAGE: Final = "the run page"


class RunNotFound(Exception):
    """The run does not exist (never created, or its log expired)."""


class RunComplete(Exception):
    """The run has ended: nothing more can be appended."""


class StaleAttempt(Exception):
    """Another attempt took the run over: this one must stop and touch nothing more."""


def _raise_known(exc: ResponseError, run_id: str) -> None:
    """Turn the scripts' errors into this module's exceptions."""
    if "LIVEBOT_NO_RUN" in str(exc):
        raise RunNotFound(run_id) from None
    if "LIVEBOT_STALE_ATTEMPT" in str(exc):
        raise StaleAttempt(run_id) from None
    if "LIVEBOT_RUN_COMPLETE" in str(exc):
        raise RunComplete(run_id) from None


def new_run_id() -> str:
    """A random run id: 128 bits, URL-safe."""
    return secrets.token_hex(16)


def id_order(event_id: str) -> tuple[int, int]:
    """Sort key of a stream id such as `1732400000000-3`."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a run: its stream id, type and JSON-encoded data."""

    id: str
    event: str
    data: str

    def payload(self) -> dict[str, Any]:
        """The decoded data."""
        decoded: dict[str, Any] = json.loads(self.data)
        return decoded


def _events(entries: list[tuple[str, dict[str, str]]]) -> list[Event]:
    return [Event(entry_id, fields["event"], fields["data"]) for entry_id, fields in entries]


class RunLog:
    """Create runs, append their events, read their history and follow them live."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        ttl_seconds: int,
        maxlen: int = STREAM_MAXLEN,
        announce_finished: bool = False,
    ) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.maxlen = maxlen
        self.announce_finished = announce_finished
        self._append = redis.register_script(scripts.load("run_append"))
        self._begin = redis.register_script(scripts.load("run_begin"))
        self._fenced_set = redis.register_script(scripts.load("run_fenced_set"))
        self._fenced_setnx = redis.register_script(scripts.load("run_fenced_setnx"))
        self._final = redis.register_script(scripts.load("run_final"))

    async def create(
        self,
        *,
        workflow: str,
        repository: str | None = None,
        number: int | None = None,
        fields: Mapping[str, str | int | float] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a queued run and return its id; every key expires even if the run never ends."""
        run_id = run_id or new_run_id()
        meta: keys.Fields = {
            "workflow": workflow,
            "status": "queued",
            "created_at": time.time(),
            **({"repository": repository} if repository else {}),
            **({"number": number} if number is not None else {}),
        }
        meta.update(fields or {})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.run_meta(run_id), mapping=meta)
            pipe.expire(keys.run_meta(run_id), self.ttl_seconds)
            await pipe.execute()
        return run_id

    async def meta(self, run_id: str) -> dict[str, str] | None:
        """The run's metadata, or None when it does not exist."""
        meta = cast(dict[str, str], await self.redis.hgetall(keys.run_meta(run_id)))
        return meta or None

    async def update(self, run_id: str, **fields: str | int | float) -> None:
        """Set metadata fields of an existing run (comment id, times, …)."""
        if not await self.redis.exists(keys.run_meta(run_id)):
            raise RunNotFound(run_id)
        await self.redis.hset(keys.run_meta(run_id), mapping=cast(keys.Fields, fields))

    async def begin_attempt(self, run_id: str) -> int:
        """Take the run's lease for a new attempt: its epoch; every older attempt is stale."""
        try:
            return int(await self._begin(keys=[keys.run_meta(run_id)]))
        except ResponseError as exc:
            _raise_known(exc, run_id)
            raise

    async def is_current(self, run_id: str, epoch: int) -> bool:
        """Whether `epoch` still holds the run's lease."""
        return await self.redis.hget(keys.run_meta(run_id), "epoch") == str(epoch)

    async def update_fenced(self, run_id: str, epoch: int, **fields: str | int | float) -> None:
        """`update`, unless another attempt took the run over (StaleAttempt)."""
        pairs = [part for item in fields.items() for part in item]
        try:
            await self._fenced_set(keys=[keys.run_meta(run_id)], args=[epoch, *pairs])
        except ResponseError as exc:
            _raise_known(exc, run_id)
            raise

    async def set_once_fenced(self, run_id: str, epoch: int, field: str, value: str) -> bool:
        """Set `field` unless it is set (whether this call set it), while `epoch` is current
        (else StaleAttempt): what only one attempt of a run may do, it reserves first."""
        try:
            return bool(
                await self._fenced_setnx(keys=[keys.run_meta(run_id)], args=[epoch, field, value])
            )
        except ResponseError as exc:
            _raise_known(exc, run_id)
            raise

    async def record_final(
        self, run_id: str, epoch: int, status: str, body: str
    ) -> tuple[str, str]:
        """Decide the run's final comment, unless one was decided before: the (status, body)
        that stands."""
        try:
            reply = await self._final(keys=[keys.run_meta(run_id)], args=[epoch, status, body])
        except ResponseError as exc:
            _raise_known(exc, run_id)
            raise
        return str(reply[0]), str(reply[1])

    async def append(
        self,
        run_id: str,
        event: str,
        data: Mapping[str, Any],
        *,
        epoch: int | None = None,
        writer_seq: str | None = None,
    ) -> str:
        """Append one event and return its id; `complete` ends the run and starts its expiry.
        With `epoch`, only while that attempt holds the run's lease; with `writer_seq`, an
        append repeated with the same sequence answers the first one's id and adds nothing."""
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event!r}")
        status = ""
        extra: list[str | int | float] = []
        if event == "status":
            status = data["state"]
            if status == "running":
                extra += ["started_at", time.time()]
        elif event == "complete":
            status = data["status"]
            if status not in TERMINAL_STATUSES:
                raise ValueError(f"complete needs a terminal status, not {status!r}")
            usage = data.get("usage") or {}
            extra += ["finished_at", time.time()]
            extra += ["prompt_tokens", usage.get("prompt_tokens", 0)]
            extra += ["completion_tokens", usage.get("completion_tokens", 0)]
            if data.get("comment_url"):
                extra += ["comment_url", data["comment_url"]]
            if data.get("cost_usd") is not None:
                extra += ["cost_usd", data["cost_usd"]]
        encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            event_id: str = await self._append(
                keys=[keys.run_meta(run_id), keys.run_events(run_id)],
                args=[
                    self.maxlen,
                    self.ttl_seconds,
                    event,
                    encoded,
                    status,
                    "" if epoch is None else epoch,
                    writer_seq or "",
                    keys.run_bell(run_id),
                    _TERMINAL_ARG,
                    *extra,
                ],
            )
        except ResponseError as exc:
            _raise_known(exc, run_id)
            raise
        if event == "complete":
            await tombstones.record(
                self.redis,
                run_id,
                expires_at=time.time() + self.ttl_seconds,
                ttl_seconds=self.ttl_seconds,
                comment_url=data.get("comment_url"),
            )
        if event == "complete" and self.announce_finished:
            await self._announce_finished(run_id)
        return event_id

    async def _announce_finished(self, run_id: str) -> None:
        """Hand the sealed run to the archive; a lost hand-over is found by the archiver's sweep."""
        try:
            await self.redis.xadd(
                keys.FINISHED_STREAM, {"run": run_id}, maxlen=FINISHED_MAXLEN, approximate=True
            )
        except RedisError as exc:
            warn_failure(
                log, "finished run not announced; the sweep will archive it", exc, run_id=run_id
            )

    async def history(self, run_id: str, after: str | None = None) -> list[Event]:
        """Every event after `after` (exclusive), or all of them."""
        start = f"({after}" if after else "-"
        return _events(
            keys.range_entries(await self.redis.xrange(keys.run_events(run_id), min=start))
        )

    async def position(self, run_id: str) -> tuple[int, str]:
        """The run's offset (events appended so far) and newest event id, read together."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(keys.run_meta(run_id), "offset")
            pipe.xrevrange(keys.run_events(run_id), count=1)
            offset, newest = await pipe.execute()
        entries = keys.range_entries(newest)
        return int(offset or 0), entries[0][0] if entries else "0-0"

    async def last_id(self, run_id: str) -> str:
        """The id of the newest event, or `0-0` when there is none."""
        newest = keys.range_entries(await self.redis.xrevrange(keys.run_events(run_id), count=1))
        return newest[0][0] if newest else "0-0"

    async def read_after(
        self, run_id: str, after: str, *, block_ms: int, redis: RedisClient | None = None
    ) -> list[Event]:
        """Wait up to `block_ms` for events after `after`; `redis` may be a dedicated client."""
        reply = await (redis or self.redis).xread({keys.run_events(run_id): after}, block=block_ms)
        return _events(keys.read_entries(reply))

    async def text(self, run_id: str) -> str:
        """The answer so far: the concatenation of every token's text."""
        events = await self.history(run_id)
        return "".join(e.payload()["text"] for e in events if e.event == "token")

    async def request_cancel(self, run_id: str, by: str, superseded_by: str = "") -> None:
        """Ask the run to stop; its worker notices within a second. `by` is who asked;
        `superseded_by` the newer run that replaces it, if one does."""
        fields = {CANCELLED_BY: by, **({SUPERSEDED_BY: superseded_by} if superseded_by else {})}
        await self.update(run_id, **fields)

    async def cancel_requested_by(self, run_id: str) -> str | None:
        """Who asked the run to stop, if anyone did."""
        return cast(str | None, await self.redis.hget(keys.run_meta(run_id), CANCELLED_BY))

    async def add_to_thread(self, repository: str, number: int, run_id: str) -> None:
        """Note that a run is active in an issue or pull request thread."""
        key = keys.thread_runs(repository, number)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, run_id)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()

    async def remove_from_thread(self, repository: str, number: int, run_id: str) -> None:
        """The run is no longer active in its thread."""
        await self.redis.srem(keys.thread_runs(repository, number), run_id)

    async def runs_in_thread(self, repository: str, number: int) -> set[str]:
        """The runs active in a thread."""
        return cast(set[str], await self.redis.smembers(keys.thread_runs(repository, number)))

    def writer(self, run_id: str, epoch: int | None = None) -> RunWriter:
        """A producer for one run that merges tokens (fenced by `epoch` when given)."""
        return RunWriter(self, run_id, epoch=epoch)


class RunWriter:
    """Appends a run's events: a token at once when the writer is idle, tokens that arrive
    while an append is in flight (or sooner than `min_interval` after it) merged into the
    next one, so a run costs at most 1 / `min_interval` appends a second. Thinking is merged
    the same way, apart from tokens: text and thinking keep their order."""

    def __init__(
        self,
        run_log: RunLog,
        run_id: str,
        *,
        min_interval: float = MIN_APPEND_SECONDS,
        epoch: int | None = None,
    ) -> None:
        self.run_log = run_log
        self.run_id = run_id
        self.epoch = epoch
        self.min_interval = min_interval
        self.appends = 0
        # (event, text) pieces not yet appended, in order.
        self._pending: list[tuple[str, str]] = []
        # The event, text and sequence of an append that was sent but not confirmed: sent again
        # with the same sequence (never merged into new text), so Redis keeps exactly one copy.
        self._unconfirmed: tuple[str, str, str] | None = None
        self._writer = secrets.token_hex(8)
        self._seq = 0
        self._last_append = -math.inf
        self._lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def token(self, text: str) -> None:
        """Add a piece of the answer: appended now if the writer is idle, else with the next."""
        self._add("token", text)

    def thinking(self, text: str) -> None:
        """Add a piece of the model's thinking, merged like tokens; never part of the answer."""
        self._add("thinking", text)

    def _add(self, event: str, text: str) -> None:
        self._raise_failure()
        if not text:
            return
        self._pending.append((event, text))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._drain(), name=f"writer:{self.run_id}")

    async def flush(self) -> None:
        """Append every buffered token now."""
        async with self._lock:
            await self._flush_locked()

    async def emit(self, event: str, data: Mapping[str, Any]) -> str:
        """Append an event after every token buffered before it."""
        self._raise_failure()
        async with self._lock:
            await self._flush_locked()
            return await self._append(event, data, self._next_seq())

    async def status(self, state: str, message: str) -> str:
        """Say what the run is doing."""
        return await self.emit("status", {"state": state, "message": message})

    async def error(
        self, message: str, code: str, *, recoverable: bool, retry_count: int = 0
    ) -> str:
        """Say what went wrong; `recoverable` tells whether the run goes on."""
        return await self.emit(
            "error",
            {
                "message": message,
                "code": code,
                "recoverable": recoverable,
                "retry_count": retry_count,
            },
        )

    async def complete(
        self,
        status: str,
        *,
        comment_url: str | None = None,
        usage: UsageData | None = None,
        cost_usd: float | None = None,
    ) -> str:
        """End the run: flush what is buffered, then the final `complete` event."""
        data: CompleteData = {
            "status": status,
            "comment_url": comment_url,
            "usage": usage or {"prompt_tokens": 0, "completion_tokens": 0},
        }
        if cost_usd is not None:
            data["cost_usd"] = round(cost_usd, 6)
        try:
            return await self.emit("complete", data)
        finally:
            self.close()

    def close(self) -> None:
        """Stop appending: a cancelled producer must not append behind its successor."""
        if self._pump is not None:
            self._pump.cancel()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                wait = self._last_append + self.min_interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.flush()
        except Exception as exc:
            # Kept to be raised to the producer at its next call: text must not vanish silently.
            self._failure = exc
            warn_failure(log, "token append failed", exc, run_id=self.run_id)

    async def _flush_locked(self) -> None:
        # Only what is buffered now: text that arrives during these appends waits for the next.
        waiting = len(self._pending)
        while self._unconfirmed is not None or waiting:
            if self._unconfirmed is None:
                # The leading pieces of one kind become one event.
                event = self._pending[0][0]
                run = next(
                    (n for n, (kind, _) in enumerate(self._pending[:waiting]) if kind != event),
                    waiting,
                )
                text = "".join(piece for _, piece in self._pending[:run])
                del self._pending[:run]
                waiting -= run
                self._unconfirmed = (event, text, self._next_seq())
            event, text, seq = self._unconfirmed
            await self._append(event, {"text": text}, seq)
            self._unconfirmed = None

    async def _append(self, event: str, data: Mapping[str, Any], seq: str) -> str:
        self._last_append = asyncio.get_running_loop().time()
        self.appends += 1
        return await self.run_log.append(self.run_id, event, data, epoch=self.epoch, writer_seq=seq)

    def _next_seq(self) -> str:
        self._seq += 1
        return f"{self._writer}:{self._seq}"

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
