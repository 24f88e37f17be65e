"""The life of a run on GitHub: 👀, one placeholder, then the final comment or a clear failure."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from gidgethub import GitHubBroken, GitHubException

from bot import comments
from bot.github_app import InstallationAPI, fit_comment
from bot.jobs import Job
from bot.links import run_url
from bot.llm import LLMError, Usage
from bot.run_log import TERMINAL_STATUSES, RunWriter
from bot.services import Services
from bot.workflows import cancel

log = logging.getLogger(__name__)

PLACEHOLDER_ATTEMPTS: Final = 3
PLACEHOLDER_RETRY_SECONDS: Final = 0.5
WORKER_LOST: Final = "The worker running this answer stopped; another worker continues it."


class WorkflowError(Exception):
    """A workflow failed in a way the user should read about; `code` names it for the event."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Run:
    """One run as a workflow sees it: the job, its log writer, its placeholder comment."""

    services: Services
    job: Job
    writer: RunWriter
    gh: InstallationAPI
    comment_id: int
    comment_url: str
    created_at: float
    attempt: int
    answer_posted: bool = False

    @property
    def url(self) -> str:
        """The run's live page."""
        settings = self.services.settings
        return run_url(settings.base_url, settings.link_secret, self.job.run_id)

    @property
    def log_extra(self) -> dict[str, Any]:
        """Fields every log line of this run carries."""
        return {"run_id": self.job.run_id, "delivery_id": self.job.delivery_id}

    async def edit_comment(self, body: str) -> None:
        """Replace the placeholder's text (cut to GitHub's limit)."""
        note = comments.TRUNCATED_NOTE.format(url=self.url)
        await self.gh.patch(
            f"/repos/{self.job.repository}/issues/comments/{self.comment_id}",
            data={"body": fit_comment(body, note)},
        )

    async def succeed(self, answer: str, usage: Usage) -> None:
        """Turn the placeholder into the final answer, then end the run."""
        tokens = usage.prompt_tokens + usage.completion_tokens
        seconds = time.time() - self.created_at
        model = self.services.settings.model
        footer = comments.footer(self.url, model, tokens, seconds)
        body = f"{answer}\n\n{footer}\n\n{comments.marker(self.job.run_id)}"
        await self.edit_comment(body)
        self.answer_posted = True
        await self.writer.complete(
            "succeeded",
            comment_url=self.comment_url,
            usage={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        )

    async def fail(self, message: str, code: str, *, cancelled_by: str | None = None) -> None:
        """Say what failed in the placeholder (first: Redis may be what failed), then the page."""
        if cancelled_by is not None:
            body = comments.CANCELLED.format(
                author=cancelled_by, url=self.url, marker=comments.marker(self.job.run_id)
            )
        else:
            body = comments.FAILED.format(
                reason=message.rstrip("."),
                slug=self.services.slug,
                url=self.url,
                marker=comments.marker(self.job.run_id),
            )
        try:
            # An answer already posted stays: only the run's own ending failed.
            if not self.answer_posted:
                await self.edit_comment(body)
        except (GitHubException, aiohttp.ClientError, TimeoutError):
            log.exception(
                "could not edit the placeholder to say the run failed", extra=self.log_extra
            )
        await self.writer.emit(
            "error",
            {
                "message": message,
                "code": code,
                "recoverable": False,
                "retry_count": self.attempt - 1,
            },
        )
        status = "failed" if cancelled_by is None else "cancelled"
        await self.writer.complete(status, comment_url=self.comment_url)


async def react(gh: InstallationAPI, job: Job) -> None:
    """👀 on what triggered the job; a failure here must not stop the work."""
    if job.comment_kind == "review_comment":
        url = f"/repos/{job.repository}/pulls/comments/{job.comment_id}/reactions"
    elif job.comment_id is not None:
        url = f"/repos/{job.repository}/issues/comments/{job.comment_id}/reactions"
    else:
        url = f"{job.issue_path}/reactions"
    try:
        await gh.post(url, data={"content": "eyes"})
    except (GitHubException, aiohttp.ClientError, TimeoutError):
        log.warning("could not add the 👀 reaction", extra={"run_id": job.run_id}, exc_info=True)


async def find_placeholder(
    gh: InstallationAPI, job: Job, slug: str, since: float
) -> dict[str, Any] | None:
    """A placeholder posted for this run before a crash could record it."""
    wanted = comments.marker(job.run_id)
    since_iso = datetime.fromtimestamp(since - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async for comment in gh.getiter(f"{job.issue_path}/comments?since={since_iso}&per_page=100"):
        if comment["user"]["login"].lower() == f"{slug.lower()}[bot]" and wanted in comment["body"]:
            return comment
    return None


async def post_placeholder(
    services: Services, gh: InstallationAPI, job: Job, created_at: float
) -> dict[str, Any]:
    """Post the placeholder once: after an ambiguous failure, look for it before posting again."""
    url = run_url(services.settings.base_url, services.settings.link_secret, job.run_id)
    body = comments.PLACEHOLDER.format(url=url, marker=comments.marker(job.run_id))
    for attempt in range(1, PLACEHOLDER_ATTEMPTS + 1):
        try:
            return await gh.post(f"{job.issue_path}/comments", data={"body": body})
        except (GitHubBroken, aiohttp.ClientError, TimeoutError):
            if attempt == PLACEHOLDER_ATTEMPTS:
                raise
            log.warning(
                "placeholder post failed; checking whether it landed",
                extra={"run_id": job.run_id, "delivery_id": job.delivery_id},
            )
            await asyncio.sleep(PLACEHOLDER_RETRY_SECONDS * attempt)
            landed = await find_placeholder(gh, job, services.slug, created_at)
            if landed is not None:
                return landed
    raise AssertionError("unreachable")


Workflow = Callable[[Run], Awaitable[None]]


async def execute(
    services: Services, job: Job, attempt: int, workflow_name: str, workflow: Workflow
) -> None:
    """Run a workflow for a job: resume its run if a worker already started it."""
    run_log = services.run_log
    meta = await run_log.meta(job.run_id)
    if meta is None:
        await run_log.create(
            run_id=job.run_id,
            workflow=workflow_name,
            repository=job.repository,
            number=job.number,
            fields={"author": job.author, "model": services.settings.model},
        )
        meta = await run_log.meta(job.run_id) or {}
    if meta["status"] in TERMINAL_STATUSES:
        log.info("run already finished", extra={"run_id": job.run_id})
        return
    gh = services.github.api(job.installation_id)
    # The comment id is stored before anything else, so a second worker reuses the placeholder.
    if "comment_id" not in meta:
        created_at = float(meta["created_at"])
        comment = await find_placeholder(gh, job, services.slug, created_at)
        if comment is None:
            await react(gh, job)
            comment = await post_placeholder(services, gh, job, created_at)
        meta["comment_id"], meta["comment_url"] = str(comment["id"]), comment["html_url"]
        await run_log.update(
            job.run_id, comment_id=meta["comment_id"], comment_url=meta["comment_url"]
        )
    run = Run(
        services=services,
        job=job,
        writer=run_log.writer(job.run_id),
        gh=gh,
        comment_id=int(meta["comment_id"]),
        comment_url=meta["comment_url"],
        created_at=float(meta["created_at"]),
        attempt=attempt,
    )
    if attempt > 1:
        await run.writer.emit(
            "error",
            {
                "message": WORKER_LOST,
                "code": "worker_lost",
                "recoverable": True,
                "retry_count": attempt - 1,
            },
        )
    await cancel.track(run_log, job)
    try:
        await _until_cancelled(run, workflow)
    except asyncio.CancelledError:
        raise
    except LLMError as exc:
        log.warning("model failed", extra={**run.log_extra, "code": exc.code})
        await run.fail(exc.message, exc.code)
    except WorkflowError as exc:
        await run.fail(exc.message, exc.code)
    except GitHubException as exc:
        log.warning("GitHub failed", extra={**run.log_extra, "error": repr(exc)})
        await run.fail(f"GitHub answered with an error ({exc})", "github_error")
    except Exception:
        log.exception("workflow crashed", extra=run.log_extra)
        await run.fail("Livebot hit an internal error", "internal_error")
    finally:
        run.writer.close()
        await cancel.untrack(run_log, job)


async def _until_cancelled(run: Run, workflow: Workflow) -> None:
    """Run the workflow unless someone cancels the run first."""
    work = asyncio.create_task(workflow(run))
    watch = asyncio.create_task(cancel.wait_for_cancel(run.services.run_log, run.job.run_id))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, watch):
            task.cancel()
    if not work.done() or work.cancelled():
        await asyncio.gather(work, return_exceptions=True)
        who = watch.result()
        await run.fail(f"Cancelled by @{who}", "cancelled", cancelled_by=who)
        return
    work.result()


async def give_up(services: Services, job: Job, attempts: int) -> None:
    """End a job's run as failed after too many attempts, saying so in its placeholder."""
    meta = await services.run_log.meta(job.run_id)
    if meta is None or meta["status"] in TERMINAL_STATUSES:
        return
    writer = services.run_log.writer(job.run_id)
    message = f"Livebot gave up after {attempts} attempts"
    if "comment_id" not in meta:
        await writer.emit(
            "error",
            {"message": message, "code": "gave_up", "recoverable": False, "retry_count": attempts},
        )
        await writer.complete("failed")
        return
    run = Run(
        services=services,
        job=job,
        writer=writer,
        gh=services.github.api(job.installation_id),
        comment_id=int(meta["comment_id"]),
        comment_url=meta["comment_url"],
        created_at=float(meta["created_at"]),
        attempt=attempts,
    )
    await run.fail(message, "gave_up")
