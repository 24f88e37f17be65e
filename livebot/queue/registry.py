"""Every job kind and its handler, composed in one place (as livebot/intake/router.py does
webhook routers).

Adding a workflow: write its module (a `Workflow` named `WORKFLOW`) and add it to `WORKFLOWS`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Final

from livebot.github import comments
from livebot.queue.jobs import ClaimedJob
from livebot.runs import finishing
from livebot.runs.execution import Workflow, execute, repository_config
from livebot.worker_services import WorkerServices
from livebot.workflows import answer, goal, replies, resolve
from livebot.workflows.catalog import CANCEL, HELP, REFUSE
from livebot.workflows.review import workflow as review

JobHandler = Callable[[WorkerServices, ClaimedJob], Awaitable[None]]

WORKFLOWS: Final[tuple[Workflow, ...]] = (
    answer.WORKFLOW,
    review.WORKFLOW,
    goal.WORKFLOW,
    resolve.WORKFLOW,
)
# An outsider gets one polite reply per thread, and a repository at most this many an hour.
REFUSAL_TTL_SECONDS: Final = 30 * 86400
REFUSALS_PER_REPOSITORY_HOUR: Final = 10
COMMAND_ROWS: Final = (
    ("`@{slug} cancel`", "stop the work running in this thread"),
    ("`@{slug} help`", "show this list"),
)


async def help_reply(services: WorkerServices, claimed: ClaimedJob) -> None:
    """The list of the commands that work here, and of those the repository turned off."""
    config = await repository_config(services, claimed.job)
    on = [w for w in WORKFLOWS if config.commands.get(w.name, True)]
    off = [w.name for w in WORKFLOWS if not config.commands.get(w.name, True)]
    rows = [(workflow.entry.usage, workflow.entry.does) for workflow in on] + list(COMMAND_ROWS)
    body = comments.help_text(claimed.job.author, services.slug, rows)
    if off:
        body += comments.HELP_TURNED_OFF.format(commands=", ".join(f"`{name}`" for name in off))
    await replies.post_reply(services, claimed.job, body)


async def refuse(services: WorkerServices, claimed: ClaimedJob) -> None:
    """Someone the repository does not trust: run it if `allowed_users` lists them, else one
    polite reply per thread (and a few per repository an hour)."""
    job = claimed.job
    config = await repository_config(services, job)
    handler = HANDLERS.get(job.command)
    if job.author.lower() in config.allowed_users and handler is not None and job.command != REFUSE:
        await handler(
            services, dataclasses.replace(claimed, job=dataclasses.replace(job, kind=job.command))
        )
        return
    queue = services.queue
    thread = f"refuse:{job.repository}#{job.number}:{job.author.lower()}"
    if not await queue.first_time(thread, REFUSAL_TTL_SECONDS):
        return
    if await queue.within_limit(f"refusals:{job.repository}", REFUSALS_PER_REPOSITORY_HOUR, 3600):
        await replies.refuse(services, claimed)


def _workflow_handler(workflow: Workflow) -> JobHandler:
    return functools.partial(execute, workflow=workflow)


HANDLERS: Final[dict[str, JobHandler]] = {
    **{workflow.name: _workflow_handler(workflow) for workflow in WORKFLOWS},
    review.WORKFLOW.name: review.handle,  # automatic reviews run only when the settings say so
    CANCEL: replies.request_cancel,
    finishing.FINISH_EDIT: finishing.finish_edit,
    HELP: help_reply,
    REFUSE: refuse,
}
WORKFLOW_NAMES: Final = frozenset(workflow.name for workflow in WORKFLOWS)
