"""The archive in PostgreSQL: save finished runs, read them back, list, sum, forget old ones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from livebot.archive.migrate import migrate
from livebot.archive.records import (
    PAGE_SIZE,
    USAGE_DAYS,
    FinishedRun,
    RunSummary,
    UsageRow,
    decode_cursor,
)
from livebot.runs import visibility
from livebot.runs.log import Event

log = logging.getLogger(__name__)

POOL_SIZE: Final = 8
# Seconds to wait for a pooled connection: an outage surfaces as an error, not a hang.
CONNECT_TIMEOUT: Final = 5.0

UPSERT_RUN: Final = """
INSERT INTO runs (run_id, repository, number, title, workflow, status, author, private, model,
                  created_at, started_at, finished_at, prompt_tokens, completion_tokens,
                  cost_usd, comment_url, text, meta)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id) DO UPDATE SET
    repository = EXCLUDED.repository, number = EXCLUDED.number, title = EXCLUDED.title,
    workflow = EXCLUDED.workflow, status = EXCLUDED.status, author = EXCLUDED.author,
    private = EXCLUDED.private, model = EXCLUDED.model, created_at = EXCLUDED.created_at,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    prompt_tokens = EXCLUDED.prompt_tokens, completion_tokens = EXCLUDED.completion_tokens,
    cost_usd = EXCLUDED.cost_usd, comment_url = EXCLUDED.comment_url, text = EXCLUDED.text,
    meta = EXCLUDED.meta, archived_at = now()
"""
LIST_RUNS: Final = """
SELECT run_id, workflow, status, number, title, author, private, created_at, started_at,
       finished_at, prompt_tokens, completion_tokens, cost_usd
FROM runs
WHERE lower(repository) = lower(%(repository)s)
  AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(before_at)s::timestamptz IS NULL OR (created_at, run_id) < (%(before_at)s, %(before_id)s))
ORDER BY created_at DESC, run_id DESC
LIMIT %(limit)s
"""
USAGE: Final = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, workflow,
       sum(prompt_tokens + completion_tokens)::bigint, sum(cost_usd), count(*)
FROM runs
WHERE lower(repository) = lower(%s) AND created_at >= now() - make_interval(days => %s)
GROUP BY day, workflow
ORDER BY day, workflow
"""


def _time(meta: dict[str, str], name: str) -> datetime | None:
    return datetime.fromtimestamp(float(meta[name]), UTC) if meta.get(name) else None


def _int(meta: dict[str, str], name: str) -> int:
    return int(float(meta[name])) if meta.get(name) else 0


def _row(run: FinishedRun) -> tuple[Any, ...]:
    """The `runs` row of a run."""
    meta = run.meta
    return (
        run.run_id,
        meta.get("repository"),
        _int(meta, "number") if meta.get("number") else None,
        meta.get("title", ""),
        meta.get("workflow", ""),
        meta.get("status", ""),
        meta.get("author", ""),
        visibility.is_private(meta),
        meta.get("model", ""),
        _time(meta, "created_at") or datetime.now(UTC),
        _time(meta, "started_at"),
        _time(meta, "finished_at"),
        _int(meta, "prompt_tokens"),
        _int(meta, "completion_tokens"),
        run.cost_usd,
        meta.get("comment_url"),
        run.text,
        Jsonb(meta),
    )


class Archive:
    """Finished runs in PostgreSQL, through a pool of asyncio connections."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = POOL_SIZE) -> Archive:
        """Connect, bring the schema up to date, and return the archive."""
        # One plain connection first: its error says why (refused, auth, no database).
        async with await AsyncConnection.connect(url, connect_timeout=int(CONNECT_TIMEOUT)) as conn:
            await migrate(conn)
        pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT,
            open=False,
            check=AsyncConnectionPool.check_connection,
        )
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        return cls(pool)

    async def close(self) -> None:
        """Close every connection."""
        await self.pool.close()

    async def save(self, runs: list[FinishedRun]) -> None:
        """Write runs and their events in one transaction; saving a run again changes nothing."""
        async with self.pool.connection() as conn, conn.transaction():
            # One statement at a time: executemany's pipeline mode, if cancelled midway, would
            # hand the connection back to the pool still in that mode.
            for run in runs:
                await conn.execute(UPSERT_RUN, _row(run))
            await conn.execute(
                "DELETE FROM run_events WHERE run_id = ANY(%s)", ([run.run_id for run in runs],)
            )
            async with conn.cursor().copy(
                "COPY run_events (run_id, seq, event_id, event, data) FROM STDIN"
            ) as copy:
                for run in runs:
                    for seq, event in enumerate(run.events):
                        await copy.write_row((run.run_id, seq, event.id, event.event, event.data))

    async def get(self, run_id: str) -> FinishedRun | None:
        """A finished run, or None when the archive does not have it."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute("SELECT meta FROM runs WHERE run_id = %s", (run_id,))
            found = await cursor.fetchone()
            if found is None:
                return None
            cursor = await conn.execute(
                "SELECT event_id, event, data FROM run_events WHERE run_id = %s ORDER BY seq",
                (run_id,),
            )
            events = [Event(*row) for row in await cursor.fetchall()]
        meta: dict[str, str] = found[0]
        return FinishedRun(run_id, meta, events)

    async def runs(
        self,
        repository: str,
        *,
        workflow: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_SIZE,
    ) -> list[RunSummary]:
        """A page of a repository's runs, newest first, after `cursor`."""
        before_at, before_id = decode_cursor(cursor) if cursor else (None, None)
        params = {
            "repository": repository,
            "workflow": workflow,
            "status": status,
            "before_at": before_at,
            "before_id": before_id,
            "limit": limit,
        }
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(LIST_RUNS, params)).fetchall()
        return [RunSummary(*row) for row in rows]

    async def usage(self, repository: str, days: int = USAGE_DAYS) -> list[UsageRow]:
        """Tokens and cost per day and workflow over the last `days` days."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(USAGE, (repository, days))).fetchall()
        return [
            UsageRow(day, wf, int(tokens), float(cost or 0), n) for day, wf, tokens, cost, n in rows
        ]

    async def clean_up(self, days: int) -> int:
        """Forget runs created more than `days` days ago, and the review feedback on findings
        posted as long ago; return how many runs."""
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "DELETE FROM runs WHERE created_at < now() - make_interval(days => %s)", (days,)
            )
            deleted = cursor.rowcount
            await conn.execute(
                "DELETE FROM review_feedback WHERE posted_at < now() - make_interval(days => %s)",
                (days,),
            )
        if deleted:
            log.info("archive cleaned up", extra={"deleted": deleted, "days": days})
        return deleted
