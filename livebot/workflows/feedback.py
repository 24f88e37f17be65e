"""Review feedback: after each review of a pull request and when it closes, what people made of
Livebot's findings (👍/👎, threads resolved after a change, findings settled as intended) is
read from the review threads and kept in the archive, for the usage page. No model, no comment;
without the archive (`DATABASE_URL` unset) the job does nothing."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Final

from gidgethub import GraphQLException

from livebot.archive.feedback import FindingFeedback, Outcome, ReviewFeedback
from livebot.github.review_threads import read_threads
from livebot.queue.jobs import ClaimedJob, Job
from livebot.worker_services import WorkerServices
from livebot.workflows.catalog import FEEDBACK
from livebot.workflows.review.threads import EarlierFinding, State, earlier_findings

log = logging.getLogger(__name__)

DELIVERY_SUFFIX: Final = ":feedback"


def outcome(finding: EarlierFinding) -> Outcome:
    """Accepted or rejected when people said so, else merely posted.

    Reactions on the finding's comment speak first (more 👍 than 👎, or the reverse); then the
    thread: resolved by Livebot (it resolves only fixes it verified) or by a person once the
    change made it outdated is accepted; settled otherwise (resolved untouched, or a reply
    saying it is intended) is rejected.
    """
    first = finding.thread.comments[0]
    if first.thumbs_up != first.thumbs_down:
        return "accepted" if first.thumbs_up > first.thumbs_down else "rejected"
    thread = finding.thread
    if finding.state is State.RESOLVED or (thread.is_resolved and thread.is_outdated):
        return "accepted"
    if finding.state is State.SETTLED:
        return "rejected"
    return "posted"


def _posted_at(finding: EarlierFinding, observed_at: datetime) -> datetime:
    created = finding.thread.comments[0].created_at
    try:
        return datetime.fromisoformat(created) if created else observed_at
    except ValueError:
        return observed_at


def feedback(findings: list[EarlierFinding], observed_at: datetime) -> list[FindingFeedback]:
    """One row per fingerprint (a finding posted twice counts once, as its last thread shows)."""
    rows = {
        f.fingerprint: FindingFeedback(
            f.fingerprint, f.severity, outcome(f), _posted_at(f, observed_at)
        )
        for f in findings
    }
    return list(rows.values())


async def follow_up(services: WorkerServices, job: Job) -> None:
    """Queue the feedback job of the pull request a review job was for (with the archive only)."""
    if services.archive is None or not job.is_pull_request:
        return
    delivery_id = job.delivery_id + DELIVERY_SUFFIX
    await services.queue.enqueue(
        dataclasses.replace(job, kind=FEEDBACK, command=FEEDBACK, delivery_id=delivery_id)
    )


async def collect(services: WorkerServices, claimed: ClaimedJob) -> None:
    """Read the pull request's review threads and keep what became of each of Livebot's findings."""
    job = claimed.job
    if services.archive is None:
        log.info("no archive: review feedback not kept", extra={"run_id": job.run_id})
        return
    # Taken before reading: a job that read later overwrites this one's rows, never the reverse.
    observed_at = datetime.now(UTC)
    gh = services.github.api(job.installation_id)
    try:
        threads = await read_threads(gh, job.repository, job.number)
    except GraphQLException as exc:
        # The pull request or the repository is gone, or the app may no longer read it.
        log.warning(
            "review threads not readable; no feedback kept",
            extra={"run_id": job.run_id, "error": repr(exc)[:200]},
        )
        return
    found = earlier_findings(threads, services.slug, limit=len(threads))
    rows = feedback(found, observed_at)
    await ReviewFeedback(services.archive.pool).save(job.repository, job.number, rows, observed_at)
    log.info("review feedback kept", extra={"run_id": job.run_id, "findings": len(rows)})
