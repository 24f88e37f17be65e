"""Schema migrations: numbered SQL files in this package, applied once each, in order, at start."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

log = logging.getLogger(__name__)

MIGRATION_NAME: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# Any fixed 64-bit number: every process that starts at once waits here for the first one.
LOCK_ID: Final = 0x6C697665626F7401
CREATE_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with livebot, oldest first."""
    folder = resources.files("livebot.archive") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def migrate(conn: AsyncConnection[TupleRow]) -> list[str]:
    """Apply what is missing, under an advisory lock; return the names applied."""
    applied: list[str] = []
    async with conn.transaction():
        # Transaction-scoped: released by the commit, or by the server if this process dies.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        await conn.execute(CREATE_TABLE)
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in migrations():
            if migration.version in done:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.name)
    if applied:
        log.info("archive schema migrated", extra={"applied": applied})
    return applied
