"""What a review covers: livebot's earlier reviews of the pull request, what changed since the
last one (the compare API), and the pull request's files, read page by page within a budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gidgethub import BadRequest

from livebot.github import comments
from livebot.github.diff import touched_lines
from livebot.github.paths import repo_path
from livebot.github.pulls import PullRequest
from livebot.workflows.review.files import GITHUB_MAX_PR_FILES, PullFiles, Selection
from livebot.workflows.review.findings import fingerprints_in

MAX_REVIEWS_READ: Final = 300
MAX_REVIEW_COMMENTS_READ: Final = 3000
MAX_COMPARE_FILES: Final = 300  # GitHub's compare lists at most this many files
MAX_PLACEMENT_FILES: Final = 1000  # files listed to place comments in an incremental review
FILES_PER_PAGE: Final = 100
# Compare answers 404 when the old head is gone (a force-push, then garbage collection).
GONE_STATUSES: Final = frozenset({404, 422})
UNREACHABLE: Final = "the branch was rewritten since my last review (at {old}): a full review"
GITHUB_CAP_NOTE: Final = (
    "This pull request changes {total:,} files; GitHub lists only the first {cap:,} of them."
)


@dataclass
class History:
    """What livebot's earlier reviews left: the head last reviewed, the findings posted, and
    the review of this very run if a crashed attempt already posted it."""

    last_head: str | None = None
    last_url: str | None = None
    fingerprints: set[str] = field(default_factory=set)
    posted: dict[str, Any] | None = None


def _is_bot(item: dict[str, Any], slug: str) -> bool:
    login = str((item.get("user") or {}).get("login") or "")
    return login.lower() == f"{slug.lower()}[bot]"


async def read_history(pr: PullRequest, slug: str, run_id: str) -> History:
    """The bot's (app `slug`'s) reviews of the pull request (one call, or a few for a
    long-lived PR); `run_id`'s own review among them, if posted."""
    history = History()
    marker = comments.marker(run_id)
    read = 0
    async for review in pr.gh.getiter(pr.path("reviews", query={"per_page": 100})):
        read += 1
        if _is_bot(review, slug):
            body = review.get("body") or ""
            history.fingerprints |= fingerprints_in(body)
            if review.get("commit_id"):
                history.last_head = str(review["commit_id"])
                history.last_url = review.get("html_url")
            if marker in body:
                history.posted = review
        if read >= MAX_REVIEWS_READ:
            break
    return history


async def posted_fingerprints(pr: PullRequest, slug: str) -> set[str]:
    """The fingerprints of the bot's inline comments on the pull request."""
    found: set[str] = set()
    read = 0
    async for comment in pr.gh.getiter(pr.path("comments", query={"per_page": 100})):
        read += 1
        if _is_bot(comment, slug):
            found |= fingerprints_in(comment.get("body"))
        if read >= MAX_REVIEW_COMMENTS_READ:
            break
    return found


async def changes_since(pr: PullRequest, old: str, new: str) -> list[dict[str, Any]] | None:
    """The files changed from `old` to `new`, or None when `new` does not descend from `old`
    (a rewritten branch) or the change is too large to compare."""
    try:
        compare = await pr.gh.getitem(repo_path(pr.repository, "compare", f"{old}...{new}"))
    except BadRequest as exc:
        if exc.status_code in GONE_STATUSES:
            return None
        raise
    if compare.get("status") not in ("ahead", "identical"):
        return None
    files: list[dict[str, Any]] = compare.get("files") or []
    return None if len(files) >= MAX_COMPARE_FILES else files


@dataclass
class Scope:
    """The files given to the model, the pull request's diff lines, and how it was chosen."""

    selection: Selection
    pull_files: PullFiles
    head: str  # the commit reviewed
    since: str | None = None  # the head last reviewed, for an incremental review
    note: str = ""
    # Of an incremental review: each changed file's old lines (at `since`) the new commits touched.
    touched: dict[str, set[int]] | None = None


async def read_scope(
    pr: PullRequest,
    pull: dict[str, Any],
    history: History,
    *,
    ignore: tuple[str, ...],
    incremental: bool,
) -> Scope:
    """The whole pull request within the budget, or (incremental, and the last reviewed head
    still an ancestor of the new one) only the files changed since; `ignore`'s globs left out."""
    head = str(pull["head"]["sha"])
    selection = Selection(ignore=ignore)
    old = history.last_head
    changed: list[dict[str, Any]] | None = None
    note = ""
    if incremental and old and old != head:
        changed = await changes_since(pr, old, head)
        if changed is None:
            note = UNREACHABLE.format(old=old[:7])
    scope = Scope(selection, PullFiles(), head, old if changed is not None else None, note)
    if changed is None:
        await _read_whole(pr, pull, scope)
    else:
        await _read_changes(pr, changed, scope)
    return scope


def _files_path(pr: PullRequest) -> str:
    return pr.path("files", query={"per_page": FILES_PER_PAGE})


async def _read_whole(pr: PullRequest, pull: dict[str, Any], scope: Scope) -> None:
    """Every file GitHub lists, until the budget is spent (no page is read beyond it)."""
    selection, pull_files = scope.selection, scope.pull_files
    async for entry in pr.gh.getiter(_files_path(pr)):
        pull_files.add(entry)
        selection.add(entry)
        # Stop at a page boundary: the rest of a page costs nothing, the next page a call.
        if selection.full and pull_files.read % FILES_PER_PAGE == 0:
            break
    total = int(pull.get("changed_files") or pull_files.read)
    selection.unread = max(0, min(total, GITHUB_MAX_PR_FILES) - pull_files.read)
    if total > GITHUB_MAX_PR_FILES:
        selection.notes.append(GITHUB_CAP_NOTE.format(total=total, cap=GITHUB_MAX_PR_FILES))
        selection.unread += total - GITHUB_MAX_PR_FILES


async def _read_changes(pr: PullRequest, changed: list[dict[str, Any]], scope: Scope) -> None:
    """The files changed since the last review that the pull request still changes; the pull
    request's own diff lines of those files, to place comments."""
    wanted = {str(entry.get("filename")) for entry in changed}
    scope.touched = {
        str(entry.get("previous_filename") or entry.get("filename")): touched_lines(
            entry.get("patch")
        )
        for entry in changed
    }
    pull_files = scope.pull_files
    async for entry in pr.gh.getiter(_files_path(pr)):
        pull_files.add(entry)
        if wanted <= pull_files.lines.keys() or pull_files.read >= MAX_PLACEMENT_FILES:
            break
    listed_all = pull_files.read < MAX_PLACEMENT_FILES
    for entry in changed:
        # A file the branch changed back to the base's version is no longer part of the PR.
        if str(entry.get("filename")) in pull_files.lines or not listed_all:
            scope.selection.add(entry)


async def gather_history(pr: PullRequest, slug: str, run_id: str) -> History:
    """The bot's earlier reviews and, if there are any, the fingerprints of its inline comments."""
    history = await read_history(pr, slug, run_id)
    if history.last_head is not None:
        history.fingerprints |= await posted_fingerprints(pr, slug)
    return history
