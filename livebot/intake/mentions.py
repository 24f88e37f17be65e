"""Mentions of the app in issues, issue comments and pull request comments."""

from __future__ import annotations

from gidgethub import routing, sansio

from livebot.intake.delivery import Intake

router = routing.Router()


@router.register("issue_comment", action="created")
async def comment_created(event: sansio.Event, intake: Intake) -> None:
    """A new comment on an issue or a pull request."""
    is_pull_request = "pull_request" in (event.data.get("issue") or {})
    intake.mention(
        event.data,
        target="comment",
        number_path="issue.number",
        is_pull_request=is_pull_request,
        comment_kind="issue_comment",
    )


@router.register("pull_request_review_comment", action="created")
async def review_comment_created(event: sansio.Event, intake: Intake) -> None:
    """A new comment on a line of a pull request's diff."""
    intake.mention(
        event.data,
        target="comment",
        number_path="pull_request.number",
        is_pull_request=True,
        comment_kind="review_comment",
    )


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, intake: Intake) -> None:
    """A new issue whose body mentions the app."""
    intake.mention(event.data, target="issue", number_path="issue.number", is_pull_request=False)
