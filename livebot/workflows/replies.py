"""Jobs that need no model: help, a polite refusal, cancel, commands not built yet."""

from __future__ import annotations

from livebot.github import comments
from livebot.queue.jobs import ClaimedJob, Job
from livebot.runs.log import RunNotFound
from livebot.worker_services import WorkerServices


async def post_reply(services: WorkerServices, job: Job, body: str) -> None:
    """Post one comment in the job's thread."""
    await services.github.api(job.installation_id).post(job.reply_path, data=job.reply_data(body))


async def request_cancel(services: WorkerServices, claimed: ClaimedJob) -> None:
    """Ask every run active in the thread to stop; say so when there is none."""
    job, run_log = claimed.job, services.run_log
    asked = 0
    for run_id in await run_log.runs_in_thread(job.repository, job.number):
        try:
            await run_log.request_cancel(run_id, job.author)
            asked += 1
        except RunNotFound:
            await run_log.remove_from_thread(job.repository, job.number, run_id)
    if not asked:
        body = comments.NOTHING_TO_CANCEL.format(author=job.author)
        await post_reply(services, job, body)


async def refuse(services: WorkerServices, claimed: ClaimedJob) -> None:
    """The polite reply to someone the repository does not trust with the app."""
    job = claimed.job
    await post_reply(services, job, comments.REFUSAL.format(author=job.author, slug=services.slug))
