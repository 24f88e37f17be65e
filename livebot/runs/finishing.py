"""A run's final comment on GitHub: edited in, and retried by a follow-up job while GitHub
fails, so an answer never stays "Working on it…"."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Final

import aiohttp
from gidgethub import GitHubBroken, RateLimitExceeded

from livebot.github import comments
from livebot.github.client import InstallationAPI, fit_comment
from livebot.queue.jobs import ClaimedJob, Job
from livebot.runs import placeholder
from livebot.runs.links import run_url
from livebot.worker_services import WorkerServices

log = logging.getLogger(__name__)

FINISH_EDIT: Final = "finish_edit"
# Failures that may pass: a GitHub outage, a rate limit, the network.
TRANSIENT: Final = (GitHubBroken, RateLimitExceeded, aiohttp.ClientError, TimeoutError)
MAX_BACKOFF_SECONDS: Final = 120.0


async def edit(
    services: WorkerServices,
    gh: InstallationAPI,
    job: Job,
    comment_id: int | None,
    body: str,
    created_at: float | None = None,
) -> str | None:
    """Put `body` (cut to GitHub's limit) in the run's comment; post it if it never was (then
    its URL)."""
    settings = services.settings
    note = comments.TRUNCATED_NOTE.format(
        url=run_url(settings.base_url, settings.link_secret, job.run_id)
    )
    data = {"body": fit_comment(body, note)}
    if comment_id is not None:
        await gh.patch(job.comment_path(comment_id), data=data)
        return None
    # The placeholder was never posted: the final text becomes the reply (once).
    found = await placeholder.find(gh, job, services.slug, created_at or time.time() - 3600)
    posted = found or await gh.post(job.reply_path, data=job.reply_data(data["body"]))
    if found is not None:
        await gh.patch(job.comment_path(int(found["id"])), data=data)
    url = str(posted["html_url"])
    await services.run_log.update(job.run_id, comment_id=int(posted["id"]), comment_url=url)
    return url


async def follow_up(services: WorkerServices, job: Job) -> None:
    """Queue the job that keeps trying the final edit (once per run)."""
    await services.queue.enqueue(
        dataclasses.replace(job, kind=FINISH_EDIT, delivery_id=f"{job.delivery_id}:finish-edit")
    )


async def finish_edit(services: WorkerServices, claimed: ClaimedJob) -> None:
    """The follow-up job: publish the run's decided final comment, with backoff, for minutes."""
    job, settings = claimed.job, services.settings
    meta = await services.run_log.meta(job.run_id)
    if meta is None or "final_body" not in meta:
        log.warning("no final comment to publish", extra={"run_id": job.run_id})
        return
    gh = services.github.api(job.installation_id)
    comment_id = int(meta["comment_id"]) if "comment_id" in meta else None
    deadline = time.monotonic() + settings.finish_edit_seconds
    delay = settings.finish_edit_backoff
    while True:
        try:
            await edit(services, gh, job, comment_id, meta["final_body"], float(meta["created_at"]))
            log.info("final comment published", extra={"run_id": job.run_id})
            return
        except TRANSIENT as exc:
            # One line per try: GitHub or the network being away is not a crash.
            error = {"run_id": job.run_id, "error": repr(exc)[:200]}
            if time.monotonic() + delay > deadline:
                log.error("GitHub kept failing; final comment not published", extra=error)
                return
            log.warning("final edit failed; retrying in %.1f s", delay, extra=error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
