"""What became of Livebot's review findings (migration 0004): one row per finding, upserted
with its latest outcome, summed per week and severity for the repository's usage page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from livebot.archive.records import WeekFeedback

Outcome = Literal["posted", "accepted", "rejected"]

# One statement for every finding of a pull request, in fingerprint order (two jobs racing on
# the same rows lock them in the same order). A row read earlier than the stored one loses.
UPSERT: Final = """
INSERT INTO review_feedback
    (repository, number, fingerprint, severity, outcome, posted_at, observed_at)
SELECT lower(%(repository)s), %(number)s, f.fingerprint, f.severity, f.outcome, f.posted_at,
       %(observed_at)s
FROM unnest(%(fingerprints)s::text[], %(severities)s::text[], %(outcomes)s::text[],
            %(posted)s::timestamptz[]) AS f(fingerprint, severity, outcome, posted_at)
ORDER BY f.fingerprint
ON CONFLICT (repository, number, fingerprint) DO UPDATE SET
    severity = EXCLUDED.severity, outcome = EXCLUDED.outcome, posted_at = EXCLUDED.posted_at,
    observed_at = EXCLUDED.observed_at
WHERE review_feedback.observed_at <= EXCLUDED.observed_at
"""
WEEKLY: Final = """
SELECT (date_trunc('week', posted_at AT TIME ZONE 'UTC'))::date AS week, severity,
       count(*), count(*) FILTER (WHERE outcome = 'accepted'),
       count(*) FILTER (WHERE outcome = 'rejected')
FROM review_feedback
WHERE repository = lower(%s) AND posted_at >= %s
GROUP BY week, severity
"""


@dataclass(frozen=True, slots=True)
class FindingFeedback:
    """One finding as its thread shows it now."""

    fingerprint: str
    severity: str
    outcome: Outcome
    posted_at: datetime


class ReviewFeedback:
    """Review feedback in the archive's database."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> None:
        self.pool = pool

    async def save(
        self, repository: str, number: int, findings: list[FindingFeedback], observed_at: datetime
    ) -> None:
        """Keep each finding's outcome as read at `observed_at` (unless a later read is kept)."""
        if not findings:
            return
        params = {
            "repository": repository,
            "number": number,
            "fingerprints": [f.fingerprint for f in findings],
            "severities": [f.severity for f in findings],
            "outcomes": [f.outcome for f in findings],
            "posted": [f.posted_at for f in findings],
            "observed_at": observed_at,
        }
        async with self.pool.connection() as conn:
            await conn.execute(UPSERT, params)

    async def weekly(self, repository: str, since: datetime) -> list[WeekFeedback]:
        """The counts per week and severity of the findings posted since `since`."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(WEEKLY, (repository, since))).fetchall()
        return [WeekFeedback(*row) for row in rows]
