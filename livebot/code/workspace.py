"""What a workflow works on: the repository, the thread, the pull request, the commit's files.

The calls it needs are independent, so they go out together: one round trip, not five.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from gidgethub import BadRequest

from livebot.code.snapshots import Snapshot, SnapshotCache
from livebot.github.client import InstallationAPI
from livebot.github.comments import MARKER_PATTERN
from livebot.github.paths import repo_path
from livebot.llm.thread import thread_data
from livebot.llm.tools import Tool, repository_tools
from livebot.queue.jobs import Job

MAX_COMMENTS_READ: Final = 300
MAX_REVIEW_COMMENTS_READ: Final = 1000
MAX_REVIEW_THREAD_COMMENTS: Final = 50
MAX_HUNK_CHARS: Final = 6000
# GitHub's answers for a repository without a commit: 409 "Git Repository is empty."
EMPTY_REPOSITORY_STATUSES: Final = frozenset({404, 409})


@dataclass
class Workspace:
    """The repository, the issue or pull request and its thread, and the commit to read."""

    repo: dict[str, Any]
    issue: dict[str, Any]
    thread: list[dict[str, Any]]
    pull: dict[str, Any] | None
    sha: str
    snapshot: asyncio.Task[Snapshot]
    # A mention on a line of the diff: that conversation, and the lines it is about.
    review_thread: dict[str, Any] | None = None

    async def files(self) -> Snapshot:
        """The commit's files (fetched once, in the background, from the start)."""
        return await asyncio.shield(self.snapshot)

    def tools(self) -> list[Tool]:
        """The read-only repository tools over the commit."""
        return repository_tools(self.files)

    def data(self, request: str) -> dict[str, Any]:
        """The thread (and the review thread, if any) as data for the model."""
        data = thread_data(self.repo, self.issue, self.thread, request)
        if self.review_thread is not None:
            data["review_thread"] = self.review_thread
        return data

    def close(self) -> None:
        """Stop fetching files nobody will read."""
        self.snapshot.cancel()


async def _thread(gh: InstallationAPI, job: Job) -> list[dict[str, Any]]:
    """The issue's comments, without livebot's own replies."""
    thread: list[dict[str, Any]] = []
    async for comment in gh.getiter(job.issue_path("comments", query={"per_page": 100})):
        if not MARKER_PATTERN.search(comment.get("body") or ""):
            thread.append(comment)
        if len(thread) >= MAX_COMMENTS_READ:
            break
    return thread


async def _review_thread(gh: InstallationAPI, job: Job) -> dict[str, Any] | None:
    """The review thread the mention is in: the file, the diff hunk, the conversation."""
    if not job.in_review_thread:
        return None
    comments: list[dict[str, Any]] = []
    async for comment in gh.getiter(job.thread_comments_path({"per_page": 100})):
        comments.append(comment)
        if len(comments) >= MAX_REVIEW_COMMENTS_READ:
            break
    mention = next((c for c in comments if c["id"] == job.comment_id), None)
    if mention is None:
        return None
    root = mention.get("in_reply_to_id") or mention["id"]
    conversation = [
        {"author": c["user"]["login"], "body": c.get("body") or ""}
        for c in comments
        if (c["id"] == root or c.get("in_reply_to_id") == root)
        and not MARKER_PATTERN.search(c.get("body") or "")
    ]
    return {
        "path": mention.get("path"),
        "line": mention.get("line") or mention.get("original_line"),
        "diff_hunk": (mention.get("diff_hunk") or "")[-MAX_HUNK_CHARS:],
        "comments": conversation[-MAX_REVIEW_THREAD_COMMENTS:],
    }


async def open_workspace(
    gh: InstallationAPI, job: Job, snapshots: SnapshotCache, *, with_thread: bool = True
) -> Workspace:
    """Fetch what the job's workflow needs, concurrently; the commit is the PR's head or the
    default branch's (its files come from `snapshots`)."""

    async def no_thread() -> list[dict[str, Any]]:
        return []

    async def default_head() -> dict[str, Any] | None:
        try:
            commit: dict[str, Any] = await gh.getitem(repo_path(job.repository, "commits", "HEAD"))
        except BadRequest as exc:
            if exc.status_code not in EMPTY_REPOSITORY_STATUSES:
                raise
            return None
        return commit

    if job.is_pull_request:
        head = gh.getitem(repo_path(job.repository, "pulls", job.number))
    else:
        head = default_head()
    repo, issue, thread, target, review_thread = await asyncio.gather(
        gh.getitem(repo_path(job.repository)),
        gh.getitem(job.issue_path()),
        _thread(gh, job) if with_thread else no_thread(),
        head,
        _review_thread(gh, job),
    )
    pull = target if job.is_pull_request else None
    if target is None:
        snapshot = asyncio.create_task(_empty(job.repository))
        return Workspace(repo, issue, thread, pull, "", snapshot, review_thread)
    sha = str(target["head"]["sha"] if pull else target["sha"])
    snapshot = asyncio.create_task(
        snapshots.get(gh, job.repository, sha, int(repo.get("size") or 0))
    )
    return Workspace(repo, issue, thread, pull, sha, snapshot, review_thread)


async def _empty(repository: str) -> Snapshot:
    return Snapshot(repository, "")
