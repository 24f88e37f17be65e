"""The job queue: a Redis Stream with a consumer group, deduplicated by delivery id."""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.exceptions import ResponseError

from livebot.core.batching import Batcher
from livebot.github.paths import Query, Segment, repo_path
from livebot.runs import visibility
from livebot.runs.visibility import Visibility
from livebot.store import keys, scripts
from livebot.store.client import RedisClient
from livebot.store.keys import DEAD_LETTERS, JOB_GROUP, JOB_STREAM

log = logging.getLogger(__name__)

DELIVERY_TTL_SECONDS: Final = 7 * 86400

# The scripts (KEYS and ARGV in their headers) are livebot/store/lua/: each job's dedupe and
# enqueue are one atomic step, and the jobs of a burst of webhooks share one round trip
# (job_enqueue); a job is given back at once, on shutdown or after Redis was away, as a fresh
# entry that costs none of its attempts, and only while its consumer still holds it
# (job_requeue); claims are renewed only while this consumer holds them (job_renew); rate
# limits count in fixed windows (rate_count).
# Consumer names are `<host>-<pid>`: a name of this host whose process is gone left its jobs.
CONSUMER_NAME: Final = re.compile(r"^(?P<host>.+)-(?P<pid>\d+)$")
# A consumer that holds nothing and did nothing for this long is gone: it leaves the group.
IDLE_CONSUMER_MS: Final = 3_600_000


def consumer_name() -> str:
    """This process's consumer name."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _process_is_gone(consumer: str) -> bool:
    """Whether `consumer` is a name of this host whose process no longer runs."""
    match = CONSUMER_NAME.match(consumer)
    if match is None or match["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


@dataclass(frozen=True)
class Job:
    """Work for a worker: which workflow, for which thread, asked by whom."""

    kind: str
    run_id: str
    delivery_id: str
    installation_id: int
    repository: str
    number: int
    author: str
    is_pull_request: bool = False
    comment_id: int | None = None
    # "issue_comment" or "review_comment": where the triggering comment lives, for the 👀.
    comment_kind: str | None = None
    # A review comment that replies in a thread: the thread's first comment, the only one GitHub
    # lets a reply answer ("replies to replies are not supported").
    in_reply_to_id: int | None = None
    request: str = ""
    # What the mention asked for; differs from `kind` when the author was refused.
    command: str = ""
    # An automatic job: the event that started it (a pull request's `opened`, `synchronize`…).
    trigger: str = ""
    # The pull request was a draft when the event came.
    draft: bool = False
    # Who may see the run, and the thread's title (kept with the run for its history). Built from
    # the delivery by `Intake.start` only; a job that does not know is private.
    visibility: Visibility = "private"
    title: str = ""

    def issue_path(self, *segments: Segment, query: Query | None = None) -> str:
        """The REST path of the job's issue (or pull request, as an issue), or below it."""
        return repo_path(self.repository, "issues", self.number, *segments, query=query)

    @property
    def in_review_thread(self) -> bool:
        """Whether the mention is a comment on a line of a pull request's diff."""
        return self.comment_kind == "review_comment" and self.comment_id is not None

    def thread_comments_path(self, query: Query | None = None) -> str:
        """Where the replies of the job's thread are listed and posted."""
        kind = "pulls" if self.in_review_thread else "issues"
        return repo_path(self.repository, kind, self.number, "comments", query=query)

    @property
    def reply_path(self) -> str:
        """Where a reply to the mention is posted: its review thread's list, else the issue's."""
        return self.thread_comments_path()

    def reply_data(self, body: str) -> dict[str, Any]:
        """The JSON that posts `body` as a reply to the mention."""
        if self.in_review_thread:
            # `in_reply_to` on the PR's comments, not `/comments/{id}/replies`: GitHub's REST
            # description does not enable that endpoint for GitHub Apps.
            return {"body": body, "in_reply_to": self.in_reply_to_id or self.comment_id}
        return {"body": body}

    def comment_path(self, comment_id: int) -> str:
        """The REST path of one of the bot's replies, to edit it."""
        kind = "pulls" if self.in_review_thread else "issues"
        return repo_path(self.repository, kind, "comments", comment_id)

    def encode(self) -> str:
        """The job as JSON."""
        # Every field is JSON-ready; asdict's recursive deep copy would cost four times the dump.
        return orjson.dumps(self.__dict__).decode()

    @classmethod
    def decode(cls, raw: str) -> Job:
        """A job from its JSON."""
        fields: dict[str, Any] = orjson.loads(raw)
        if "private" in fields:
            # Queued by a version before `visibility`.
            private = fields.pop("private")
            fields[visibility.FIELD] = visibility.legacy(private, fields.get("trigger"))
        return cls(**fields)


@dataclass(frozen=True)
class ClaimedJob:
    """A job as a worker holds it: its stream entry and how often it was handed out."""

    message_id: str
    job: Job
    times_delivered: int = 1


class JobQueue:
    """Enqueue jobs, hand them to workers, keep claims fresh, reclaim abandoned ones."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._enqueue = redis.register_script(scripts.load("job_enqueue"))
        self._requeue = redis.register_script(scripts.load("job_requeue"))
        self._count = redis.register_script(scripts.load("rate_count"))
        self._renew = redis.register_script(scripts.load("job_renew"))
        self._enqueues = Batcher(self._enqueue_many)

    async def ensure_group(self) -> None:
        """Create the stream and the consumer group if they do not exist."""
        try:
            await self.redis.xgroup_create(JOB_STREAM, JOB_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, job: Job) -> bool:
        """Queue a job unless its delivery was queued before (with the jobs of the same moment)."""
        return await self._enqueues.submit(job)

    async def _enqueue_many(self, jobs: list[Job]) -> list[bool]:
        queued = await self._enqueue(
            keys=[JOB_STREAM, *(keys.delivery(job.delivery_id) for job in jobs)],
            args=[DELIVERY_TTL_SECONDS, *(job.encode() for job in jobs)],
        )
        return [flag == 1 for flag in queued]

    async def first_time(self, name: str, ttl_seconds: int) -> bool:
        """Whether `name` happens now for the first time within `ttl_seconds`."""
        return bool(await self.redis.set(keys.once(name), "1", nx=True, ex=ttl_seconds))

    async def within_limit(self, name: str, limit: int, window_seconds: int) -> bool:
        """Count one `name` in its window; whether the count is still within `limit`."""
        count = await self._count(keys=[keys.once(name)], args=[window_seconds])
        return int(count) <= limit

    async def seen(self, delivery_id: str) -> bool:
        """Whether a delivery was already handled."""
        return bool(await self.redis.exists(keys.delivery(delivery_id)))

    async def oldest_waiting_age(self, now_ms: int) -> float:
        """Seconds the oldest job no worker has taken yet has waited (0 when none waits)."""
        groups = await self.redis.xinfo_groups(JOB_STREAM)
        last = next((g["last-delivered-id"] for g in groups if g["name"] == JOB_GROUP), "0-0")
        waiting = keys.range_entries(await self.redis.xrange(JOB_STREAM, f"({last}", "+", 1))
        if not waiting:
            return 0.0
        return max(0.0, (now_ms - int(waiting[0][0].split("-")[0])) / 1000)

    async def take(self, consumer: str, count: int, block_ms: int) -> list[ClaimedJob]:
        """New jobs for this consumer, waiting up to `block_ms` for some."""
        reply = await self.redis.xreadgroup(
            JOB_GROUP, consumer, {JOB_STREAM: ">"}, count=count, block=block_ms
        )
        return await self._claimed_jobs(
            [(message_id, fields, 1) for message_id, fields in keys.read_entries(reply)]
        )

    async def claim_abandoned(
        self, consumer: str, min_idle_ms: int, count: int, running: frozenset[str] = frozenset()
    ) -> list[ClaimedJob]:
        """Jobs whose worker stopped renewing its claim, now this consumer's; never one of
        `running`, the jobs this consumer runs itself (its renewal was merely late)."""
        # Redis 6.2 answers [next, entries]; Redis 7 adds the ids of deleted entries.
        reply = await self.redis.xautoclaim(
            JOB_STREAM, JOB_GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        return await self._with_times(
            [entry for entry in keys.range_entries(reply[1]) if entry[0] not in running]
        )

    async def adopt_orphans(self, consumer: str) -> list[ClaimedJob]:
        """At start: the jobs left pending by this host's dead processes (and by this very name,
        from a former life), now this consumer's at once; the dead leave the group."""
        adopted: list[keys.StreamEntry] = []
        for info in await self.redis.xinfo_consumers(JOB_STREAM, JOB_GROUP):
            name, pending = str(info["name"]), int(info["pending"])
            if name != consumer and not _process_is_gone(name):
                if pending == 0 and int(info["idle"]) > IDLE_CONSUMER_MS:
                    await self.redis.xgroup_delconsumer(JOB_STREAM, JOB_GROUP, name)
                continue
            if pending:
                rows = await self.redis.xpending_range(
                    JOB_STREAM, JOB_GROUP, min="-", max="+", count=pending, consumername=name
                )
                ids = list[int | bytes | str | memoryview](row["message_id"] for row in rows)
                claimed = await self.redis.xclaim(
                    JOB_STREAM, JOB_GROUP, consumer, min_idle_time=0, message_ids=ids
                )
                adopted += keys.range_entries(claimed)
            if name != consumer:
                await self.redis.xgroup_delconsumer(JOB_STREAM, JOB_GROUP, name)
            log.info("took over a dead consumer's jobs", extra={"consumer": name, "jobs": pending})
        return await self._with_times(adopted)

    async def renew(self, consumer: str, message_ids: list[str]) -> list[str]:
        """Reset the idle time of jobs this consumer is running, so nobody reclaims them; the
        ids another consumer took over meanwhile."""
        if not message_ids:
            return []
        lost = await self._renew(keys=[JOB_STREAM], args=[JOB_GROUP, consumer, *message_ids])
        return [str(message_id) for message_id in lost]

    async def ack(self, message_id: str) -> None:
        """The job is done: forget it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(JOB_STREAM, JOB_GROUP, message_id)
            pipe.xdel(JOB_STREAM, message_id)
            await pipe.execute()

    async def requeue(self, claimed: ClaimedJob, consumer: str = "") -> bool:
        """Hand a job back for another worker to start now (if `consumer` still holds it)."""
        handed_back = await self._requeue(
            keys=[JOB_STREAM], args=[claimed.message_id, claimed.job.encode(), JOB_GROUP, consumer]
        )
        return bool(handed_back)

    async def dead_letter(self, claimed: ClaimedJob, reason: str) -> None:
        """Set a job aside for good after too many attempts."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                DEAD_LETTERS,
                {"job": claimed.job.encode(), "reason": reason},
                maxlen=10_000,
                approximate=True,
            )
            pipe.xack(JOB_STREAM, JOB_GROUP, claimed.message_id)
            pipe.xdel(JOB_STREAM, claimed.message_id)
            await pipe.execute()

    async def _with_times(self, found: list[keys.StreamEntry]) -> list[ClaimedJob]:
        """Claimed entries with how often each was handed out."""
        entries: list[tuple[str, dict[str, str], int]] = []
        for message_id, fields in found:
            if not fields:
                continue
            pending = await self.redis.xpending_range(
                JOB_STREAM, JOB_GROUP, min=message_id, max=message_id, count=1
            )
            times = int(pending[0]["times_delivered"]) if pending else 1
            entries.append((message_id, fields, times))
        return await self._claimed_jobs(entries)

    async def _claimed_jobs(
        self, entries: list[tuple[str, dict[str, str], int]]
    ) -> list[ClaimedJob]:
        claimed_jobs = []
        for message_id, fields, times in entries:
            try:
                claimed_jobs.append(ClaimedJob(message_id, Job.decode(fields["job"]), times))
            except (KeyError, TypeError, ValueError):
                # An entry no worker can read (written by another version?) must not block the rest.
                log.error("unreadable job set aside", extra={"message_id": message_id})
                await self._set_aside(message_id, fields, "unreadable job")
        return claimed_jobs

    async def _set_aside(self, message_id: str, fields: dict[str, str], reason: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            entry: keys.Fields = {"reason": reason}
            entry.update(fields)
            pipe.xadd(DEAD_LETTERS, entry, maxlen=10_000, approximate=True)
            pipe.xack(JOB_STREAM, JOB_GROUP, message_id)
            pipe.xdel(JOB_STREAM, message_id)
            await pipe.execute()
