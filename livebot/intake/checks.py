"""Re-run: a person pressing Re-run on a review's check run starts a new, full review of its
pull request (GitHub shows the button only to people with write access)."""

from __future__ import annotations

from typing import Final

from gidgethub import routing, sansio

from livebot.github import check_runs, payloads
from livebot.github.payloads import ID, TEXT
from livebot.intake.delivery import Intake
from livebot.workflows.catalog import REVIEW

router = routing.Router()

CHECK_FIELDS: Final[dict[str, payloads.Check]] = {
    "check_run.app.id": ID,
    "check_run.external_id": TEXT,
}


@router.register("check_run", action="rerequested")
async def check_run_rerequested(event: sansio.Event, intake: Intake) -> None:
    """Queue a review of the pull request a review's check was made for."""
    data = event.data
    payloads.check(data, CHECK_FIELDS)
    check = data["check_run"]
    # Only our own checks: another app's, or a check of ours for another workflow, is not.
    target = check_runs.rerun_target(check["external_id"])
    if check["app"]["id"] != intake.app_id or target is None or target[0] != REVIEW.name:
        return
    # The payload carries no author_association: like a push, a bot starts nothing, and the
    # worker reads the repository's settings (`commands.review`) before it runs.
    if intake.is_own_or_bot(data["sender"]):
        return
    intake.start(
        data,
        kind=REVIEW.name,
        command=REVIEW.name,
        number=target[1],
        author=data["sender"]["login"],
        is_pull_request=True,
        trigger=check_runs.RERUN,
    )
