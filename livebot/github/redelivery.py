"""Deliveries GitHub gave up on: GitHub never redelivers by itself, so after an outage (the web
tier answered 503) Livebot asks the App's deliveries API for the ones that failed and asks
GitHub to send them again. Livebot dedupes by delivery id: a redelivery never runs twice."""

from __future__ import annotations

import datetime
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from livebot.github.client import GitHubApp
from livebot.github.paths import api_path

log = logging.getLogger(__name__)

DELIVERIES_URL: Final = api_path("app", "hook", "deliveries", query={"per_page": 100})
# GitHub records the time it sent a delivery; ours of the 503 may differ by a little.
WINDOW_MARGIN_SECONDS: Final = 60.0
# Deliveries are listed newest first; this bounds how far back a listing may page.
MAX_DELIVERIES_READ: Final = 10_000
DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# GitHub keeps deliveries for 3 days: further back there is nothing to redeliver.
MAX_SINCE_SECONDS: Final = 3 * 86400


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `2h`, `1d` as seconds (ValueError otherwise, or beyond GitHub's 3 days)."""
    match = DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration like 30m, 2h or 1d: {text!r}")
    seconds = float(match[1]) * UNIT_SECONDS[match[2]]
    if not 0 < seconds <= MAX_SINCE_SECONDS:
        raise ValueError("must be more than 0 and at most 3d (GitHub keeps deliveries 3 days)")
    return seconds


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt as GitHub lists it."""

    id: int
    guid: str
    event: str
    action: str | None
    delivered_at: float
    status_code: int
    status: str

    @property
    def ok(self) -> bool:
        """Whether Livebot accepted it."""
        return 200 <= self.status_code < 300

    @classmethod
    def from_github(cls, item: dict[str, Any]) -> Delivery:
        """From an item of GET /app/hook/deliveries."""
        when = datetime.datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00"))
        return cls(
            id=int(item["id"]),
            guid=str(item["guid"]),
            event=str(item.get("event") or ""),
            action=item.get("action"),
            delivered_at=when.timestamp(),
            status_code=int(item.get("status_code") or 0),
            status=str(item.get("status") or ""),
        )


async def failed_deliveries(app: GitHubApp, since: float, until: float) -> list[Delivery]:
    """The deliveries sent within [since, until] that never succeeded (one per delivery id,
    its newest attempt), oldest first."""
    newest: dict[str, Delivery] = {}
    succeeded: set[str] = set()
    read = 0
    async for item in app.gh.getiter(DELIVERIES_URL, jwt=app.jwt(), iterable_key=None):
        delivery = Delivery.from_github(item)
        read += 1
        if delivery.delivered_at < since or read > MAX_DELIVERIES_READ:
            break
        if delivery.ok:
            succeeded.add(delivery.guid)
        elif delivery.delivered_at <= until:
            newest.setdefault(delivery.guid, delivery)
    failed = [d for guid, d in newest.items() if guid not in succeeded]
    return sorted(failed, key=lambda d: d.delivered_at)


async def redeliver(app: GitHubApp, delivery: Delivery) -> str:
    """Ask GitHub to send a delivery again; what happened, in a word or two."""
    try:
        attempts = api_path("app", "hook", "deliveries", delivery.id, "attempts")
        await app.gh.post(attempts, data=b"", jwt=app.jwt())
    except Exception as exc:
        log.warning("redelivery refused", extra={"delivery_id": delivery.guid}, exc_info=True)
        return f"failed: {exc}"
    return "redelivered"


async def redeliver_failed(
    app: GitHubApp, since: float, until: float
) -> list[tuple[Delivery, str]]:
    """Redeliver every delivery that failed within the window; each with its outcome."""
    results = []
    for delivery in await failed_deliveries(app, since, until):
        results.append((delivery, await redeliver(app, delivery)))
    log.info("failed deliveries redelivered", extra={"count": len(results)})
    return results


def table(results: list[tuple[Delivery, str]]) -> str:
    """The operator's view of a redelivery: one line per delivery."""
    rows = [("id", "delivery", "event", "sent (UTC)", "status", "outcome")]
    for delivery, outcome in results:
        sent = datetime.datetime.fromtimestamp(delivery.delivered_at, datetime.UTC)
        event = f"{delivery.event}.{delivery.action}" if delivery.action else delivery.event
        rows.append(
            (
                str(delivery.id),
                delivery.guid,
                event,
                sent.strftime("%Y-%m-%d %H:%M:%S"),
                str(delivery.status_code or delivery.status),
                outcome,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


class OutageNotes:
    """When the web tier answered 503 because Redis was away: kept in memory and in a local
    file (Redis cannot hold it), until the deliveries of that window are redelivered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.window: tuple[float, float] | None = self._load()

    def note(self, when: float | None = None) -> None:
        """A delivery got 503 now."""
        when = time.time() if when is None else when
        start = self.window[0] if self.window else when
        self.window = (start, when)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"start": start, "end": when}))
        except OSError:
            log.warning("could not keep the outage note on disk", exc_info=True)

    def clear(self, upto: tuple[float, float]) -> None:
        """The window `upto` was redelivered (a later 503 keeps its own note)."""
        if self.window is not None and self.window[1] <= upto[1]:
            self.window = None
            self.path.unlink(missing_ok=True)

    def _load(self) -> tuple[float, float] | None:
        try:
            data = json.loads(self.path.read_text())
            return float(data["start"]), float(data["end"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
