"""Mentions of the app in issues, issue comments and pull request comments."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.intake import Intake

router = routing.Router()


@router.register("issue_comment", action="created")
async def comment_created(event: sansio.Event, intake: Intake) -> None:
    """A new comment on an issue or a pull request."""
    comment, issue = event.data["comment"], event.data["issue"]
    intake.mention(
        event.data,
        body=comment["body"],
        author=comment["user"],
        association=comment["author_association"],
        number=issue["number"],
        is_pull_request="pull_request" in issue,
        comment_id=comment["id"],
        comment_kind="issue_comment",
    )


@router.register("pull_request_review_comment", action="created")
async def review_comment_created(event: sansio.Event, intake: Intake) -> None:
    """A new comment on a line of a pull request's diff."""
    comment = event.data["comment"]
    intake.mention(
        event.data,
        body=comment["body"],
        author=comment["user"],
        association=comment["author_association"],
        number=event.data["pull_request"]["number"],
        is_pull_request=True,
        comment_id=comment["id"],
        comment_kind="review_comment",
    )


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, intake: Intake) -> None:
    """A new issue whose body mentions the app."""
    issue = event.data["issue"]
    intake.mention(
        event.data,
        body=issue["body"],
        author=issue["user"],
        association=issue["author_association"],
        number=issue["number"],
        is_pull_request=False,
    )
