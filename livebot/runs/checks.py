"""A run's Check Run on the commit it works on: reserved once in the run's metadata (so two
attempts never create two), created in progress with the live page as its Details link, its
title kept to what the run is doing, completed with the run. GitHub failing a check is one
log line: the run goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from gidgethub import GitHubException
from redis.exceptions import RedisError

from livebot.github import check_runs
from livebot.github.check_runs import Annotation, RestClient
from livebot.runs.log import RunLog, StaleAttempt

log = logging.getLogger(__name__)

# The run's metadata field: `reserved` while the attempt that reserved it creates it, then its id.
FIELD: Final = "check_run"
RESERVED: Final = "reserved"
# What keeps a check from being made or updated; never a reason to fail the run.
TROUBLE: Final = (GitHubException, aiohttp.ClientError, TimeoutError, OSError, RedisError)
DONE_TITLE: Final = "Done"
DONE: Final = "[The answer]({comment}) · [the run]({url})."
FAILED_TITLE: Final = "Stopped: the run failed"
FAILED: Final = "{reason}. [The run]({url}) has what it wrote."
CANCELLED_TITLE: Final = "Cancelled"
SUPERSEDED_TITLE: Final = "Superseded by a newer review"


@dataclass(frozen=True)
class Outcome:
    """How the check ends: its conclusion, title, summary and annotations."""

    conclusion: str
    title: str
    summary: str
    annotations: tuple[Annotation, ...] = ()


def ending(status: str, *, url: str, comment: str | None, reason: str, newer: str) -> Outcome:
    """The outcome of a run that says nothing more: `neutral` when it succeeded, else
    `cancelled` (never `failure`: Livebot failing is not the code failing) with why."""
    if status == "succeeded":
        return Outcome(check_runs.NEUTRAL, DONE_TITLE, DONE.format(comment=comment or url, url=url))
    if newer:
        summary = check_runs.SUPERSEDED.format(url=newer)
        return Outcome(check_runs.CANCELLED, SUPERSEDED_TITLE, summary)
    title = CANCELLED_TITLE if status == "cancelled" else FAILED_TITLE
    summary = FAILED.format(reason=(reason or title).rstrip("."), url=url)
    return Outcome(check_runs.CANCELLED, title, summary)


@dataclass
class RunCheck:
    """One run's check: made by `open`, freshened while it runs, ended by `close`."""

    gh: RestClient
    run_log: RunLog
    run_id: str
    epoch: int
    repository: str
    number: int
    workflow: str
    url: str
    log_extra: Mapping[str, Any]
    title_seconds: float
    # The check's id, when this or an earlier attempt recorded it.
    check_id: int | None = None
    # Set by the workflow before it succeeds (a review's findings); else `ending` decides.
    outcome: Outcome | None = None
    _creating: asyncio.Task[None] | None = None
    _freshening: asyncio.Task[None] | None = None

    def open(self, head_sha: str, activity: Callable[[], str]) -> None:
        """Make the check on `head_sha` (unless an attempt did) and keep its title fresh,
        both in the background: the run does not wait for GitHub."""
        self._creating = asyncio.create_task(self._create(head_sha, activity()))
        self._freshening = asyncio.create_task(self._freshen(activity))

    async def _create(self, head_sha: str, title: str) -> None:
        try:
            if self.check_id is not None or not await self.run_log.set_once_fenced(
                self.run_id, self.epoch, FIELD, RESERVED
            ):
                return  # an earlier attempt made it (or is making it): that one is updated
            self.check_id = await check_runs.start(
                self.gh,
                self.repository,
                head_sha=head_sha,
                workflow=self.workflow,
                details_url=self.url,
                external_id=check_runs.external_id(self.workflow, self.number, self.run_id),
                title=title,
            )
            # Not fenced: whichever attempt ends the run must find the check that exists.
            await self.run_log.update(self.run_id, **{FIELD: self.check_id})
        except (*TROUBLE, StaleAttempt) as exc:
            self._warn("check run not created", exc)

    async def _freshen(self, activity: Callable[[], str]) -> None:
        shown = ""
        while True:
            await asyncio.sleep(self.title_seconds)
            title = activity()
            if self.check_id is None or title == shown:
                continue
            shown = title
            try:
                await check_runs.show(
                    self.gh, self.repository, self.check_id, title=title, details_url=self.url
                )
            except TROUBLE as exc:
                self._warn("check run title not updated", exc)

    def cancel(self) -> None:
        """Stop its background work (the attempt is over, or stale)."""
        for task in (self._creating, self._freshening):
            if task is not None:
                task.cancel()

    async def close(self, outcome: Outcome) -> None:
        """Complete the check with `outcome`, once the creation under way (if any) is done."""
        if self._freshening is not None:
            self._freshening.cancel()
            await asyncio.gather(self._freshening, return_exceptions=True)
        if self._creating is not None:
            # It logs its own failures; bounded by the client's timeouts.
            await self._creating
        if self._creating is None and self.check_id is None:
            return  # this run has no check
        try:
            if self.check_id is None:
                meta = await self.run_log.meta(self.run_id) or {}
                recorded = meta.get(FIELD, RESERVED)
                if recorded == RESERVED:
                    return  # never made (or not found): nothing to complete
                self.check_id = int(recorded)
            await check_runs.complete(
                self.gh,
                self.repository,
                self.check_id,
                conclusion=outcome.conclusion,
                title=outcome.title,
                summary=outcome.summary,
                annotations=outcome.annotations,
            )
        except TROUBLE as exc:
            self._warn("check run not completed", exc)

    def _warn(self, message: str, exc: BaseException) -> None:
        log.warning(message, extra={**self.log_extra, "error": repr(exc)[:200]})
