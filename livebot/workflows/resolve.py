"""`resolve` / `fix`: plan and write a change live, then one commit and a draft pull request.

On an issue the commit goes on a new branch `livebot/issue-<n>-<slug>` with a draft PR saying
`Fixes #<n>`. On a pull request whose head is a `livebot/…` branch of this repository that
Livebot created (recorded in `own_branches`), the command adds one commit to that branch; on any
other pull request it pushes nothing. Files git or CI would treat specially are never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from gidgethub import GitHubException

from livebot.code.working_set import FileChange, WorkingSet, stat_line
from livebot.code.workspace import Workspace, open_workspace
from livebot.llm import prompts
from livebot.llm.conversation import converse
from livebot.llm.tools import Tool, ToolError, ToolResult, repository_tools
from livebot.llm.usage import Usage
from livebot.runs.execution import Run, Workflow
from livebot.workflows import catalog, own_branches
from livebot.workflows.publish import (
    Change,
    NoPermission,
    PublishFailed,
    Publishing,
    branch_base,
    commit,
    dropped_warning,
    is_own_branch,
    open_pull_request,
    opened_note,
    pr_body,
    push_follow_up,
    pushed_note,
    recorded,
)

MAX_TITLE_CHARS: Final = 200
MAX_SUMMARY_CHARS: Final = 20_000
SYSTEM_PROMPT: Final = f"""\
You are {{slug}}, a GitHub App asked to make a code change in the repository {{repo}}: \
{{target}}
{prompts.DATA_RULES}
{prompts.TOOL_RULES}
First read the issue and the code it concerns. Then write a short plan (a few bullet points). \
Then make the change with `write_file` (a path and the file's whole new content) and \
`delete_file`; `read_file` shows the files as you changed them. Change only what the request \
needs: at most {{max_files}} files and {{max_bytes}} bytes in all. Files under \
`.github/workflows/` cannot be changed, nor files CI runs (such as `Makefile`, `conftest.py`, \
`package.json`, `.github/actions/`): the tools say which. End with `finish`: `title`, the pull \
request's title (under 72 characters), and `summary`, what changed and why, in Markdown, for \
reviewers. If no change is needed or possible, say why and do not call `finish`."""
NEW_BRANCH: Final = "resolve issue #{number}. Your change becomes a draft pull request."
FOLLOW_UP: Final = (
    "add to pull request #{number}, which you opened from `{branch}`. Your change becomes "
    "one more commit on that branch."
)
NOT_OURS: Final = (
    "I only push to branches I created (`livebot/…` branches of this repository); this pull "
    "request's branch is `{label}`, so I did not change it. Mention me without `{command}` to "
    "discuss a change here."
)
CLOSED: Final = "This pull request is {state}, so I did not push to `{branch}`."
NO_CHANGE: Final = "\n\n*No change was committed: I did not finish a change.*"
NO_PERMISSION: Final = (
    "\n\n**I could not push a branch**: this installation of Livebot cannot write to the "
    "repository (GitHub answered 403; it needs the `contents: write` permission). Here is the "
    "change as a patch, for `git apply`:\n\n{fence}diff\n{diff}{fence}"
)
WRITE_FILE: Final = (
    "Write a file of the repository: its whole new content (created if it does not exist)."
)
DELETE_FILE: Final = "Delete a file of the repository."
FINISH: Final = (
    "Commit every change made and open the pull request. Call once, at the end, after the changes."
)


@dataclass
class Ending:
    """How `finish` went: the change, and the note, failure or patch the run ends with."""

    change: Change | None = None
    note: str = ""
    failure: str = ""
    patch: str = ""


def system_prompt(run: Run, workspace: Workspace) -> str:
    """The resolve workflow's instructions, for an issue or a follow-up on the bot's PR."""
    job, pull = run.job, workspace.pull
    if pull is None:
        target = NEW_BRANCH.format(number=job.number)
    else:
        target = FOLLOW_UP.format(number=job.number, branch=pull["head"]["ref"])
    settings = run.config.resolve
    text = SYSTEM_PROMPT.format(
        slug=run.services.slug,
        repo=job.repository,
        target=target,
        author=job.author,
        sha=workspace.sha,
        max_files=settings.max_files,
        max_bytes=f"{settings.max_bytes:,}",
    )
    return text + run.instructions


def _text(arguments: dict[str, Any], name: str, limit: int) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ToolError(f"`{name}` must be a text of 1–{limit} characters")
    return value.strip()


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def write_tools(run: Run, workspace: Workspace, working: WorkingSet, ending: Ending) -> list[Tool]:
    """`write_file`, `delete_file` and `finish`, which commits and publishes the change."""

    def check_open() -> None:
        if ending.change is not None:
            raise ToolError("the change is already committed: nothing more can be changed")

    async def write_file(arguments: dict[str, Any]) -> ToolResult:
        check_open()
        change = await working.write(arguments.get("path"), arguments.get("content"))
        return _changed(change)

    async def delete_file(arguments: dict[str, Any]) -> ToolResult:
        check_open()
        change = await working.delete(arguments.get("path"))
        return _changed(change)

    async def finish(arguments: dict[str, Any]) -> ToolResult:
        check_open()
        title = _text(arguments, "title", MAX_TITLE_CHARS)
        summary = _text(arguments, "summary", MAX_SUMMARY_CHARS)
        changes = working.changes()
        if not changes:
            raise ToolError(
                "nothing is changed yet: use `write_file` or `delete_file` first. If no change "
                "is needed, answer without calling `finish`."
            )
        ending.change = Change(title, summary, [c.stat() for c in changes])
        diff = "".join(c.diff for c in changes)
        details: dict[str, Any] = {"diff": diff, "files": ending.change.files}
        try:
            url = await _publish(run, workspace, ending, working.contents())
        except NoPermission:
            ending.patch = diff
            return ToolResult(
                "GitHub refused the write; the change is posted as a patch.",
                "no permission to push: the change is posted as a patch",
                details,
                ends=True,
            )
        except PublishFailed as exc:
            ending.failure = str(exc)
        except (GitHubException, aiohttp.ClientError, TimeoutError) as exc:
            ending.failure = f"GitHub answered with an error while committing ({exc})"
        if ending.failure:
            return ToolResult(f"error: {ending.failure}", f"error: {ending.failure}", details, True)
        details["pull_request_url"] = url
        return ToolResult(f"Published: {url}", ending.change.files_phrase(), details, ends=True)

    path = {"type": "string", "description": "a path relative to the repository's root"}
    return [
        Tool(
            "write_file",
            WRITE_FILE,
            {
                "type": "object",
                "properties": {"path": path, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
            write_file,
        ),
        Tool(
            "delete_file",
            DELETE_FILE,
            {"type": "object", "properties": {"path": path}, "required": ["path"]},
            delete_file,
        ),
        Tool(
            "finish",
            FINISH,
            {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "the pull request's title"},
                    "summary": {"type": "string", "description": "what changed and why"},
                },
                "required": ["title", "summary"],
            },
            finish,
        ),
    ]


def publishing(run: Run) -> Publishing:
    """Where this run publishes its change, and the attempt that does."""
    job, services = run.job, run.services
    return Publishing(
        run.gh,
        job.repository,
        job.number,
        job.run_id,
        run.epoch,
        services.run_log,
        services.redis,
        run.guard,
    )


def _changed(change: FileChange) -> ToolResult:
    line = stat_line(change)
    details = {"path": change.path, "additions": change.additions, "deletions": change.deletions}
    return ToolResult(line, line, details)


async def _publish(
    run: Run, workspace: Workspace, ending: Ending, contents: dict[str, str | None]
) -> str:
    """Commit the change and put it on GitHub; the pull request's URL."""
    assert ending.change is not None
    follow_up = workspace.pull is not None
    sha = await commit(publishing(run), ending.change, workspace.sha, contents, follow_up)
    return await _place(run, workspace, ending, ending.change, sha, workspace.sha)


async def _place(
    run: Run, workspace: Workspace, ending: Ending, change: Change, sha: str, parent: str
) -> str:
    """Put a made commit on its branch (new, or the bot's PR's) and say where."""
    pull, job, to = workspace.pull, run.job, publishing(run)
    dropped = run.config.resolve.dropped
    if pull is not None:
        await push_follow_up(to, sha, parent, pull["head"]["ref"])
        ending.note = pushed_note(change, pull, sha) + dropped_warning(dropped)
        return str(pull["html_url"])
    base = branch_base(job.number, str(workspace.issue.get("title") or ""))
    body = pr_body(change, job.number, job.author, run.url, dropped)
    default_branch = str(workspace.repo["default_branch"])
    opened = await open_pull_request(to, change, sha, base, default_branch, body)
    ending.note = opened_note(change, opened) + dropped_warning(dropped)
    return str(opened["html_url"])


async def _refusal(run: Run, pull: dict[str, Any]) -> str | None:
    """Why this PR is not one the run may push to, or None when it is."""
    repository, branch = run.job.repository, str(pull["head"]["ref"])
    if not (
        is_own_branch(pull, repository)
        # A `livebot/…` name proves nothing: anyone who can push may create one.
        and await own_branches.is_own(run.services.redis, repository, branch)
    ):
        command = run.job.command or catalog.RESOLVE.name
        return NOT_OURS.format(label=pull["head"].get("label") or branch, command=command)
    if pull.get("state") != "open":
        return CLOSED.format(state=pull.get("state"), branch=branch)
    return None


async def resolve(run: Run) -> None:
    """Plan and write the change live, then publish it as one commit."""
    job = run.job
    await run.status("Reading the issue, its comments and the code")
    workspace = await open_workspace(run.gh, job, run.services.snapshots)
    try:
        if workspace.pull is not None:
            refusal = await _refusal(run, workspace.pull)
            if refusal is not None:
                await run.succeed(refusal, Usage())
                return
            # On the commit it starts from: the pull request's checks show the work live.
            run.open_check(workspace.sha)
        meta = await run.services.run_log.meta(job.run_id) or {}
        made = recorded(meta)
        ending = Ending()
        if made is not None:
            # A worker stopped after committing: publish that commit, never make another.
            change, sha, parent = made
            await run.status("Publishing the commit made before the restart")
            ending.change = change
            try:
                await _place(run, workspace, ending, change, sha, parent)
            except PublishFailed as exc:
                ending.failure = str(exc)
            except NoPermission as exc:
                ending.failure = f"GitHub refused the write ({exc})"
            usage, text = Usage(), ""
        else:
            if not workspace.sha:
                await run.succeed("The repository is empty: there is no code to change.", Usage())
                return
            # An interrupted attempt's edits died with its worker: start over (not continue
            # its text, as `conversation.write` would), after the text it left on the page.
            partial = await run.written()
            await run.status("Planning and writing the change")
            settings = run.config.resolve
            working = WorkingSet(
                await workspace.files(),
                max_files=settings.max_files,
                max_bytes=settings.max_bytes,
                protected=settings.protected_paths,
            )
            tools = repository_tools(working.files) + write_tools(run, workspace, working, ending)
            outcome = await converse(
                run,
                prompts.chat(system_prompt(run, workspace), workspace.data(job.request)),
                tools,
                written=partial,
            )
            usage, text = outcome.usage, outcome.text
    finally:
        workspace.close()
    if ending.failure:
        await run.fail(ending.failure, "publish_failed")
    elif ending.patch:
        fence = _fence(ending.patch)
        await run.succeed(text + NO_PERMISSION.format(fence=fence, diff=ending.patch), usage)
    elif ending.note:
        await run.succeed(ending.note, usage)
    else:
        await run.succeed(text + NO_CHANGE, usage)


WORKFLOW: Final = Workflow(catalog.RESOLVE, resolve)
