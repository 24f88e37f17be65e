"""`goal` / `describe`: what a pull request is for, what it changes, what looks missing or risky."""

from __future__ import annotations

from typing import Any, Final

from livebot.code.workspace import open_workspace
from livebot.github.pulls import PullRequest
from livebot.llm import prompts
from livebot.llm.conversation import write
from livebot.runs.execution import Run, Workflow
from livebot.workflows import catalog
from livebot.workflows.review.files import Selection

SYSTEM_PROMPT: Final = f"""\
You are {{slug}}, a GitHub App that helps in the repository {{repo}}.
{prompts.DATA_RULES}
{prompts.TOOL_RULES}
The data describes one pull request: its title, description, and the files it changes with \
their patches (some clipped or omitted to fit; read the code with the tools when you need more). \
Write, in GitHub-flavoured Markdown, three short sections: **Goal** (what the pull request is \
for, in two or three sentences), **Changes** (what it changes, grouped by purpose, citing \
`path:line` where useful) and **Gaps and risks** (what looks missing or risky: tests, docs, edge \
cases, migrations, security). Do not restate the diff line by line. Never suggest that you \
changed the pull request: you only describe it."""


async def changes(pr: PullRequest, ignore: tuple[str, ...]) -> dict[str, Any]:
    """The pull request's changed files for the model (but `ignore`'s), within the review's
    diff budget."""
    selection = Selection(ignore=ignore)
    async for entry in pr.gh.getiter(pr.path("files", query={"per_page": 100})):
        selection.add(entry)
        if selection.full:
            break
    return selection.data()


async def goal(run: Run) -> None:
    """Read the pull request and its changes, stream what it is for, post it."""
    job = run.job
    await run.status("Reading the pull request and its changes")
    workspace = await open_workspace(run.gh, job, run.services.snapshots, with_thread=False)
    try:
        data = workspace.data(job.request)
        data["pull_request"] = {
            "base": (workspace.pull or {}).get("base", {}).get("ref"),
            "head": (workspace.pull or {}).get("head", {}).get("ref"),
            "draft": (workspace.pull or {}).get("draft"),
            **await changes(
                PullRequest(run.gh, job.repository, job.number), run.config.review.ignore
            ),
        }
        await run.status("Writing what the pull request is for")
        system = SYSTEM_PROMPT.format(
            slug=run.services.slug, repo=job.repository, author=job.author, sha=workspace.sha
        )
        outcome = await write(run, system, data, workspace.tools())
    finally:
        workspace.close()
    await run.succeed(outcome.text, outcome.usage)


WORKFLOW: Final = Workflow(catalog.GOAL, goal)
