"""Running a workflow for a job: load its run, guard it, always end it (on GitHub and the page)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import psycopg
from gidgethub import GitHubException
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livebot.config.repo_config import (
    RepoConfig,
    default_config,
    notes_markdown,
)
from livebot.core.cancellation import cancel_and_wait
from livebot.core.metrics import LLM_COST, LLM_ERRORS, LLM_TOKENS
from livebot.core.settings import RunLimits
from livebot.github import comments
from livebot.github.client import InstallationAPI
from livebot.learnings.store import Learning
from livebot.learnings.store import prompt_section as learned
from livebot.llm import prompts
from livebot.llm.client import LLMError, LLMTimeouts, ModelClient
from livebot.llm.usage import Usage
from livebot.queue.jobs import ClaimedJob, Job
from livebot.runs import checks, finishing, placeholder, pricing, visibility
from livebot.runs.events import TERMINAL_STATUSES, UsageData
from livebot.runs.links import run_url
from livebot.runs.log import SUPERSEDED_BY, RunWriter, StaleAttempt
from livebot.worker_services import WorkerServices, repository_config
from livebot.workflows import replies
from livebot.workflows.catalog import Entry

log = logging.getLogger(__name__)

WORKER_LOST: Final = "The worker running this answer stopped; another worker continues it."
CANCEL_POLL_SECONDS: Final = 1.0
# Redis went away mid-run: the job waits for it and is tried again, with nothing said on GitHub.
REDIS_AWAY: Final = (RedisConnectionError, RedisTimeoutError)
# GitHub (or the model's host) could not be reached: an outage, not a bug; one line, no traceback.
NETWORK_AWAY: Final = (aiohttp.ClientError, TimeoutError, OSError)
NETWORK_FAILED: Final = "A network error stopped the run ({error}); mention me again to retry"


@dataclass
class Run:
    """One run as a workflow sees it: the job, its log writer, its placeholder comment."""

    services: WorkerServices
    job: Job
    writer: RunWriter
    gh: InstallationAPI
    comment_id: int | None
    comment_url: str | None
    created_at: float
    attempt: int
    config: RepoConfig
    # This attempt's fencing token: its writes count only while the run's epoch is this one.
    epoch: int
    # Its Check Run, once the workflow opens one on the commit it works on.
    check: checks.RunCheck
    # The final (status, comment) an earlier attempt decided, if any: it only needs publishing.
    final: tuple[str, str] | None = None
    # Whether an earlier attempt already worked on this run (it may have posted text, a comment).
    resumed: bool = False
    activity: str = "Starting"
    progress: asyncio.Task[None] | None = None
    # The placeholder being posted while the workflow already reads and thinks.
    placeholder: asyncio.Task[tuple[int, str]] | None = None
    # The rules the repository's maintainers taught (`@livebot learn`), followed by every workflow.
    learnings: tuple[Learning, ...] = ()

    @property
    def url(self) -> str:
        """The run's live page."""
        settings = self.services.settings
        return run_url(settings.base_url, settings.link_secret, self.job.run_id)

    @property
    def model(self) -> str:
        """The model this run uses: the repository's choice, else the operator's."""
        return self.config.model or self.services.settings.model

    @property
    def limits(self) -> RunLimits:
        """What this run may spend (the repository's settings, within the operator's maxima)."""
        return self.config.limits

    @property
    def llm(self) -> ModelClient:
        """The model provider's client."""
        return self.services.llm

    @property
    def timeouts(self) -> LLMTimeouts:
        """How long one model call may stall (the operator's settings)."""
        settings = self.services.settings
        return LLMTimeouts(
            first_token=settings.llm_timeout,
            between_chunks=settings.llm_timeout,
            total=settings.llm_total_timeout,
        )

    @property
    def instructions(self) -> str:
        """The repository's instructions for the model (`.github/livebot.yml` and what its
        maintainers taught), or ""."""
        return prompts.repository_instructions(self.config) + learned(self.learnings)

    @property
    def log_extra(self) -> dict[str, Any]:
        """Fields every log line of this run carries."""
        return {"run_id": self.job.run_id, "delivery_id": self.job.delivery_id}

    async def written(self) -> str:
        """The text earlier attempts of this run already streamed."""
        return await self.services.run_log.text(self.job.run_id)

    async def status(self, message: str) -> None:
        """Say what the run is doing, on the page and (in a long run) in the placeholder."""
        self.activity = message
        await self.writer.status("running", message)

    def start_progress(self) -> None:
        """Keep the placeholder's line about what the run is doing fresh while it works."""
        self.progress = asyncio.create_task(self._show_progress())

    async def stop_progress(self) -> None:
        """No more progress edits: the final edit must be the last one."""
        if self.progress is not None:
            self.progress.cancel()
            await asyncio.gather(self.progress, return_exceptions=True)
            self.progress = None

    def open_check(self, head_sha: str) -> None:
        """Show the run as a check on `head_sha` (the Details link is its live page)."""
        self.check.open(head_sha, lambda: self.activity)

    async def current(self) -> bool:
        """Whether this attempt still holds the run's lease."""
        return await self.services.run_log.is_current(self.job.run_id, self.epoch)

    async def guard(self) -> None:
        """Stop here (StaleAttempt) if another attempt took the run over: GitHub is its now."""
        if not await self.current():
            raise StaleAttempt(self.job.run_id)

    async def _show_progress(self) -> None:
        timing = self.services.progress
        await asyncio.sleep(timing.after_seconds)
        shown, failures = "", 0
        while True:
            if self.activity != shown and self.comment_id is not None and await self.current():
                shown = self.activity
                elapsed = comments.duration(time.time() - self.created_at)
                body = comments.PROGRESS.format(
                    activity=shown.rstrip("."),
                    elapsed=elapsed,
                    url=self.url,
                    marker=comments.marker(self.job.run_id),
                )
                try:
                    await self.gh.patch(self.job.comment_path(self.comment_id), data={"body": body})
                except (GitHubException, *NETWORK_AWAY) as exc:
                    failures += 1
                    log.warning(
                        "could not show progress",
                        extra={**self.log_extra, "error": repr(exc)[:200], "failures": failures},
                    )
            await asyncio.sleep(timing.every_seconds)

    async def ready(self) -> None:
        """Wait until the placeholder is posted (or raise what stopped it)."""
        if self.placeholder is not None:
            self.comment_id, self.comment_url = await self.placeholder
            self.placeholder = None

    async def post_placeholder(self) -> tuple[int, str]:
        """Post (or, after a crash, find) the placeholder, unless this attempt is stale."""
        await self.guard()
        job = self.job
        return await placeholder.ensure(
            self.services, self.gh, job, self.created_at, look_first=self.resumed, epoch=self.epoch
        )

    async def publish(
        self,
        status: str,
        body: str,
        usage: UsageData | None = None,
        cost_usd: float | None = None,
        reason: str = "",
    ) -> None:
        """Decide the run's final comment (unless an earlier attempt did), put it on GitHub (a
        follow-up job keeps trying while GitHub fails), complete its check, then end the run on
        the page; `reason` is why it failed."""
        await self.stop_progress()
        try:
            await self.ready()
        except Exception:
            # Logged where it failed: the final text becomes the reply instead.
            self.placeholder = None
        run_log, run_id = self.services.run_log, self.job.run_id
        if self.final is None:
            self.final = await run_log.record_final(run_id, self.epoch, status, body)
        status, body = self.final
        try:
            await self.guard()
            posted = await finishing.edit(
                self.services, self.gh, self.job, self.comment_id, body, self.created_at
            )
            self.comment_url = posted or self.comment_url
        except finishing.TRANSIENT:
            log.warning("final edit failed; a follow-up job retries it", extra=self.log_extra)
            await finishing.follow_up(self.services, self.job)
        except GitHubException:
            # Refused for good (the comment was deleted, …): the page keeps the whole answer.
            log.exception("GitHub refused the final comment", extra=self.log_extra)
        await self.check.close(await self.check_outcome(status, reason))
        await self.writer.complete(
            status, comment_url=self.comment_url, usage=usage, cost_usd=cost_usd
        )

    async def check_outcome(self, status: str, reason: str) -> checks.Outcome:
        """How the run's check ends: as the workflow said if it succeeded, else by status."""
        if status == "succeeded" and self.check.outcome is not None:
            return self.check.outcome
        newer = ""
        if status == "cancelled" and (meta := await self.services.run_log.meta(self.job.run_id)):
            settings = self.services.settings
            if meta.get(SUPERSEDED_BY):
                newer = run_url(settings.base_url, settings.link_secret, meta[SUPERSEDED_BY])
        url, comment = self.url, self.comment_url
        return checks.ending(status, url=url, comment=comment, reason=reason, newer=newer)

    async def succeed(self, answer: str, usage: Usage) -> None:
        """Turn the placeholder into the final answer (and any settings notes), end the run."""
        notes = notes_markdown(self.config)
        if notes:
            # On the page too: the answer is the concatenation of every token.
            self.writer.token(notes)
            answer += notes
        await self.guard()
        cost = await self.count(usage)
        seconds = time.time() - self.created_at
        footer = comments.footer(
            self.url, self.model, usage.total, seconds, cost, estimated=usage.estimated
        )
        body = f"{answer}\n\n{footer}\n\n{comments.marker(self.job.run_id)}"
        counted: UsageData = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        if usage.reasoning_tokens:
            counted["reasoning_tokens"] = usage.reasoning_tokens
        if usage.estimated:
            counted["estimated"] = True
        await self.publish("succeeded", body, counted, cost)

    async def count(self, usage: Usage) -> float | None:
        """Count the run's tokens (metrics, the installation's day); its estimated cost."""
        settings, workflow = self.services.settings, self.job.kind
        cost = pricing.cost_usd(self.model, usage, settings.prices)
        LLM_TOKENS.labels(workflow=workflow, kind="prompt").inc(usage.prompt_tokens)
        LLM_TOKENS.labels(workflow=workflow, kind="completion").inc(usage.completion_tokens)
        if cost is not None:
            LLM_COST.labels(workflow=workflow).inc(cost)
        if settings.daily_tokens is not None:
            await pricing.add_tokens(
                self.services.redis,
                self.job.installation_id,
                usage.total,
                attempt=f"{self.job.run_id}:{self.epoch}",
            )
        return cost

    async def fail(self, message: str, code: str, *, cancelled_by: str | None = None) -> None:
        """Say what failed below the text written so far; an answer already decided stays."""
        marker = comments.marker(self.job.run_id)
        if cancelled_by is not None:
            note = comments.CANCELLED.format(
                by=comments.cancelled_by(cancelled_by), url=self.url, marker=marker
            )
        else:
            note = comments.FAILED.format(
                reason=message.rstrip("."), slug=self.services.slug, url=self.url, marker=marker
            )
        await self.writer.error(message, code, recoverable=False, retry_count=self.attempt - 1)
        await self.writer.flush()
        partial = await self.services.run_log.text(self.job.run_id)
        status = "failed" if cancelled_by is None else "cancelled"
        await self.publish(status, comments.with_partial(partial, note), reason=message)

    async def finish(self) -> None:
        """Publish the final comment an earlier attempt decided, and end the run (no model)."""
        assert self.final is not None
        await self.publish(*self.final)


WorkflowFunction = Callable[[Run], Coroutine[Any, Any, None]]
JobHandler = Callable[[WorkerServices, ClaimedJob], Awaitable[None]]


@dataclass(frozen=True)
class Workflow:
    """A workflow: its catalog entry (name, words, help line) and its code; `handle`, when a
    job needs more than `execute` (review: an automatic one first reads the settings)."""

    entry: Entry
    run: WorkflowFunction
    handle: JobHandler | None = None

    @property
    def name(self) -> str:
        """Its one name: job kind, run metadata, metric label."""
        return self.entry.name


async def load_run(
    services: WorkerServices, claimed: ClaimedJob, workflow: str, config: RepoConfig
) -> Run | None:
    """The job's run, created on its first attempt; None when it has already ended."""
    job, run_log = claimed.job, services.run_log
    meta = await run_log.meta(job.run_id)
    resumed = meta is not None
    if meta is None:
        await run_log.create(
            run_id=job.run_id,
            workflow=workflow,
            repository=job.repository,
            number=job.number,
            fields={
                "author": job.author,
                "model": config.model or services.settings.model,
                # Automatic runs are marked: a newer push supersedes them, not a mention's.
                **({"trigger": job.trigger} if job.trigger else {}),
                visibility.FIELD: job.visibility,
                "title": job.title,
            },
        )
        meta = await run_log.meta(job.run_id) or {}
    if meta["status"] in TERMINAL_STATUSES:
        return None
    epoch = await run_log.begin_attempt(job.run_id)
    final = (meta["final_status"], meta["final_body"]) if "final_status" in meta else None
    gh = services.github.api(job.installation_id)
    settings = services.settings
    recorded = meta.get(checks.FIELD, checks.RESERVED)
    check = checks.RunCheck(
        gh=gh,
        run_log=run_log,
        run_id=job.run_id,
        epoch=epoch,
        repository=job.repository,
        number=job.number,
        workflow=workflow,
        url=run_url(settings.base_url, settings.link_secret, job.run_id),
        log_extra={"run_id": job.run_id, "delivery_id": job.delivery_id},
        title_seconds=services.progress.check_title_seconds,
        check_id=None if recorded == checks.RESERVED else int(recorded),
    )
    return Run(
        services=services,
        job=job,
        writer=run_log.writer(job.run_id, epoch),
        gh=gh,
        comment_id=int(meta["comment_id"]) if "comment_id" in meta else None,
        comment_url=meta.get("comment_url"),
        created_at=float(meta["created_at"]),
        attempt=claimed.times_delivered,
        config=config,
        resumed=resumed,
        epoch=epoch,
        check=check,
        final=final,
    )


async def _learnings(services: WorkerServices, run: Run) -> tuple[Learning, ...]:
    """The repository's learnings; none (one log line) while the archive's database is away."""
    try:
        return tuple(await services.learnings.list(run.job.repository))
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("learnings unreadable", extra={**run.log_extra, "error": repr(exc)[:200]})
        return ()


async def execute(services: WorkerServices, claimed: ClaimedJob, workflow: Workflow) -> None:
    """Run a workflow for a job (unless the repository turned it off); resume a started run."""
    config = await repository_config(services, claimed.job)
    if not config.commands.get(workflow.name, True):
        job = claimed.job
        body = comments.TURNED_OFF.format(author=job.author, command=workflow.name)
        await replies.post_reply(services, job, body)
        return
    if workflow.entry.pull_requests_only and not claimed.job.is_pull_request:
        job = claimed.job
        body = comments.PULL_REQUESTS_ONLY.format(author=job.author, command=workflow.name)
        await replies.post_reply(services, job, body)
        return
    if await _over_budget(services, claimed.job):
        return
    run = await load_run(services, claimed, workflow.name, config)
    if run is None:
        log.info("run already finished", extra={"run_id": claimed.job.run_id})
        return
    if config.learnings_enabled:
        run.learnings = await _learnings(services, run)
        # The page says how many of them this run follows.
        await services.run_log.update(run.job.run_id, learnings=len(run.learnings))
    if run.final is not None:
        # Its answer is decided (and maybe posted): it is published, never written again.
        log.info("run's final comment already decided; publishing it", extra=run.log_extra)
        await run.finish()
        return
    if run.comment_id is None:
        run.placeholder = asyncio.create_task(run.post_placeholder())
    if run.attempt > 1:
        await run.writer.error(
            WORKER_LOST, "worker_lost", recoverable=True, retry_count=run.attempt - 1
        )
    job = run.job
    await services.run_log.add_to_thread(job.repository, job.number, job.run_id)
    run.start_progress()
    try:
        await _until_cancelled(run, workflow.run)
    except (asyncio.CancelledError, StaleAttempt, *REDIS_AWAY):
        # No failure note: the job is tried again (or another attempt owns the run now).
        raise
    except LLMError as exc:
        log.warning("model failed", extra={**run.log_extra, "code": exc.code})
        LLM_ERRORS.labels(workflow=job.kind, code=exc.code).inc()
        await run.fail(exc.message, exc.code)
    except GitHubException as exc:
        log.warning("GitHub failed", extra={**run.log_extra, "error": repr(exc)})
        await run.fail(f"GitHub answered with an error ({exc})", "github_error")
    except NETWORK_AWAY as exc:
        error = repr(exc)[:200]
        log.warning("network error; run failed", extra={**run.log_extra, "error": error})
        await run.fail(NETWORK_FAILED.format(error=error), "network_error")
    except Exception:
        log.exception("workflow crashed", extra=run.log_extra)
        await run.fail("Livebot hit an internal error", "internal_error")
    finally:
        await run.stop_progress()
        run.check.cancel()
        if run.placeholder is not None:
            run.placeholder.cancel()
        run.writer.close()
        with contextlib.suppress(*REDIS_AWAY):
            if await run.current():
                await services.run_log.remove_from_thread(job.repository, job.number, job.run_id)


async def _over_budget(services: WorkerServices, job: Job) -> bool:
    """Whether the installation used today's token budget; if so it is told, politely."""
    budget = services.settings.daily_tokens
    if budget is None or await services.run_log.meta(job.run_id) is not None:
        return False  # no budget, or a run already started: it may finish
    if await pricing.tokens_used_today(services.redis, job.installation_id) < budget:
        return False
    body = comments.OVER_BUDGET.format(author=job.author, slug=services.slug, budget=budget)
    await replies.post_reply(services, job, body)
    return True


async def _wait_for_cancel(run: Run) -> str:
    """Who cancelled the run, once someone does."""
    while True:
        by = await run.services.run_log.cancel_requested_by(run.job.run_id)
        if by:
            return by
        await asyncio.sleep(CANCEL_POLL_SECONDS)


async def _until_cancelled(run: Run, workflow: WorkflowFunction) -> None:
    """Run the workflow unless someone cancels the run first."""
    work = asyncio.create_task(workflow(run))
    watch = asyncio.create_task(_wait_for_cancel(run))
    # Kept here: the workflow's own final edit may take the task from the run first.
    posting = run.placeholder
    waiting: set[asyncio.Future[Any]] = {work, watch} | ({posting} if posting else set())
    try:
        while True:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if posting is None or posting not in done:
                break
            if posting.exception() is not None:
                # The work goes on: its final text is posted as the reply, retried by a
                # follow-up job while GitHub fails.
                failure = posting.exception()
                away = isinstance(failure, (GitHubException, *NETWORK_AWAY))
                log.warning(
                    "placeholder could not be posted; the answer will be",
                    extra={**run.log_extra, "error": repr(failure)[:200]},
                    exc_info=None if away else failure,
                )
                run.placeholder = posting = None
                continue
            await run.ready()
            posting = None
            if work in done or watch in done:
                break
    finally:
        await cancel_and_wait([work, watch])
    if work.cancelled():
        who = watch.result()
        await run.fail(f"Cancelled {comments.cancelled_by(who)}", "cancelled", cancelled_by=who)
        return
    work.result()


async def say_delayed(services: WorkerServices, claimed: ClaimedJob) -> None:
    """Tell the placeholder's readers the answer is delayed (not failed) by an outage."""
    job = claimed.job
    meta = await services.run_log.meta(job.run_id)
    if meta is None or "comment_id" not in meta or "final_status" in meta:
        return
    settings = services.settings
    url = run_url(settings.base_url, settings.link_secret, job.run_id)
    body = comments.DELAYED.format(url=url, marker=comments.marker(job.run_id))
    try:
        gh = services.github.api(job.installation_id)
        await gh.patch(job.comment_path(int(meta["comment_id"])), data={"body": body})
    except (GitHubException, aiohttp.ClientError, TimeoutError):
        log.warning("could not say the answer is delayed", extra={"run_id": job.run_id})


async def give_up(services: WorkerServices, claimed: ClaimedJob, workflow: str) -> None:
    """End a job's run as failed after too many attempts, saying so in its placeholder."""
    run = await load_run(services, claimed, workflow, default_config())
    if run is not None:
        attempts = claimed.times_delivered - 1
        run.attempt = attempts + 1
        if run.final is not None:
            await run.finish()
            return
        await run.fail(f"Livebot gave up after {attempts} attempts", "gave_up")
