"""`goal` / `describe`: what a pull request is for, what it changes, what looks missing or risky."""

from __future__ import annotations

from typing import Any, Final

from bot import prompts
from bot.conversation import write
from bot.execution import Run, Workflow
from bot.workspace import open_workspace

MAX_FILES_LISTED: Final = 300
PATCH_BUDGET_CHARS: Final = 40_000
PATCH_CHARS: Final = 4_000
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


def changes_data(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The changed files for the model: every name with its counts, patches within a budget."""
    listed = files[:MAX_FILES_LISTED]
    budget = PATCH_BUDGET_CHARS
    entries = []
    for file in listed:
        entry = {
            "path": file["filename"],
            "status": file.get("status"),
            "additions": file.get("additions", 0),
            "deletions": file.get("deletions", 0),
        }
        patch = file.get("patch")
        if patch and budget > 0:
            clipped = patch[: min(PATCH_CHARS, budget)]
            budget -= len(clipped)
            entry["patch"] = clipped + (" […clipped]" if len(clipped) < len(patch) else "")
        entries.append(entry)
    return {"files": entries, "files_not_listed": len(files) - len(listed)}


async def goal(run: Run) -> None:
    """Read the pull request and its changes, stream what it is for, post it."""
    job = run.job
    await run.status("Reading the pull request and its changes")
    workspace = await open_workspace(run, with_thread=False)
    try:
        files = [
            file
            async for file in run.gh.getiter(
                f"/repos/{job.repository}/pulls/{job.number}/files?per_page=100"
            )
        ]
        data = workspace.data(job.request)
        data["pull_request"] = {
            "base": (workspace.pull or {}).get("base", {}).get("ref"),
            "head": (workspace.pull or {}).get("head", {}).get("ref"),
            "draft": (workspace.pull or {}).get("draft"),
            **changes_data(files),
        }
        await run.status("Writing what the pull request is for")
        system = SYSTEM_PROMPT.format(
            slug=run.services.slug, repo=job.repository, author=job.author, sha=workspace.sha
        )
        outcome = await write(run, system, data, workspace.tools())
    finally:
        workspace.close()
    await run.succeed(outcome.text, outcome.usage)


WORKFLOW: Final = Workflow(
    name="goal",
    run=goal,
    words=("goal", "describe"),
    usage="`@{slug} goal` or `describe` (pull request)",
    does="say what the pull request is for, what it changes and what it lacks",
    pull_requests_only=True,
)
