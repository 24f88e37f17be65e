"""Every job kind and its handler, composed in one place (as livebot/intake/router.py does
webhook routers).

Adding a workflow: write its module (a `Workflow` named `WORKFLOW`) and add it to `WORKFLOWS`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Final

from livebot.github import comments
from livebot.queue.jobs import ClaimedJob
from livebot.runs import finishing
from livebot.runs.execution import JobHandler, Workflow, execute
from livebot.worker_services import WorkerServices, repository_config
from livebot.workflows import answer, feedback, goal, replies, resolve, teach
from livebot.workflows.catalog import (
    CANCEL,
    FEEDBACK,
    FORGET,
    HELP,
    LEARN,
    LEARNINGS,
    REFUSE,
    Catalog,
)
from livebot.workflows.review import workflow as review

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
    ("`@{slug} learn <rule>`", "keep a rule of this repository and follow it from now on"),
    ("`@{slug} learnings`", "list what this repository taught me, numbered"),
    ("`@{slug} forget <number>`", "drop one of those rules"),
    ("`@{slug} cancel`", "stop the work running in this thread"),
    ("`@{slug} help`", "show this list"),
)


class Registry:
    """The handler of every job kind: one per workflow (in `@livebot help`'s order), and the
    jobs that need no model."""

    def __init__(self, workflows: tuple[Workflow, ...]) -> None:
        self.workflows = workflows
        self.catalog = Catalog(tuple(workflow.entry for workflow in workflows))
        self.handlers: dict[str, JobHandler] = {
            **{workflow.name: _workflow_handler(workflow) for workflow in workflows},
            CANCEL: replies.request_cancel,
            finishing.FINISH_EDIT: finishing.finish_edit,
            FEEDBACK: feedback.collect,
            HELP: self.help_reply,
            LEARN: teach.learn,
            LEARNINGS: teach.list_learnings,
            FORGET: teach.forget,
            REFUSE: self.refuse,
        }

    async def help_reply(self, services: WorkerServices, claimed: ClaimedJob) -> None:
        """The list of the commands that work here, and of those the repository turned off."""
        config = await repository_config(services, claimed.job)
        on = [w for w in self.workflows if config.commands.get(w.name, True)]
        off = [w.name for w in self.workflows if not config.commands.get(w.name, True)]
        rows = [(workflow.entry.usage, workflow.entry.does) for workflow in on]
        body = comments.help_text(claimed.job.author, services.slug, [*rows, *COMMAND_ROWS])
        if off:
            names = ", ".join(f"`{name}`" for name in off)
            body += comments.HELP_TURNED_OFF.format(commands=names)
        await replies.post_reply(services, claimed.job, body)

    async def refuse(self, services: WorkerServices, claimed: ClaimedJob) -> None:
        """Someone the repository does not trust: run it if `allowed_users` lists them, else one
        polite reply per thread (and a few per repository an hour)."""
        job = claimed.job
        config = await repository_config(services, job)
        handler = self.handlers.get(job.command)
        if (
            job.author.lower() in config.allowed_users
            and handler is not None
            and job.command != REFUSE
        ):
            trusted = dataclasses.replace(job, kind=job.command)
            await handler(services, dataclasses.replace(claimed, job=trusted))
            return
        queue = services.queue
        thread = f"refuse:{job.repository}#{job.number}:{job.author.lower()}"
        if not await queue.first_time(thread, REFUSAL_TTL_SECONDS):
            return
        limit_key = f"refusals:{job.repository}"
        if await queue.within_limit(limit_key, REFUSALS_PER_REPOSITORY_HOUR, 3600):
            await replies.refuse(services, claimed)

    async def handle(self, services: WorkerServices, claimed: ClaimedJob) -> bool:
        """Do what one job asks; False when no handler knows its kind."""
        handler = self.handlers.get(claimed.job.kind)
        if handler is None:
            return False
        await handler(services, claimed)
        return True


def _workflow_handler(workflow: Workflow) -> JobHandler:
    return workflow.handle or functools.partial(execute, workflow=workflow)


REGISTRY: Final = Registry(WORKFLOWS)
