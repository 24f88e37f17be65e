"""What a webhook delivery asks for: router handlers fill an Intake, the endpoint queues it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from bot.commands import parse_command
from bot.jobs import Job
from bot.registry import REFUSE
from bot.run_log import new_run_id

TRUSTED_ASSOCIATIONS: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


@dataclass
class Intake:
    """The app's identity, and the job a delivery starts (if any)."""

    slug: str
    delivery_id: str
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
        body: str | None,
        author: dict[str, Any],
        association: str,
        number: int,
        is_pull_request: bool,
        comment_id: int | None = None,
        comment_kind: str | None = None,
    ) -> None:
        """Start the work a mention asks for, if its author may; else at most one polite reply."""
        installation_id = data["installation"]["id"]
        repository = data["repository"]["full_name"]
        if self.is_own_or_bot(author) or self.is_own_or_bot(data["sender"]):
            return
        command = parse_command(body, self.slug)
        if command is None:
            return
        trusted = association in self.trusted
        self.job = Job(
            kind=command.name if trusted else REFUSE,
            run_id=new_run_id(),
            delivery_id=self.delivery_id,
            installation_id=int(installation_id),
            repository=repository,
            number=int(number),
            author=author["login"],
            is_pull_request=is_pull_request,
            comment_id=comment_id,
            comment_kind=comment_kind,
            request=command.text,
            command=command.name,
        )
