"""The review workflow: read the pull request's diff (or what changed since the last review),
stream the review live, and post ONE pull request review with inline comments and suggestions."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

from gidgethub import GitHubException

from livebot.code.workspace import Workspace, open_workspace
from livebot.config.repo_config import RepoConfig
from livebot.core.globs import matches
from livebot.github import check_runs
from livebot.github.pulls import PullRequest
from livebot.llm import prompts
from livebot.llm.conversation import converse
from livebot.llm.tools import Tool, ToolError, ToolResult
from livebot.llm.usage import Usage
from livebot.queue.jobs import ClaimedJob, Job
from livebot.runs.events import TERMINAL_STATUSES
from livebot.runs.execution import Run, Workflow, execute
from livebot.worker_services import WorkerServices, repository_config
from livebot.workflows import catalog, feedback
from livebot.workflows.review import check
from livebot.workflows.review.earlier import (
    RESOLVED_SCHEMA,
    Earlier,
    read_earlier,
    resolve_all,
    result_text,
)
from livebot.workflows.review.findings import FINDING_SCHEMA, parse_submission
from livebot.workflows.review.post import Posted, Posting, post_review, scope_text
from livebot.workflows.review.scope import History, Scope, gather_history, read_scope
from livebot.workflows.review.threads import prompt_section

log = logging.getLogger(__name__)

MAX_PR_BODY_CHARS: Final = 16_000
MAX_SUMMARY_QUOTE_CHARS: Final = 600
SYSTEM_PROMPT: Final = f"""\
You are {{slug}}, a GitHub App reviewing pull request #{{number}} of the repository {{repo}}.
{prompts.DATA_RULES}
{prompts.TOOL_RULES}
The data holds the pull request and the patches of its files ({{scope}}). Every patch line is \
numbered: `R12` is line 12 of the new file (side RIGHT: `+` added, ` ` unchanged), `L7` is line \
7 of the old file (side LEFT: `-` removed). `not_reviewed` lists the files left out and why.
Review the change as a careful senior engineer: bugs, security problems, data loss, races, \
broken error handling, missing tests for new behaviour, misleading names or docs. Read the code \
around the change with the tools when the diff is not enough. Do not praise, do not restate the \
diff, and report only what you are confident about.
Write your review for the reader as you go, in GitHub-flavoured Markdown. Then call \
`submit_review` once: a short `summary` (a few sentences) and your `findings`. Each finding names \
the file (`path`), the `line` (and `start_line` for a range) on its `side`, a `severity` \
(blocker: must not be merged; major: a bug or risk to fix; minor: worth fixing; nit: style), a \
one-line `title` and a `body`. When a small, exact fix fits, give `suggestion`: the complete new \
text of lines `start_line`..`line` of the new file (side RIGHT), which replaces those lines. \
Findings on lines outside the diff are written in the review's text. You cannot approve, \
request changes or merge: your review is a comment."""
PATH_INSTRUCTIONS: Final = """
The maintainers ask this for files matching `{path}` (from `.github/livebot.yml`):
{instructions}"""
SCOPE_WHOLE: Final = "the whole pull request"
SCOPE_SINCE: Final = "only the changes since your last review, at {old}"
AUTO_REQUEST: Final = "Review this pull request (automatic review: {trigger})."
NOTHING_NEW: Final = "Nothing new to review since [my last review]({url}) of {old}."
NOTHING_TO_REVIEW: Final = (
    "Nothing to review at {head}: every changed file is skipped ({count} files: lock files, "
    "generated, vendored, binary or ignored by `review.ignore`)."
)
POSTED: Final = "{scope}: [the review is posted]({url}) with {counts}."
ALREADY_POSTED: Final = "[The review is posted]({url})."
SUBMITTED: Final = "The review is posted: {counts}."
TWICE: Final = "the review was already submitted; end here"
POST_FAILED: Final = "GitHub refused the review"


def counts_text(posted: Posted) -> str:
    """`2 inline comments and 1 finding in its text`, or `no findings`."""
    inline, body = len(posted.plan.inline), len(posted.plan.in_body)
    parts = []
    if inline:
        parts.append(f"{inline} inline comment{'s' if inline != 1 else ''}")
    if body:
        parts.append(f"{body} finding{'s' if body != 1 else ''} in its text")
    return " and ".join(parts) or "no findings"


def wanted(config: RepoConfig, job: Job) -> bool:
    """Whether the repository's settings ask for this automatic review."""
    auto = config.auto_review
    if not config.commands.get(catalog.REVIEW.name, True):
        return False
    if job.trigger == check_runs.RERUN:
        return True  # asked for with the check's Re-run button, not automatic
    if not auto.enabled:
        return False
    if job.draft and not auto.drafts:
        return False
    return not (job.trigger == "synchronize" and auto.on_push == "off")


async def supersede(services: WorkerServices, job: Job) -> None:
    """Cancel the automatic reviews still running on the pull request (a newer push came);
    a review someone asked for by a mention goes on."""
    run_log = services.run_log
    for run_id in await run_log.runs_in_thread(job.repository, job.number):
        meta = await run_log.meta(run_id)
        if run_id == job.run_id or meta is None or meta["status"] in TERMINAL_STATUSES:
            continue
        if meta.get("workflow") == WORKFLOW.name and meta.get("trigger"):
            await run_log.request_cancel(run_id, job.author, superseded_by=job.run_id)
            log.info("automatic review superseded", extra={"run_id": run_id, "by": job.run_id})


async def handle(services: WorkerServices, claimed: ClaimedJob) -> None:
    """A review job: asked for by a mention, or automatic when the settings want it."""
    job = claimed.job
    if job.trigger:
        if not wanted(await repository_config(services, job), job):
            log.info("automatic review not wanted", extra={"run_id": job.run_id})
            return
        await supersede(services, job)
    await execute(services, claimed, WORKFLOW)
    await feedback.follow_up(services, job)


def system_prompt(run: Run, scope: Scope, earlier: Earlier) -> str:
    """The review's instructions, with the maintainers' own for the files reviewed and the
    briefing on earlier findings."""
    job = run.job
    since = SCOPE_SINCE.format(old=scope.since[:7]) if scope.since else SCOPE_WHOLE
    text = SYSTEM_PROMPT.format(
        slug=run.services.slug,
        number=job.number,
        repo=job.repository,
        author=job.author,
        sha=scope.head,
        scope=since,
    )
    paths = scope.selection.paths
    for glob, instructions in run.config.review.path_instructions:
        if any(matches(path, glob) for path in paths):
            text += PATH_INSTRUCTIONS.format(path=glob, instructions=instructions)
    briefing = prompt_section(earlier.findings)
    return text + (f"\n\n{briefing}" if briefing else "") + run.instructions


def review_data(
    run: Run, workspace: Workspace, pull: dict[str, Any], scope: Scope
) -> dict[str, Any]:
    """The pull request and its patches, as data for the model."""
    job = run.job
    head_repo = (pull["head"].get("repo") or {}).get("full_name")
    body = pull.get("body") or ""
    return {
        "repository": {
            "name": workspace.repo["full_name"],
            "description": workspace.repo.get("description") or "",
        },
        "pull_request": {
            "number": pull["number"],
            "title": pull["title"],
            "author": pull["user"]["login"],
            "body": body[:MAX_PR_BODY_CHARS] + (" […cut]" if len(body) > MAX_PR_BODY_CHARS else ""),
            "base": pull["base"]["ref"],
            "head": pull["head"]["ref"],
            "from_fork": head_repo != job.repository,
            "draft": bool(pull.get("draft")),
            "commits": pull.get("commits"),
            "changed_files": pull.get("changed_files"),
        },
        **scope.selection.data(),
        "request": job.request or AUTO_REQUEST.format(trigger=job.trigger or "review"),
    }


@dataclass
class Submission:
    """What `submit_review` did: the review posted, or the GitHub error that stopped it."""

    posted: Posted | None = None
    summary: str = ""
    error: GitHubException | None = None


def pull_request(run: Run) -> PullRequest:
    """The run's pull request, as its installation sees it."""
    return PullRequest(run.gh, run.job.repository, run.job.number)


def posting(run: Run) -> Posting:
    """What posting this run's review needs of it."""
    settings = run.config.review
    return Posting(
        pull_request(run),
        settings,
        run.job.run_id,
        run.url,
        run.guard,
        run.log_extra,
        learnings=len(run.learnings),
    )


def submit_tool(
    run: Run,
    pull: dict[str, Any],
    scope: Scope,
    history: History,
    earlier: Earlier,
    submission: Submission,
) -> Tool:
    """`submit_review`: checks the findings, posts the review, resolves the threads of verified
    fixes, ends the conversation."""

    async def submit(arguments: dict[str, Any]) -> ToolResult:
        if submission.posted is not None or submission.error is not None:
            raise ToolError(TWICE)
        summary, findings = parse_submission(arguments)
        verified, unknown = earlier.verified(arguments)
        fixed = earlier.fixed(run.services.slug, verified, findings)
        await run.status("Posting the review")
        # Resolved before the review is posted, so its text says what GitHub really did (a
        # thread resolved twice stays resolved: a retried attempt changes nothing).
        await run.guard()
        refused = await resolve_all(run.gh, fixed, run.log_extra)
        resolved = [f for f in fixed if f not in refused]
        try:
            posted = await post_review(
                posting(run),
                scope.head,
                scope,
                history,
                summary,
                findings,
                earlier.summary(resolved, refused),
            )
        except GitHubException as exc:
            submission.error = exc
            return ToolResult(f"error: {POST_FAILED}", f"error: {POST_FAILED}", ends=True)
        submission.posted, submission.summary = posted, summary
        text = SUBMITTED.format(counts=counts_text(posted)) + result_text(fixed, refused, unknown)
        details = posted.details(pull["html_url"]) | earlier.details(fixed, refused)
        return ToolResult(text, text, details, ends=True)

    return Tool(
        "submit_review",
        "Post your review: a short summary and the findings. Call it once, at the end.",
        {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "findings": {"type": "array", "items": FINDING_SCHEMA},
                "resolved": RESOLVED_SCHEMA,
            },
            "required": ["summary", "findings"],
        },
        submit,
    )


def _quote(summary: str) -> str:
    first = summary.strip().split("\n\n", 1)[0][:MAX_SUMMARY_QUOTE_CHARS]
    return "\n".join(f"> {line}" for line in first.splitlines())


async def _converse(
    run: Run,
    workspace: Workspace,
    pull: dict[str, Any],
    scope: Scope,
    history: History,
    earlier: Earlier,
) -> tuple[Posted, Usage, str]:
    """Let the model review; the review it submitted (or its text, if it never did)."""
    partial = await run.written()
    submission = Submission()
    tools = [*workspace.tools(), submit_tool(run, pull, scope, history, earlier, submission)]
    messages = prompts.chat(
        system_prompt(run, scope, earlier), review_data(run, workspace, pull, scope), partial
    )
    await run.status(f"Reviewing {len(scope.selection.files)} files")
    outcome = await converse(run, messages, tools, written=partial)
    if submission.error is not None:
        raise submission.error
    if submission.posted is not None:
        return submission.posted, outcome.usage, submission.summary
    # The model stopped without submitting (a limit, or it just wrote): its text is the review.
    text = outcome.text.strip() or outcome.limit_note or ""
    posted = await post_review(
        posting(run), scope.head, scope, history, text, [], earlier.summary([], [])
    )
    return posted, outcome.usage, text


async def review(run: Run) -> None:
    """Review the pull request and post one review; the placeholder links it."""
    await run.status("Reading the pull request and its diff")
    job = run.job
    pr = pull_request(run)
    workspace, history = await asyncio.gather(
        open_workspace(run.gh, job, run.services.snapshots, with_thread=False),
        gather_history(pr, run.services.slug, job.run_id),
    )
    try:
        await _review(run, pr, workspace, history)
    finally:
        workspace.close()


async def _review(run: Run, pr: PullRequest, workspace: Workspace, history: History) -> None:
    pull = workspace.pull
    assert pull is not None
    run.open_check(pull["head"]["sha"])
    if history.posted is not None:
        # An earlier attempt of this run posted it before its worker stopped.
        await run.succeed(ALREADY_POSTED.format(url=history.posted.get("html_url")), Usage())
        return
    on_push = run.config.auto_review.on_push
    trigger = run.job.trigger
    full = (trigger == "synchronize" and on_push == "full") or trigger == check_runs.RERUN
    ignore = run.config.review.ignore
    scope = await read_scope(pr, pull, history, ignore=ignore, incremental=not full)
    if not scope.selection.files:
        if scope.since:
            url = history.last_url or pull["html_url"]
            text = NOTHING_NEW.format(url=url, old=scope.since[:7])
        else:
            count = len(scope.selection.skipped) + scope.selection.unread
            text = NOTHING_TO_REVIEW.format(head=scope.head[:7], count=count)
        await run.succeed(text, Usage())
        return
    earlier = await _earlier(run, scope, history)
    posted, usage, summary = await _converse(run, workspace, pull, scope, history, earlier)
    run.check.outcome = check.outcome(posted, summary, blocking=run.config.review.blocking)
    text = POSTED.format(
        scope=scope_text(scope, scope.head), url=posted.url, counts=counts_text(posted)
    )
    await run.succeed(f"{text}\n\n{_quote(summary)}", usage)


async def _earlier(run: Run, scope: Scope, history: History) -> Earlier:
    """What became of Livebot's earlier findings, when it posted any (one GraphQL read)."""
    earlier = Earlier(touched=scope.touched, resolve_fixed=run.config.review.resolve_fixed)
    if history.fingerprints:
        job = run.job
        slug = run.services.slug
        earlier.findings = await read_earlier(
            run.gh, job.repository, job.number, slug, run.log_extra
        )
        # Settled, disputed and open findings are never posted again, on any line.
        history.fingerprints = earlier.seen(history.fingerprints)
    return earlier


WORKFLOW: Final = Workflow(catalog.REVIEW, review, handle)
