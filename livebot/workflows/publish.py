"""Publishing a `resolve` change: one commit, on a new branch with a draft PR or on the bot's PR.

Every step is recorded on the run before it is taken, so a worker that picks the job up after a
crash finds the commit, the branch and the pull request instead of making a second of any.
Nothing is left half-done: a branch whose pull request could not be opened is deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import aiohttp
from gidgethub import BadRequest, GitHubBroken, GitHubException

from livebot.code.protected_paths import dropped_note
from livebot.github import git_data
from livebot.github.client import InstallationAPI
from livebot.github.paths import repo_path
from livebot.runs.log import RunLog
from livebot.store.client import RedisClient
from livebot.workflows import own_branches

MAX_SUFFIX: Final = 20
SLUG_CHARS: Final = 40
NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")
FORBIDDEN: Final = 403
# Run metadata: the change as committed, recorded before the branch or PR is touched.
COMMIT, PARENT, TITLE, SUMMARY, FILES = "commit", "commit_parent", "title", "summary", "files"
BRANCH, BRANCH_BASE, PULL_NUMBER, PULL_URL = "branch", "branch_base", "pull_number", "pull_url"
PR_BODY: Final = """\
Fixes #{number}

{summary}

### Files changed
{files}

> [!NOTE]
> Livebot wrote this change but did not run the code or its tests. Review and test it before \
merging.{warning}

Requested by @{author} in #{number} · [Run log]({url})"""
FILE_ROW: Final = "- `{path}` ({status}, +{additions} \u2212{deletions})"
OPENED: Final = "Opened draft pull request #{number}: [{title}]({url}) ({files})."
WARNING: Final = "\n\n> [!WARNING]\n> {note}"
PUSHED: Final = "Pushed [`{short}`]({url}) to `{branch}` in #{number}: {title} ({files})."


class PublishFailed(Exception):
    """A step after the commit failed; the message says which and what was cleaned up."""


class NoPermission(Exception):
    """GitHub refused the write (403): the installation cannot push to this repository."""


@dataclass(frozen=True)
class Publishing:
    """Where a change is published (the repository, as the installation sees it; the issue or
    pull request it is for) and by whom: the attempt of the run that records every step."""

    gh: InstallationAPI
    repository: str
    number: int
    run_id: str
    epoch: int
    run_log: RunLog
    redis: RedisClient
    # Raises once another attempt owns the run: a stale attempt writes nothing to GitHub.
    guard: Callable[[], Awaitable[None]]

    async def record(self, **fields: str | int | float) -> None:
        """Note a step on the run before it is taken (a later attempt finds it)."""
        await self.run_log.update(self.run_id, **fields)


@dataclass(frozen=True)
class Change:
    """What is published: the message and the files, as recorded on the run."""

    title: str
    summary: str
    files: list[dict[str, Any]]

    def commit_message(self, number: int, follow_up: bool) -> str:
        """The commit's message; a new branch's commit says which issue it fixes."""
        tail = "" if follow_up else f"\n\nFixes #{number}"
        return f"{self.title}\n\n{self.summary}".rstrip() + tail

    def files_phrase(self) -> str:
        """`2 files changed`."""
        count = len(self.files)
        return f"{count} file{'s' if count != 1 else ''} changed"


def branch_base(number: int, title: str) -> str:
    """`livebot/issue-<n>-<slug of the title>`."""
    slug = NOT_SLUG.sub("-", title.lower()).strip("-")[:SLUG_CHARS].rstrip("-")
    return f"livebot/issue-{number}" + (f"-{slug}" if slug else "")


def is_own_branch(pull: dict[str, Any], repository: str) -> bool:
    """Whether the PR's head is a `livebot/…` branch of this repository (not of a fork)."""
    head = pull.get("head") or {}
    head_repo = head.get("repo") or {}
    return str(head.get("ref", "")).startswith("livebot/") and (
        str(head_repo.get("full_name", "")).lower() == repository.lower()
    )


def recorded(meta: dict[str, str]) -> tuple[Change, str, str] | None:
    """The change, commit and parent a crashed attempt recorded, if it got that far."""
    if COMMIT not in meta:
        return None
    change = Change(meta[TITLE], meta[SUMMARY], json.loads(meta[FILES]))
    return change, meta[COMMIT], meta[PARENT]


async def commit(
    to: Publishing, change: Change, parent: str, contents: dict[str, str | None], follow_up: bool
) -> str:
    """Make the commit (no ref yet: nothing visible) and record it on the run."""
    try:
        sha = await git_data.make_commit(
            to.gh,
            to.repository,
            parent,
            contents,
            change.commit_message(to.number, follow_up),
        )
    except BadRequest as exc:
        if exc.status_code == FORBIDDEN:
            raise NoPermission(str(exc)) from None
        raise
    fields: dict[str, str | int | float] = {
        COMMIT: sha,
        PARENT: parent,
        TITLE: change.title,
        SUMMARY: change.summary,
        FILES: json.dumps(change.files),
    }
    await to.record(**fields)
    return sha


async def open_pull_request(
    to: Publishing, change: Change, sha: str, base: str, default_branch: str, body: str
) -> dict[str, Any]:
    """Put the commit on a new branch and open a draft PR from it, described by `body`; the PR."""
    branch = await _new_branch(to, sha, base)
    try:
        pull = await git_data.find_pull(to.gh, to.repository, branch)
        if pull is None:
            await to.guard()  # a stale attempt opens no second pull request
            pull = await to.gh.post(
                repo_path(to.repository, "pulls"),
                data={
                    "title": change.title,
                    "head": branch,
                    "base": default_branch,
                    "body": body,
                    "draft": True,
                },
            )
    except (GitHubException, aiohttp.ClientError, TimeoutError) as exc:
        # A lost answer may hide a PR that was opened: look before deleting its branch.
        pull = await _landed(to, branch)
        if pull is None:
            await _remove_branch(to, branch, exc)
    found: dict[str, str | int | float] = {
        PULL_NUMBER: int(pull["number"]),
        PULL_URL: str(pull["html_url"]),
    }
    await to.record(**found)
    return pull


async def push_follow_up(to: Publishing, sha: str, parent: str, branch: str) -> None:
    """Fast-forward the bot's branch from `parent` to the commit (never a force)."""
    gh, repository = to.gh, to.repository
    head = await git_data.branch_head(gh, repository, branch)
    if head == sha:
        return  # pushed before a crash
    await to.guard()  # a stale attempt moves no branch
    if head != parent:
        raise PublishFailed(
            f"`{branch}` moved while I worked (it is at {str(head)[:7]}, I started from "
            f"{parent[:7]}); nothing was pushed"
        )
    try:
        await git_data.fast_forward(gh, repository, branch, sha)
    except BadRequest as exc:
        if exc.status_code == FORBIDDEN:
            raise NoPermission(str(exc)) from None
        raise PublishFailed(
            f"GitHub refused to move `{branch}` ({exc}); nothing was pushed"
        ) from exc


def pr_body(change: Change, number: int, author: str, url: str, dropped: tuple[str, ...]) -> str:
    """The PR's description: the issue it fixes, the change, the files, who asked, the run's
    page (`url`), and the protected paths the repository's settings `dropped`."""
    rows = "\n".join(FILE_ROW.format(**f) for f in change.files)
    return PR_BODY.format(
        number=number,
        summary=change.summary,
        files=rows,
        warning=dropped_warning(dropped),
        author=author,
        url=url,
    )


def dropped_warning(dropped: tuple[str, ...]) -> str:
    """A warning naming the protected paths the repository's settings dropped, or ""."""
    note = dropped_note(dropped)
    return WARNING.format(note=note) if note else ""


def opened_note(change: Change, pull: dict[str, Any]) -> str:
    """The placeholder's text once the PR is open."""
    return OPENED.format(
        number=pull["number"], title=change.title, url=pull["html_url"], files=change.files_phrase()
    )


def pushed_note(change: Change, pull: dict[str, Any], sha: str) -> str:
    """The placeholder's text once a follow-up commit is pushed."""
    return PUSHED.format(
        short=sha[:7],
        url=f"{pull['html_url']}/commits/{sha}",
        branch=pull["head"]["ref"],
        number=pull["number"],
        title=change.title,
        files=change.files_phrase(),
    )


async def _new_branch(to: Publishing, sha: str, base: str) -> str:
    """The first free name of `base`, `base-2`, … now pointing at `sha` (or one that already
    does, made before a crash); each name is recorded before it is tried, and claimed for this
    attempt in the repository's record of Livebot's branches before it is created."""
    gh, repository, run_id = to.gh, to.repository, to.run_id
    redis, epoch = to.redis, to.epoch
    await to.guard()  # a stale attempt makes no branch
    for number in range(1, MAX_SUFFIX + 1):
        name = base if number == 1 else f"{base}-{number}"
        await to.record(**{BRANCH: name, BRANCH_BASE: base})
        if not await own_branches.claim(redis, repository, name, run_id, epoch):
            # Another run's name: this run's only if it holds this run's commit.
            if await git_data.branch_head(gh, repository, name) == sha:
                await own_branches.made(redis, repository, name, run_id)
                return name
            continue
        try:
            await git_data.create_branch(gh, repository, name, sha)
        except git_data.BranchTaken:
            if await git_data.branch_head(gh, repository, name) != sha:
                # Someone else's branch: never recorded as Livebot's.
                await own_branches.release(redis, repository, name, run_id, epoch)
                continue
        except BadRequest as exc:
            await own_branches.release(redis, repository, name, run_id, epoch)
            if exc.status_code == FORBIDDEN:
                raise NoPermission(str(exc)) from None
            raise
        except (GitHubBroken, aiohttp.ClientError, TimeoutError):
            # The answer was lost, not necessarily the write: look before trying again. The
            # claim stays: a later attempt that finds this commit there records it as made.
            if await git_data.branch_head(gh, repository, name) != sha:
                raise
        await own_branches.made(redis, repository, name, run_id)
        return name
    raise PublishFailed(f"every branch name from `{base}` to `{base}-{MAX_SUFFIX}` is taken")


async def _landed(to: Publishing, branch: str) -> dict[str, Any] | None:
    try:
        return await git_data.find_pull(to.gh, to.repository, branch)
    except (GitHubException, aiohttp.ClientError, TimeoutError):
        return None


async def _remove_branch(to: Publishing, branch: str, cause: BaseException) -> NoReturn:
    """The PR could not be opened: delete its branch (no orphan) and say so."""
    try:
        await git_data.delete_branch(to.gh, to.repository, branch)
    except (GitHubException, aiohttp.ClientError, TimeoutError) as exc:
        raise PublishFailed(
            f"could not open the pull request ({cause}), nor delete the branch `{branch}` "
            f"({exc}); delete it by hand"
        ) from cause
    raise PublishFailed(
        f"could not open the pull request ({cause}); the branch `{branch}` was deleted, "
        "nothing is left behind"
    ) from cause
