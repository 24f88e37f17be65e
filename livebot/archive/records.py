"""What the archive holds, as plain records: finished runs, history lines, usage, page cursors.

Apart from livebot/archive/store.py so that the web tier reads them without loading psycopg.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from livebot.runs.log import Event

PAGE_SIZE: Final = 50
USAGE_DAYS: Final = 90


class CursorError(ValueError):
    """A page cursor that livebot did not write."""


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A run as it ended: its metadata hash and every event of its stream."""

    run_id: str
    meta: dict[str, str]
    events: list[Event]

    @property
    def text(self) -> str:
        """The answer: every token's text, in order."""
        return "".join(e.payload()["text"] for e in self.events if e.event == "token")

    @property
    def cost_usd(self) -> float | None:
        """The estimated cost, when the run's workflow reported one."""
        if self.meta.get("cost_usd"):
            return float(self.meta["cost_usd"])
        for event in reversed(self.events):
            if event.event == "complete":
                cost = event.payload().get("cost_usd")
                return float(cost) if cost is not None else None
        return None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One line of a repository's history."""

    run_id: str
    workflow: str
    status: str
    number: int | None
    title: str
    author: str
    private: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None

    @property
    def seconds(self) -> float | None:
        """How long the run took, from its creation to its end."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds()

    @property
    def cursor(self) -> str:
        """The cursor of the page that starts after this run."""
        raw = f"{self.created_at.timestamp():.6f}:{self.run_id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Tokens and cost of one workflow on one day."""

    day: date
    workflow: str
    tokens: int
    cost_usd: float
    runs: int


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, run_id) a cursor points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, run_id = raw.split(":", 1)
        when = datetime.fromtimestamp(float(stamp), UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise CursorError("malformed cursor") from None
    if not run_id or len(run_id) > 64:
        raise CursorError("malformed cursor")
    return when, run_id


@dataclass(frozen=True, slots=True)
class WeekFeedback:
    """A week's findings of one severity: how many were posted, accepted and rejected."""

    week: date  # its Monday (UTC)
    severity: str
    posted: int
    accepted: int
    rejected: int
