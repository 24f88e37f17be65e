"""The default workflow: answer a question or request in an issue or pull request thread."""

from __future__ import annotations

from typing import Final

from livebot.code.workspace import open_workspace
from livebot.llm import prompts
from livebot.llm.conversation import write
from livebot.runs.execution import Run, Workflow
from livebot.workflows import catalog, teach

SYSTEM_PROMPT: Final = f"""\
You are {{slug}}, a GitHub App that helps in issues and pull requests of the repository {{repo}}.
{prompts.DATA_RULES}
{prompts.TOOL_RULES}
When the data has a `review_thread`, the mention is a reply on those lines of the pull \
request's diff (`path`, `line`, `diff_hunk`): answer about them, briefly.
Answer the request in GitHub-flavoured Markdown, concisely and concretely. If you propose code \
changes, show them as fenced code blocks. If the data does not hold the answer, say what is \
missing."""


def system_prompt(slug: str, repository: str, author: str, sha: str) -> str:
    """The answer workflow's instructions."""
    return SYSTEM_PROMPT.format(slug=slug, repo=repository, author=author, sha=sha)


async def answer(run: Run) -> None:
    """Read the thread and the code, stream the model's answer into the run, post it."""
    job = run.job
    await run.status("Reading the issue, its comments and the code")
    workspace = await open_workspace(run.gh, job, run.services.snapshots)
    try:
        await run.status("Writing the answer")
        system = system_prompt(run.services.slug, job.repository, job.author, workspace.sha)
        tools = workspace.tools()
        if job.in_review_thread and run.config.learnings_enabled:
            system += teach.REMEMBER_RULES
            tools.append(teach.remember_tool(run.services, job))
        outcome = await write(run, system, workspace.data(job.request), tools)
    finally:
        workspace.close()
    await run.succeed(outcome.text, outcome.usage)


WORKFLOW: Final = Workflow(catalog.ANSWER, answer)
