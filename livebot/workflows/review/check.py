"""How a review's check ends: its findings as annotations, `neutral` unless the repository asks
a `blocker` to hold the merge (`review.blocking`), and a summary that links the review."""

from __future__ import annotations

from collections import Counter
from typing import Final

from livebot.github import check_runs
from livebot.github.check_runs import Annotation
from livebot.runs.checks import Outcome
from livebot.workflows.review.findings import Finding
from livebot.workflows.review.post import Posted

NO_FINDINGS: Final = "No findings"
SUMMARY: Final = "[The review]({url}): {counts}.\n\n{summary}"
BLOCKING: Final = "\n\n`review.blocking` is on and a finding is a blocker: action is required."
MAX_QUOTED_CHARS: Final = 4_000


def annotation(finding: Finding) -> Annotation:
    """A finding on the head commit's file (RIGHT-side lines: the check is on the head)."""
    start = finding.start_line if finding.start_line is not None else finding.line
    return Annotation(
        path=finding.path,
        start_line=min(start, finding.line),
        end_line=finding.line,
        severity=finding.severity,
        title=f"{finding.severity.capitalize()}: {finding.title}",
        message=finding.body,
    )


def counts(findings: list[Finding]) -> str:
    """`3 findings: 1 blocker, 2 minor`, or `No findings`."""
    if not findings:
        return NO_FINDINGS
    by = Counter(f.severity for f in findings)
    shown = ", ".join(f"{n} {severity}" for severity, n in by.items())
    return f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {shown}"


def outcome(posted: Posted, summary: str, *, blocking: bool) -> Outcome:
    """The review's check: one annotation per finding on a line of the new code."""
    findings = [p.finding for p in posted.plan.placed]
    blocked = blocking and any(f.severity == "blocker" for f in findings)
    said = counts(findings)
    text = SUMMARY.format(url=posted.url, counts=said, summary=summary[:MAX_QUOTED_CHARS])
    return Outcome(
        check_runs.ACTION_REQUIRED if blocked else check_runs.NEUTRAL,
        said,
        text + (BLOCKING if blocked else ""),
        # An old-file (LEFT) line has no place on the head commit's files.
        tuple(annotation(f) for f in findings if f.side == "RIGHT"),
    )
