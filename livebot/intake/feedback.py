"""Review feedback: a pull request closed (merged or not) queues the job that reads what people
made of Livebot's findings on it (the worker does nothing without the archive)."""

from __future__ import annotations

from typing import Final

from gidgethub import routing, sansio

from livebot.github import payloads
from livebot.github.payloads import ID
from livebot.intake.delivery import Intake
from livebot.workflows.catalog import FEEDBACK

router = routing.Router()

CLOSED_FIELDS: Final[dict[str, payloads.Check]] = {"pull_request.number": ID}


async def pull_request_closed(event: sansio.Event, intake: Intake) -> None:
    """Queue the feedback job: it posts nothing, so whoever closed it (a bot too) starts it."""
    data = event.data
    payloads.check(data, CLOSED_FIELDS)
    intake.start(
        data,
        kind=FEEDBACK,
        command=FEEDBACK,
        number=int(data["pull_request"]["number"]),
        author=data["sender"]["login"],
        is_pull_request=True,
        trigger=str(data["action"]),
    )


router.add(pull_request_closed, "pull_request", action="closed")
