"""Every job kind and its handler, composed in one place, as bot/router.py composes routers.

Adding a workflow: write its module (a `Workflow` named `WORKFLOW`) and add it to `WORKFLOWS`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Final

from bot import comments, replies
from bot.execution import Workflow, execute
from bot.jobs import ClaimedJob
from bot.services import WorkerServices
from bot.workflows import answer

JobHandler = Callable[[WorkerServices, ClaimedJob], Awaitable[None]]

WORKFLOWS: Final[tuple[Workflow, ...]] = (answer.WORKFLOW,)
DEFAULT_WORKFLOW: Final = answer.WORKFLOW.name
# Understood, so that they are not taken for questions, but not built yet.
NOT_BUILT: Final[dict[str, tuple[str, ...]]] = {
    "review": ("review",),
    "goal": ("goal", "describe"),
    "resolve": ("resolve", "fix"),
}
CANCEL: Final = "cancel"
HELP: Final = "help"
REFUSE: Final = "refuse"
COMMAND_ROWS: Final = (
    ("`@{slug} cancel`", "stop the work running in this thread"),
    ("`@{slug} help`", "show this list"),
)

COMMAND_WORDS: Final[dict[str, str]] = {
    **{word: workflow.name for workflow in WORKFLOWS for word in workflow.words},
    **{word: kind for kind, words in NOT_BUILT.items() for word in words},
    CANCEL: CANCEL,
    HELP: HELP,
}


async def help_reply(services: WorkerServices, claimed: ClaimedJob) -> None:
    """The list of the commands that work."""
    rows = [(workflow.usage, workflow.does) for workflow in WORKFLOWS] + list(COMMAND_ROWS)
    body = comments.help_text(claimed.job.author, services.slug, rows)
    await replies.post_reply(services, claimed.job, body)


def _workflow_handler(workflow: Workflow) -> JobHandler:
    return functools.partial(execute, workflow=workflow)


HANDLERS: Final[dict[str, JobHandler]] = {
    **{workflow.name: _workflow_handler(workflow) for workflow in WORKFLOWS},
    **{kind: replies.not_available for kind in NOT_BUILT},
    CANCEL: replies.request_cancel,
    HELP: help_reply,
    REFUSE: replies.refuse,
}
WORKFLOW_NAMES: Final = frozenset(workflow.name for workflow in WORKFLOWS)
