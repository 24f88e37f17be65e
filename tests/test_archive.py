"""The archive: migrations, the hand-over from Redis (at-least-once, idempotent), the sweep,
retention, and finished runs served from PostgreSQL after their Redis log has expired."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout
from redis.asyncio import Redis

from livebot.archive.archiver import Archiver
from livebot.archive.feedback import FindingFeedback, ReviewFeedback
from livebot.archive.migrate import CREATE_TABLE as CREATE_MIGRATIONS
from livebot.archive.migrate import migrate, migrations
from livebot.archive.records import CursorError, decode_cursor
from livebot.archive.store import Archive
from livebot.core.settings import Settings
from livebot.runs import visibility
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.store import keys
from tests.conftest import WebClient
from tests.postgres import PostgresServer, running_postgres
from tests.sse import answer, read_events

ANSWER = ["The crash ", "comes from `load_config()`", " — fix: create the folder first."]


@pytest.fixture
async def archive(database_url: str) -> AsyncIterator[Archive]:
    """The archive on a fresh database, migrated."""
    archive = await Archive.open(database_url)
    yield archive
    await archive.close()


@pytest.fixture
def announcing_log(redis_client: Redis) -> RunLog:
    """A run log that announces finished runs to the archive."""
    return RunLog(redis_client, ttl_seconds=3600, announce_finished=True)


async def finished_run(
    run_log: RunLog, *, repository: str = "octo-org/hello-world", private: bool = True
) -> str:
    """A run that streamed ANSWER and ended."""
    run_id = await run_log.create(
        workflow="answer",
        repository=repository,
        number=7,
        fields={"author": "octocat", "title": "Why does it crash?", "private": int(private)},
    )
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
    for text in ANSWER:
        await run_log.append(run_id, "token", {"text": text})
    await run_log.append(
        run_id,
        "complete",
        {
            "status": "succeeded",
            "comment_url": "https://github.com/octo-org/hello-world/issues/7#issuecomment-1",
            "usage": {"prompt_tokens": 120, "completion_tokens": 30},
            "cost_usd": 0.0025,
        },
    )
    return run_id


async def expired(redis: Redis, run_id: str) -> None:
    """Wait for the run's Redis keys to expire (their TTL is a second)."""
    for _ in range(100):
        if not await redis.exists(keys.run_meta(run_id), keys.run_events(run_id)):
            return
        await asyncio.sleep(0.1)
    pytest.fail("the run's Redis log did not expire")


async def count(archive: Archive, table: str, run_id: str) -> int:
    """Rows of a run in a table."""
    async with archive.pool.connection() as conn:
        query = f"SELECT count(*) FROM {table} WHERE run_id = %s".encode()
        row = await (await conn.execute(query, (run_id,))).fetchone()
    assert row is not None
    return int(row[0])


async def test_migrations_apply_once_in_order(database_url: str) -> None:
    names = [m.name for m in migrations()]
    assert names[0] == "0001_init.sql"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        assert await migrate(conn) == names
        assert await migrate(conn) == []
        rows = await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()
    assert [row[0] for row in rows] == [m.version for m in migrations()]


# Rows as the archive held them before runs said who may see them: (meta, the `private` column).
ROWS_BEFORE_VISIBILITY = {
    "mention-public": ({"private": "0"}, False),
    "mention-private": ({"private": "1"}, True),
    "auto-review": ({"private": "0", "trigger": "opened"}, False),
    "no-privacy": ({}, False),
}


async def test_archived_runs_of_unknown_privacy_become_private(database_url: str) -> None:
    first, *later = migrations()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(first.sql.encode())
        await conn.execute(CREATE_MIGRATIONS)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (first.version, first.name),
        )
        for run_id, (meta, private) in ROWS_BEFORE_VISIBILITY.items():
            await conn.execute(
                "INSERT INTO runs (run_id, workflow, status, private, created_at, meta) "
                "VALUES (%s, 'review', 'succeeded', %s, now(), %s)",
                (run_id, private, Jsonb({"workflow": "review", **meta})),
            )
        assert await migrate(conn) == [m.name for m in later]
        rows = await (await conn.execute("SELECT run_id, private, meta FROM runs")).fetchall()
        await conn.execute(
            "INSERT INTO runs (run_id, workflow, status, created_at, meta) "
            "VALUES ('unsaid', 'answer', 'queued', now(), '{}')"
        )
        unsaid = await conn.execute("SELECT private FROM runs WHERE run_id = 'unsaid'")
        assert await unsaid.fetchone() == (True,)
    private_of = {run_id: flag for run_id, flag, _ in rows}
    assert private_of == {
        "mention-public": False,
        "mention-private": True,
        "auto-review": True,
        "no-privacy": True,
    }
    # The metadata the run page reads says the same as the column the history lists.
    assert all(visibility.is_private(meta) == private_of[run_id] for run_id, _, meta in rows)
    assert {run_id: meta["visibility"] for run_id, _, meta in rows}["auto-review"] == "private"


async def test_a_finished_run_is_archived_whole(
    announcing_log: RunLog, archive: Archive, redis_client: Redis
) -> None:
    run_id = await finished_run(announcing_log)
    archiver = Archiver(announcing_log, archive, archive_days=365, consumer="test")
    await archiver.ensure_group()
    assert await archiver.step() == 1
    archived = await archive.get(run_id)
    assert archived is not None
    assert archived.events == await announcing_log.history(run_id)
    assert archived.text == "".join(ANSWER)
    assert archived.meta["status"] == "succeeded"
    [summary] = await archive.runs("Octo-Org/Hello-World")
    assert (summary.run_id, summary.workflow, summary.status) == (run_id, "answer", "succeeded")
    assert (summary.number, summary.title, summary.author) == (7, "Why does it crash?", "octocat")
    assert (summary.prompt_tokens, summary.completion_tokens) == (120, 30)
    assert summary.cost_usd == pytest.approx(0.0025)
    assert summary.private is True
    assert summary.seconds is not None and summary.seconds >= 0
    # Acknowledged and deleted only after the commit: nothing is left to hand over.
    assert await redis_client.xlen(keys.FINISHED_STREAM) == 0
    assert await archiver.step() == 0


async def test_archiving_twice_changes_nothing(announcing_log: RunLog, archive: Archive) -> None:
    run_id = await finished_run(announcing_log)
    archiver = Archiver(announcing_log, archive, archive_days=365, consumer="test")
    await archiver.ensure_group()
    assert await archiver.archive_runs([run_id, run_id]) == 1
    assert await archiver.archive_runs([run_id]) == 1
    assert await count(archive, "runs", run_id) == 1
    assert await count(archive, "run_events", run_id) == len(ANSWER) + 2


async def test_an_outage_delays_the_archive_and_loses_nothing(
    announcing_log: RunLog, redis_client: Redis
) -> None:
    with running_postgres() as server:
        await outage(server, announcing_log, redis_client)


async def outage(server: PostgresServer, announcing_log: RunLog, redis_client: Redis) -> None:
    """Stop PostgreSQL while a run finishes, start it again: the run arrives once."""
    archive = await Archive.open(server.url())
    try:
        archiver = Archiver(announcing_log, archive, archive_days=365, consumer="test")
        await archiver.ensure_group()
        server.stop()
        run_id = await finished_run(announcing_log)
        with pytest.raises((psycopg.Error, PoolTimeout)):
            await archiver.step()
        # Still pending for this consumer: read again, not lost.
        pending = await redis_client.xpending(keys.FINISHED_STREAM, keys.ARCHIVE_GROUP)
        assert pending["pending"] == 1
        server.start()
        assert await archiver.step() == 1
        assert await count(archive, "runs", run_id) == 1
        assert await count(archive, "run_events", run_id) == len(ANSWER) + 2
        assert await redis_client.xlen(keys.FINISHED_STREAM) == 0
    finally:
        await archive.close()


async def test_the_sweep_archives_runs_whose_announcement_was_lost(
    run_log: RunLog, archive: Archive
) -> None:
    run_id = await finished_run(run_log)  # this log announces nothing
    archiver = Archiver(run_log, archive, archive_days=365, consumer="test")
    assert await archiver.sweep() == 0  # sealed too recently: still on its way
    await run_log.update(run_id, finished_at=time.time() - 3600)
    assert await archiver.sweep() == 1
    assert await archive.get(run_id) is not None
    assert await archiver.sweep() == 0  # marked as archived


async def test_retention_forgets_old_runs(run_log: RunLog, archive: Archive) -> None:
    old = await finished_run(run_log)
    await run_log.update(old, created_at=time.time() - 40 * 86400)
    new = await finished_run(run_log)
    archiver = Archiver(run_log, archive, archive_days=30, consumer="test")
    assert await archiver.archive_runs([old, new]) == 2
    assert await archive.clean_up(30) == 1
    assert await archive.get(old) is None
    assert await count(archive, "run_events", old) == 0
    assert await archive.get(new) is not None


async def test_retention_forgets_old_review_feedback(archive: Archive) -> None:
    feedback = ReviewFeedback(archive.pool)
    now = datetime.now(UTC)
    findings = [
        FindingFeedback("a" * 16, "major", "accepted", now - timedelta(days=40)),
        FindingFeedback("b" * 16, "minor", "rejected", now - timedelta(days=2)),
    ]
    await feedback.save("octo/hello", 1, findings, now)
    await archive.clean_up(30)
    weeks = await feedback.weekly("octo/hello", now - timedelta(days=60))
    assert [(w.severity, w.rejected, w.accepted) for w in weeks] == [("minor", 1, 0)]


async def test_history_pages_follow_the_cursor(run_log: RunLog, archive: Archive) -> None:
    archiver = Archiver(run_log, archive, archive_days=365, consumer="test")
    ids = []
    for age in range(5):
        run_id = await finished_run(run_log)
        await run_log.update(run_id, created_at=time.time() - age * 60)
        await archiver.archive_runs([run_id])
        ids.append(run_id)
    first = await archive.runs("octo-org/hello-world", limit=3)
    second = await archive.runs("octo-org/hello-world", limit=3, cursor=first[-1].cursor)
    assert [r.run_id for r in first + second] == ids
    assert await archive.runs("octo-org/hello-world", status="failed") == []
    assert await archive.runs("octo-org/other") == []
    with pytest.raises(CursorError):
        decode_cursor("not a cursor!")


async def test_an_expired_run_is_served_from_the_archive(
    web_client: WebClient, settings: Settings, database_url: str, redis_client: Redis
) -> None:
    client = await web_client(dataclasses.replace(settings, database_url=database_url))
    short_log = RunLog(redis_client, ttl_seconds=1, announce_finished=True)
    run_id = await finished_run(short_log, private=False)
    archive = await Archive.open(database_url)
    try:
        archiver = Archiver(short_log, archive, archive_days=365, consumer="test")
        await archiver.ensure_group()
        assert await archiver.step() == 1
    finally:
        await archive.close()
    await expired(redis_client, run_id)
    token = run_token(settings.link_secret, run_id)
    page = await client.get(f"/runs/{run_id}?token={token}")
    assert page.status == 200
    state = await (await client.get(f"/runs/{run_id}/state?token={token}")).json()
    assert state["text"] == "".join(ANSWER)
    assert state["status"] == "succeeded"
    assert state["usage"] == {"prompt_tokens": 120, "completion_tokens": 30}
    resp = await client.get(f"/runs/{run_id}/events?token={token}")
    events = await read_events(resp)
    assert answer(events) == "".join(ANSWER)
    assert events[-1].event == "complete"
    again = await client.get(
        f"/runs/{run_id}/events?token={token}", headers={"Last-Event-ID": events[-1].id}
    )
    assert again.status == 204
    unknown = "0" * 32
    missing = await client.get(
        f"/runs/{unknown}/state?token={run_token(settings.link_secret, unknown)}"
    )
    assert missing.status == 404
