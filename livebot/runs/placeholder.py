"""The placeholder's life on GitHub: 👀 and one placeholder comment, found again after a crash."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from gidgethub import GitHubBroken, GitHubException

from livebot.github import comments
from livebot.github.client import InstallationAPI
from livebot.github.paths import repo_path
from livebot.queue.jobs import Job
from livebot.runs.links import run_url
from livebot.worker_services import WorkerServices

log = logging.getLogger(__name__)

POST_ATTEMPTS: Final = 3
RETRY_SECONDS: Final = 0.5


async def react(gh: InstallationAPI, job: Job) -> None:
    """👀 on what triggered the job; a failure here must not stop the work."""
    if job.comment_id is None:
        url = job.issue_path("reactions")
    else:
        kind = "pulls" if job.comment_kind == "review_comment" else "issues"
        url = repo_path(job.repository, kind, "comments", job.comment_id, "reactions")
    try:
        await gh.post(url, data={"content": "eyes"})
    except (GitHubException, aiohttp.ClientError, TimeoutError) as exc:
        # One line: an outage is not a crash.
        log.warning(
            "could not add the 👀 reaction",
            extra={"run_id": job.run_id, "error": repr(exc)[:200]},
        )


async def find(gh: InstallationAPI, job: Job, slug: str, since: float) -> dict[str, Any] | None:
    """A placeholder posted for this run before a crash could record it."""
    wanted = comments.marker(job.run_id)
    since_iso = datetime.fromtimestamp(since - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async for comment in gh.getiter(
        job.thread_comments_path({"since": since_iso, "per_page": 100})
    ):
        if comment["user"]["login"].lower() == f"{slug.lower()}[bot]" and wanted in comment["body"]:
            found: dict[str, Any] = comment
            return found
    return None


async def post(
    services: WorkerServices, gh: InstallationAPI, job: Job, created_at: float
) -> dict[str, Any]:
    """Post the placeholder once: after an ambiguous failure, look for it before posting again."""
    url = run_url(services.settings.base_url, services.settings.link_secret, job.run_id)
    body = comments.PLACEHOLDER.format(url=url, marker=comments.marker(job.run_id))
    for attempt in range(1, POST_ATTEMPTS + 1):
        try:
            posted: dict[str, Any] = await gh.post(job.reply_path, data=job.reply_data(body))
            return posted
        except (GitHubBroken, aiohttp.ClientError, TimeoutError):
            if attempt == POST_ATTEMPTS:
                raise
            log.warning(
                "placeholder post failed; checking whether it landed",
                extra={"run_id": job.run_id, "delivery_id": job.delivery_id},
            )
            await asyncio.sleep(RETRY_SECONDS * attempt)
            landed = await find(gh, job, services.slug, created_at)
            if landed is not None:
                return landed
    raise AssertionError("unreachable")


async def ensure(
    services: WorkerServices,
    gh: InstallationAPI,
    job: Job,
    created_at: float,
    *,
    look_first: bool,
    epoch: int,
) -> tuple[int, str]:
    """The run's placeholder (id, URL): found after a crash (`look_first`), or posted now; then
    recorded, unless another attempt (with a newer `epoch`) took the run over."""
    comment = await find(gh, job, services.slug, created_at) if look_first else None
    if comment is None:
        # The 👀 and the post are independent: one round trip, not two.
        _, comment = await asyncio.gather(react(gh, job), post(services, gh, job, created_at))
    comment_id, comment_url = int(comment["id"]), str(comment["html_url"])
    # Recorded before anything else happens, so a second worker reuses this placeholder.
    await services.run_log.update_fenced(
        job.run_id, epoch, comment_id=comment_id, comment_url=comment_url
    )
    return comment_id, comment_url
