"""Posting a review: ONE pull request review (`COMMENT`, never an approval) with the findings on
diff lines as inline comments and the rest in its text; it lands even if GitHub refuses a line."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gidgethub import BadRequest

from livebot.config.repo_config import ReviewSettings
from livebot.github import comments
from livebot.github.client import fit_comment
from livebot.github.pulls import PullRequest
from livebot.workflows.review.files import Selection
from livebot.workflows.review.findings import REFUSED, Finding, Plan, place
from livebot.workflows.review.scope import History, Scope

log = logging.getLogger(__name__)

EVENT: Final = "COMMENT"  # livebot never approves nor requests changes
MAX_SKIPPED_IN_BODY: Final = 50
BODY_FINDINGS: Final = "### Findings not posted on a line\n\n{items}"
FINDING_SEPARATOR: Final = "\n\n---\n\n"
BELOW_MIN: Final = "{count} findings below `review.min_severity` ({severity}) are not shown."
REPEATED: Final = "{count} findings already posted in an earlier review are not repeated."
SKIPPED: Final = "<details><summary>Not reviewed: {count} files</summary>\n\n{items}\n\n</details>"
SKIPPED_ITEM: Final = "- `{path}`: {reason}"
SKIPPED_MORE: Final = "- … and {count} more files"
UNREAD: Final = "- {count} more files were not read: the review's size budget was spent"
SCOPE_FULL: Final = "Reviewed {head}"
SCOPE_SINCE: Final = "Reviewed the changes from {old} to {head} (since my last review)"
FOOTER: Final = "<sub>{scope}{learnings} · [Run log]({url})</sub>"
LEARNINGS_APPLIED: Final = " · learnings applied: {count}"
CUT_NOTE: Final = "*This review was cut to fit GitHub's limit; the [run page]({url}) has it all.*"
REFUSED_STATUS: Final = 422


@dataclass(frozen=True)
class Posting:
    """What posting a run's review needs: the pull request, the repository's review settings,
    and of the run its id (the review's marker), its page and its lease."""

    pr: PullRequest
    settings: ReviewSettings
    run_id: str
    url: str
    # Raises once another attempt owns the run: a stale attempt posts no second review.
    guard: Callable[[], Awaitable[None]]
    log_extra: Mapping[str, Any]
    # How many of the repository's learnings the review's instructions carried (its footer).
    learnings: int = 0


@dataclass
class Posted:
    """The review as posted, and where each finding went."""

    review: dict[str, Any]
    plan: Plan

    @property
    def url(self) -> str:
        """The review on GitHub."""
        return str(self.review.get("html_url") or "")

    def details(self, pull_url: str) -> dict[str, Any]:
        """What the live page shows of the review (the `tool_result` fields)."""
        return {
            "review_url": self.url,
            "findings": [p.details(pull_url) for p in self.plan.placed],
        }


def _skipped(selection: Selection) -> str:
    if not selection.skipped and not selection.unread:
        return ""
    shown = selection.skipped[:MAX_SKIPPED_IN_BODY]
    items = [SKIPPED_ITEM.format(path=path, reason=reason) for path, reason in shown]
    if len(selection.skipped) > len(shown):
        items.append(SKIPPED_MORE.format(count=len(selection.skipped) - len(shown)))
    if selection.unread:
        items.append(UNREAD.format(count=selection.unread))
    count = len(selection.skipped) + selection.unread
    return SKIPPED.format(count=f"{count:,}", items="\n".join(items))


def scope_text(scope: Scope, head: str) -> str:
    """What the review covered, in one line."""
    if scope.since:
        return SCOPE_SINCE.format(old=scope.since[:7], head=head[:7])
    return SCOPE_FULL.format(head=head[:7])


def review_body(
    posting: Posting, summary: str, plan: Plan, scope: Scope, head: str, note: str
) -> str:
    """The review's text: the summary, the findings not on a line, what was left out."""
    review, url = posting.settings, posting.url
    parts = [comments.marker(posting.run_id), summary]
    parts += [n for n in (note, scope.note, *scope.selection.notes) if n]
    if plan.in_body:
        items = FINDING_SEPARATOR.join(p.text(in_body=True) for p in plan.in_body)
        parts.append(BODY_FINDINGS.format(items=items))
    if plan.below_min_severity:
        parts.append(BELOW_MIN.format(count=plan.below_min_severity, severity=review.min_severity))
    if plan.repeated:
        parts.append(REPEATED.format(count=plan.repeated))
    parts.append(_skipped(scope.selection))
    learnings = LEARNINGS_APPLIED.format(count=posting.learnings) if posting.learnings else ""
    parts.append(FOOTER.format(scope=scope_text(scope, head), learnings=learnings, url=url))
    text = "\n\n".join(p for p in parts if p)
    return fit_comment(text, CUT_NOTE.format(url=url))


async def post_review(
    posting: Posting,
    head: str,
    scope: Scope,
    history: History,
    summary: str,
    findings: list[Finding],
    note: str = "",
) -> Posted:
    """Place the findings and post the review; if GitHub refuses an inline comment, post again
    with every finding in the text."""
    settings = posting.settings
    plan = place(
        findings,
        scope.pull_files.lines,
        max_comments=settings.max_comments,
        min_severity=settings.min_severity,
        seen=history.fingerprints,
        # An incremental review numbers old lines by the last reviewed head, not the base.
        left_ok=scope.since is None,
    )
    path = posting.pr.path("reviews")

    async def send() -> dict[str, Any]:
        data = {
            "commit_id": head,
            "event": EVENT,
            "body": review_body(posting, summary, plan, scope, head, note),
            "comments": [p.comment() for p in plan.inline],
        }
        await posting.guard()
        review: dict[str, Any] = await posting.pr.gh.post(path, data=data)
        return review

    try:
        return Posted(await send(), plan)
    except BadRequest as exc:
        if exc.status_code != REFUSED_STATUS or not plan.inline:
            raise
        log.warning(
            "GitHub refused the inline comments", extra={**posting.log_extra, "error": str(exc)}
        )
    plan.all_in_body(REFUSED)
    return Posted(await send(), plan)
