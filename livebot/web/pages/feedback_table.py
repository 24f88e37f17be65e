"""The usage page's "Review feedback" box: per week and severity, the findings Livebot posted and
what people made of them, with the totals that tell how to set `review.min_severity`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Final

from livebot.archive.records import WeekFeedback
from livebot.config.repo_config import SEVERITIES

WEEKS: Final = 12
TITLE: Final = f"Review feedback, last {WEEKS} weeks"
WEEK_LABEL: Final = "Week of %b %d"
TOTALS_LABEL: Final = f"All {WEEKS} weeks"
HOW_TO_USE: Final = (
    "Accepted: a thumbs-up on the finding, or its thread resolved after a change; rejected: a "
    "thumbs-down, or settled as intended. Rate: accepted of those answered. When most "
    "findings of a severity are rejected, raise "
    "<code>review.min_severity</code> in <code>.github/livebot.yml</code> above it, so Livebot "
    "leaves them out; when they are mostly accepted, keep them."
)
NOTHING: Final = (
    f"No findings posted in the last {WEEKS} weeks (or none read yet: reactions and resolved "
    "threads are read after each review and when a pull request closes)."
)
HEAD: Final = (
    '<thead><tr><th>Severity</th><th class="num">Posted</th>'
    '<th class="num">Accepted</th><th class="num">Rejected</th>'
    '<th class="num" title="accepted ÷ (accepted + rejected)">Rate</th></tr></thead>'
)


def first_week(today: date) -> datetime:
    """Monday 00:00 UTC of the oldest week shown."""
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=WEEKS - 1)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _rate(accepted: int, rejected: int) -> str:
    answered = accepted + rejected
    return f"{accepted / answered:.0%}" if answered else "–"


Counts = tuple[str, int, int, int]  # severity, posted, accepted, rejected


def _group(label: str, counts: list[Counts]) -> str:
    """A row naming the group (one line even at 390 px), then one row per severity, most
    severe first."""
    rows = [f'<tr class="feedback-group"><th colspan="5">{escape(label)}</th></tr>']
    rows += [
        f"<tr><td>{escape(severity)}</td>"
        f"<td class='num'>{posted:,}</td><td class='num'>{accepted:,}</td>"
        f"<td class='num'>{rejected:,}</td><td class='num'>{_rate(accepted, rejected)}</td></tr>"
        for severity, posted, accepted, rejected in sorted(counts, key=lambda c: _order(c[0]))
    ]
    return "".join(rows)


def _order(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def feedback_box(rows: list[WeekFeedback]) -> str:
    """The box: the weeks (newest first) by severity, then the totals per severity."""
    weeks = [
        _group(
            week.strftime(WEEK_LABEL),
            [(r.severity, r.posted, r.accepted, r.rejected) for r in rows if r.week == week],
        )
        for week in sorted({row.week for row in rows}, reverse=True)
    ]
    totals: dict[str, list[int]] = {}
    for r in rows:
        total = totals.setdefault(r.severity, [0, 0, 0])
        total[0] += r.posted
        total[1] += r.accepted
        total[2] += r.rejected
    if weeks:
        every = [(s, t[0], t[1], t[2]) for s, t in totals.items()]
        body = "".join(f"<tbody>{week}</tbody>" for week in weeks)
        body += f"<tfoot>{_group(TOTALS_LABEL, every)}</tfoot>"
    else:
        empty = f'<td colspan="5" class="history-empty">{escape(NOTHING)}</td>'
        body = f"<tbody><tr>{empty}</tr></tbody>"
    return (
        f'<section class="box history-box feedback-box"><h2 class="box-header">{TITLE}</h2>'
        f'<p class="feedback-how">{HOW_TO_USE}</p>'
        f'<table class="history-table feedback-table">{HEAD}{body}</table></section>'
    )
