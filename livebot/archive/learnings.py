"""Learnings in PostgreSQL (migration 0003): the same rules as in Redis, for operators who keep
the archive, so what maintainers taught survives a Redis that is flushed."""

from __future__ import annotations

import time
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from livebot.learnings.store import MAX_LEARNINGS, Added, Learning, full, normalise

# The repository's numbers row, locked until the transaction ends: adds queue behind it.
NEXT_NUMBER: Final = """
INSERT INTO learning_numbers (repository, last_number) VALUES (%s, 0)
ON CONFLICT (repository) DO UPDATE SET last_number = learning_numbers.last_number
RETURNING last_number
"""
FIND: Final = """
SELECT number, text, author, source_url, extract(epoch FROM created_at)
FROM learnings WHERE repository = %s AND text = %s
"""
COUNT: Final = "SELECT count(*) FROM learnings WHERE repository = %s"
TAKE_NUMBER: Final = "UPDATE learning_numbers SET last_number = %s WHERE repository = %s"
INSERT: Final = """
INSERT INTO learnings (repository, number, text, author, source_url, created_at)
VALUES (%s, %s, %s, %s, %s, to_timestamp(%s))
"""
LIST: Final = """
SELECT number, text, author, source_url, extract(epoch FROM created_at)
FROM learnings WHERE repository = %s ORDER BY number
"""
FORGET: Final = """
DELETE FROM learnings WHERE repository = %s AND number = %s
RETURNING number, text, author, source_url, extract(epoch FROM created_at)
"""


def _learning(row: Any) -> Learning:
    number, text, author, source_url, created_at = row
    return Learning(int(number), text, author, source_url, float(created_at))


class PostgresLearnings:
    """Learnings in the archive's database."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> None:
        self.pool = pool

    async def add(self, repository: str, text: str, author: str, source_url: str) -> Added:
        """Keep `text` for `repository`; LearningRefused when too long or the repository is full."""
        text, repository = normalise(text), repository.lower()
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(NEXT_NUMBER, (repository,))
            row = await cursor.fetchone()
            last = int(row[0]) if row else 0
            found = await (await conn.execute(FIND, (repository, text))).fetchone()
            if found:
                return Added(_learning(found), created=False)
            counted = await (await conn.execute(COUNT, (repository,))).fetchone()
            if counted and counted[0] >= MAX_LEARNINGS:
                raise full()
            now = time.time()
            await conn.execute(TAKE_NUMBER, (last + 1, repository))
            await conn.execute(INSERT, (repository, last + 1, text, author, source_url, now))
        return Added(Learning(last + 1, text, author, source_url, now), created=True)

    async def list(self, repository: str) -> list[Learning]:
        """Every learning, by number."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(LIST, (repository.lower(),))
            return [_learning(row) for row in await cursor.fetchall()]

    async def forget(self, repository: str, number: int) -> Learning | None:
        """Remove learning `number`; what it was, or None when there is no such learning."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(FORGET, (repository.lower(), number))
            row = await cursor.fetchone()
        return _learning(row) if row else None
