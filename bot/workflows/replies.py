"""Short replies that need no model: help, a polite refusal, commands not available yet."""

from __future__ import annotations

from bot.jobs import Job
from bot.services import Services


async def reply(services: Services, job: Job, template: str) -> None:
    """Post one comment in the job's thread."""
    body = template.format(author=job.author, slug=services.slug, command=job.kind)
    await services.github.api(job.installation_id).post(
        f"{job.issue_path}/comments", data={"body": body}
    )
