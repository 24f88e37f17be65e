"""A re-review's memory: Livebot's earlier findings read from their threads, the fixes the model
verified, and resolving the threads of those fixes just before the review is posted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gidgethub import GitHubException

from livebot.github.review_threads import GraphQLClient, read_threads, resolve_thread
from livebot.llm.tools import ToolError
from livebot.workflows.review.findings import Finding
from livebot.workflows.review.threads import (
    EarlierFinding,
    State,
    earlier_findings,
    resolvable,
    summary,
)

log = logging.getLogger(__name__)

RESOLVED_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "fingerprints of earlier open findings whose fix you read in the new code",
}
UNKNOWN: Final = " Ignored in `resolved` (not an earlier open finding): {fingerprints}."
RESOLVED_NOW: Final = " Resolved {count} fixed thread{s}."
NOT_RESOLVED: Final = " GitHub refused to resolve {count} fixed thread{s}."


@dataclass
class Earlier:
    """The earlier findings of a re-review, and what may be resolved."""

    findings: list[EarlierFinding] = field(default_factory=list)
    # Each file's old lines the commits since the last review touched; None: not known.
    touched: Mapping[str, set[int]] | None = None
    resolve_fixed: bool = True

    def seen(self, fingerprints: set[str]) -> set[str]:
        """The fingerprints never posted again: those posted before and those of every settled,
        disputed or open finding; one Livebot resolved may come back."""
        gone = {f.fingerprint for f in self.findings if f.state is State.RESOLVED}
        live = {f.fingerprint for f in self.findings if f.state is not State.RESOLVED}
        return (fingerprints - gone) | live

    def verified(self, arguments: dict[str, Any]) -> tuple[set[str], list[str]]:
        """`submit_review`'s `resolved`: (fingerprints of earlier open findings, the others)."""
        raw = arguments.get("resolved") or []
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ToolError("`resolved` must be a list of fingerprints (strings)")
        open_ = {f.fingerprint for f in self.findings if f.state is State.OPEN}
        wanted = [item.strip() for item in raw]
        return {f for f in wanted if f in open_}, sorted({f for f in wanted if f not in open_})

    def changed(self, path: str, lines: range) -> bool:
        """Whether the commits since the last review touched those lines of the file."""
        touched = (self.touched or {}).get(path, set())
        return any(line in touched for line in lines)

    def fixed(self, slug: str, verified: set[str], current: list[Finding]) -> list[EarlierFinding]:
        """The threads Livebot resolves before posting (none when the settings say so)."""
        if not self.resolve_fixed:
            return []
        return [
            f
            for f in self.findings
            if resolvable(f, slug=slug, verified=verified, current=current, changed=self.changed)
        ]

    def summary(self, resolved: list[EarlierFinding], refused: list[EarlierFinding]) -> str:
        """The review text's lines on the earlier findings."""
        return summary(self.findings, resolved, refused)

    def details(self, fixed: list[EarlierFinding], refused: list[EarlierFinding]) -> dict[str, Any]:
        """What the live page lists of the earlier findings (the `tool_result` fields)."""
        if not self.findings:
            return {}
        no = {f.fingerprint for f in refused}
        return {
            "earlier": [
                {
                    "fingerprint": f.fingerprint,
                    "title": f.title,
                    "path": f.thread.path,
                    "state": str(f.state),
                    "url": f.url,
                }
                for f in self.findings
            ],
            "resolved": [f.fingerprint for f in fixed if f.fingerprint not in no],
            "not_resolved": sorted(no),
        }


def result_text(
    fixed: list[EarlierFinding], refused: list[EarlierFinding], unknown: list[str]
) -> str:
    """What the tool result adds about resolving: threads resolved, refused, ignored."""
    text = ""
    if done := len(fixed) - len(refused):
        text += RESOLVED_NOW.format(count=done, s="s" if done != 1 else "")
    if refused:
        text += NOT_RESOLVED.format(count=len(refused), s="s" if len(refused) != 1 else "")
    if unknown:
        text += UNKNOWN.format(fingerprints=", ".join(f"`{f}`" for f in unknown))
    return text


async def read_earlier(
    gh: GraphQLClient, repository: str, number: int, slug: str, log_extra: Mapping[str, Any]
) -> list[EarlierFinding]:
    """Livebot's earlier findings on the pull request (none, and one log line, when GitHub's
    GraphQL API fails: the review goes on without them)."""
    try:
        threads = await read_threads(gh, repository, number)
    except GitHubException as exc:
        log.warning(
            "could not read the review threads", extra={**log_extra, "error": repr(exc)[:200]}
        )
        return []
    return earlier_findings(threads, slug)


async def resolve_all(
    gh: GraphQLClient, fixed: list[EarlierFinding], log_extra: Mapping[str, Any]
) -> list[EarlierFinding]:
    """Resolve each fixed thread; those GitHub refused (one log line each)."""
    refused = []
    for finding in fixed:
        try:
            await resolve_thread(gh, finding.thread.id)
        except GitHubException as exc:
            refused.append(finding)
            log.warning(
                "GitHub refused to resolve a fixed thread",
                extra={**log_extra, "review_thread": finding.thread.id, "error": repr(exc)[:200]},
            )
    return refused
