"""Mentions of the app in issues, issue comments and pull request comments."""

from __future__ import annotations

from typing import Final

from gidgethub import routing, sansio

from bot import payloads
from bot.intake import Intake
from bot.payloads import ID, OPTIONAL_TEXT, TEXT, USER

router = routing.Router()

COMMENT_FIELDS: Final = {
    "comment.id": ID,
    "comment.body": OPTIONAL_TEXT,
    "comment.user.login": USER,
    "comment.user.type": TEXT,
    "comment.author_association": TEXT,
}


@router.register("issue_comment", action="created")
async def comment_created(event: sansio.Event, intake: Intake) -> None:
    """A new comment on an issue or a pull request."""
    payloads.check(event.data, COMMENT_FIELDS | {"issue.number": ID})
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
    payloads.check(event.data, COMMENT_FIELDS | {"pull_request.number": ID})
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
    payloads.check(
        event.data,
        {
            "issue.number": ID,
            "issue.body": OPTIONAL_TEXT,
            "issue.user.login": USER,
            "issue.user.type": TEXT,
            "issue.author_association": TEXT,
        },
    )
    issue = event.data["issue"]
    intake.mention(
        event.data,
        body=issue["body"],
        author=issue["user"],
        association=issue["author_association"],
        number=issue["number"],
        is_pull_request=False,
    )
