"""Every feature's webhook router, composed in one place, and the one way a delivery is taken in."""

from __future__ import annotations

from gidgethub import routing, sansio

from livebot.intake import auto_review, checks, feedback, mentions
from livebot.intake.delivery import Intake
from livebot.queue.jobs import Job, JobQueue

router = routing.Router(mentions.router, auto_review.router, checks.router, feedback.router)


async def take_in(
    event: sansio.Event, slug: str, queue: JobQueue, app_id: int | None
) -> tuple[Job | None, bool]:
    """Route one delivery and queue the job it starts, if any: (the job, whether it was queued
    now; False when its delivery id was queued before). PayloadError for a malformed payload."""
    intake = Intake(slug=slug, delivery_id=str(event.delivery_id), app_id=app_id)
    await router.dispatch(event, intake)
    queued = intake.job is not None and await queue.enqueue(intake.job)
    return intake.job, queued
