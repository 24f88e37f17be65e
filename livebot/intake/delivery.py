"""What a webhook delivery asks for: router handlers fill an Intake, the endpoint queues it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from livebot.github import payloads
from livebot.github.payloads import ID, OPTIONAL_TEXT, TEXT, USER, Check
from livebot.intake.commands import parse_command
from livebot.queue.jobs import Job
from livebot.runs import visibility
from livebot.runs.log import new_run_id
from livebot.workflows.catalog import REFUSE

TRUSTED_ASSOCIATIONS: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
# GitHub caps titles at 256 characters; a payload may not be trusted to.
MAX_TITLE_CHARS: Final = 256


@dataclass
class Intake:
    """The app's identity, and the job a delivery starts (if any)."""

    slug: str
    delivery_id: str
    # GITHUB_APP_ID: whose check runs are ours (None: no check is).
    app_id: int | None = None
    job: Job | None = None
    trusted: frozenset[str] = TRUSTED_ASSOCIATIONS

    def is_own_or_bot(self, user: dict[str, Any]) -> bool:
        """Bots, this app included, start nothing (no loops between bots)."""
        login: str = user["login"]
        return user["type"] == "Bot" or login.lower() == f"{self.slug.lower()}[bot]"

    def mention(
        self,
        data: dict[str, Any],
        *,
        target: str,
        number_path: str,
        is_pull_request: bool,
        comment_kind: str | None = None,
    ) -> None:
        """Start the work a mention asks for, if its author may; else a refusal job.

        `target` names the object holding the text (`comment` or `issue`); the payload's other
        fields are checked only once the text mentions the app.
        """
        payloads.check(data, {f"{target}.body": OPTIONAL_TEXT}, common=False)
        command = parse_command(data[target]["body"], self.slug)
        if command is None:
            return
        checks: dict[str, Check] = {
            f"{target}.user.login": USER,
            f"{target}.user.type": TEXT,
            f"{target}.author_association": TEXT,
            number_path: ID,
        }
        if comment_kind is not None:
            checks[f"{target}.id"] = ID
        payloads.check(data, checks)
        author = data[target]["user"]
        if self.is_own_or_bot(author) or self.is_own_or_bot(data["sender"]):
            return
        trusted = data[target]["author_association"] in self.trusted
        self.start(
            data,
            kind=command.name if trusted else REFUSE,
            command=command.name,
            number=int(payloads.field(data, number_path)),
            author=author["login"],
            is_pull_request=is_pull_request,
            comment_id=data[target]["id"] if comment_kind is not None else None,
            comment_kind=comment_kind,
            in_reply_to_id=payloads.optional_id(data, f"{target}.in_reply_to_id"),
            request=command.text,
        )

    def start(
        self,
        data: dict[str, Any],
        *,
        kind: str,
        command: str,
        number: int,
        author: str,
        is_pull_request: bool,
        comment_id: int | None = None,
        comment_kind: str | None = None,
        in_reply_to_id: int | None = None,
        request: str = "",
        trigger: str = "",
        draft: bool = False,
    ) -> None:
        """Queue `kind` for the delivery's thread: the one place a delivery becomes a job, so
        that what every job takes from the delivery itself (who may see it above all) is never
        left to a default."""
        self.job = Job(
            kind=kind,
            run_id=new_run_id(),
            delivery_id=self.delivery_id,
            installation_id=int(data["installation"]["id"]),
            repository=data["repository"]["full_name"],
            number=number,
            author=author,
            is_pull_request=is_pull_request,
            comment_id=comment_id,
            comment_kind=comment_kind,
            in_reply_to_id=in_reply_to_id,
            request=request,
            command=command,
            trigger=trigger,
            draft=draft,
            visibility=visibility.of_repository(data["repository"]),
            title=_title(data),
        )


def _title(data: dict[str, Any]) -> str:
    """The title of the delivery's issue or pull request."""
    thread = data.get("issue") or data.get("pull_request") or {}
    title = thread.get("title") if isinstance(thread, dict) else None
    return title[:MAX_TITLE_CHARS] if isinstance(title, str) else ""
