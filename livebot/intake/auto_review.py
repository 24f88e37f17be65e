"""Automatic reviews: a pull request opened, made ready for review, or pushed to queues a review
job; the worker runs it only if the repository's `auto_review` settings ask for it."""

from __future__ import annotations

from typing import Final

from gidgethub import routing, sansio

from livebot.github import payloads
from livebot.github.payloads import FLAG, ID
from livebot.intake.delivery import Intake
from livebot.workflows.catalog import REVIEW

router = routing.Router()

ACTIONS: Final = ("opened", "ready_for_review", "synchronize")
PULL_FIELDS: Final[dict[str, payloads.Check]] = {
    "pull_request.number": ID,
    "pull_request.draft": FLAG,
}


async def pull_request_changed(event: sansio.Event, intake: Intake) -> None:
    """Queue a review of the pull request (settings are read by the worker, not here)."""
    data = event.data
    payloads.check(data, PULL_FIELDS)
    # Bots, this app included, start nothing (a branch livebot pushes must not review itself).
    if intake.is_own_or_bot(data["sender"]):
        return
    intake.start(
        data,
        kind=REVIEW.name,
        command=REVIEW.name,
        number=int(data["pull_request"]["number"]),
        author=data["sender"]["login"],
        is_pull_request=True,
        trigger=str(data["action"]),
        draft=data["pull_request"]["draft"],
    )


for _action in ACTIONS:
    router.add(pull_request_changed, "pull_request", action=_action)
