"""A review's Check Run, with real Redis, the fake GitHub and the fake model: in progress with the
live page as its Details link, completed neutral (or action_required) with one annotation per
finding, re-run from GitHub's Re-run button, cancelled when a newer push supersedes it, and a
GitHub refusing it never stops the review."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from gidgethub import sansio
from redis.asyncio import Redis

from livebot.github import check_runs
from livebot.intake.delivery import Intake
from livebot.intake.router import router
from livebot.queue.jobs import JobQueue
from livebot.queue.worker import WorkerPool
from livebot.runs.links import run_url
from livebot.worker_services import ProgressTiming, WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import OWNER, REPO, SLUG, _fixture, eventually
from tests.test_review import (
    CLAMP,
    DIVISION,
    EMPTY_MEAN,
    PR,
    REMOVED_LINE,
    SETTINGS_ON,
    UTIL,
    open_pr,
    review_job,
    run_review,
    submit,
)
from tests.workers import run_status, running

NAME = "Livebot review"


@pytest.fixture
def worker_services(worker_services: WorkerServices) -> WorkerServices:
    """Claims that outlast a loaded machine's pauses; the check's title freshened every 50 ms."""
    settings = dataclasses.replace(worker_services.settings, claim_timeout=30.0)
    progress = ProgressTiming(check_title_seconds=0.05)
    return dataclasses.replace(worker_services, settings=settings, progress=progress)


def page(services: WorkerServices, run_id: str) -> str:
    settings = services.settings
    return run_url(settings.base_url, settings.link_secret, run_id)


def the_check(fake: FakeGitHub) -> dict[str, Any]:
    [check] = fake.check_runs_on(OWNER, REPO)
    return check


async def test_a_review_is_a_check_in_progress_then_neutral_with_its_findings(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = open_pr(fake_github)
    slow = "Reading the change carefully. " * 20
    fake_openai.script(
        Reply.calls(ToolCall("read_file", {"path": "app/calc.py"}), text="Let me read."),
        submit(DIVISION, EMPTY_MEAN, REMOVED_LINE, text=slow, chunk_size=4, delay=0.01),
    )
    job = review_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):

        async def showing_the_read() -> bool:
            checks = fake_github.check_runs_on(OWNER, REPO)
            return bool(checks) and checks[0]["output"]["title"] == "Reading app/calc.py"

        await eventually(showing_the_read, "the check to show what the run is doing")
        live = the_check(fake_github)
        assert (live["status"], live["conclusion"]) == ("in_progress", None)
        assert live["name"] == NAME and live["head_sha"] == head
        assert live["details_url"] == page(worker_services, job.run_id)
        assert live["external_id"] == f"review:{PR}:{job.run_id}"
        assert [p["number"] for p in live["pull_requests"]] == [PR]
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"),
            "the review to end",
            seconds=30,
        )

    done = the_check(fake_github)
    [review] = fake_github.reviews_on(OWNER, REPO, PR)
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    assert done["output"]["title"] == "3 findings: 1 blocker, 1 major, 1 minor"
    assert f"[The review]({review['html_url']})" in done["output"]["summary"]
    assert "Two real problems." in done["output"]["summary"]
    annotations = fake_github.annotations_of(done["id"])
    # The removed (old-file) line has no place on the head commit: two of three.
    assert [
        (a["path"], a["start_line"], a["end_line"], a["annotation_level"]) for a in annotations
    ] == [
        ("app/calc.py", 14, 15, "failure"),
        ("app/calc.py", 10, 10, "warning"),
    ]
    assert annotations[0]["title"] == "Blocker: An empty list crashes mean()"
    assert annotations[1]["message"] == DIVISION["body"]
    meta = await worker_services.run_log.meta(job.run_id) or {}
    assert meta["check_run"] == str(done["id"])


async def test_a_blocker_with_review_blocking_requires_action(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "review:\n  blocking: true\n")
    open_pr(fake_github)
    fake_openai.script(submit(EMPTY_MEAN, DIVISION))
    _, events = await run_review(worker_services, queue, redis_client)
    assert events[-1].payload()["status"] == "succeeded"
    check = the_check(fake_github)
    assert check["conclusion"] == "action_required"
    assert "`review.blocking` is on" in check["output"]["summary"]
    assert len(fake_github.annotations_of(check["id"])) == 2


async def test_without_a_blocker_review_blocking_stays_neutral(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "review:\n  blocking: true\n")
    open_pr(fake_github)
    fake_openai.script(submit(DIVISION))
    await run_review(worker_services, queue, redis_client)
    assert the_check(fake_github)["conclusion"] == "neutral"


def rerequested(fake: FakeGitHub, check: dict[str, Any], *, app_id: int) -> dict[str, Any]:
    """GitHub's real `check_run` `rerequested` payload, for `check` in the test repository."""
    data = copy.deepcopy(_fixture("check_run", "rerequested.with-organization.payload.json"))
    data["installation"] = {"id": 4242}
    data["repository"].update(full_name=f"{OWNER}/{REPO}", name=REPO)
    data["check_run"].update(
        id=check["id"], head_sha=check["head_sha"], external_id=check["external_id"]
    )
    data["check_run"]["app"]["id"] = app_id
    return data


async def test_re_run_on_a_review_check_starts_a_new_full_review(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    open_pr(fake_github)
    fake_openai.script(submit(DIVISION), submit(CLAMP, summary="Reviewed again."))
    await run_review(worker_services, queue, redis_client)
    check = the_check(fake_github)
    ours = fake_github.app_id

    # Another app's check starts nothing.
    intake = Intake(slug=SLUG, delivery_id="other-app", app_id=ours)
    data = rerequested(fake_github, check, app_id=ours + 1)
    await router.dispatch(sansio.Event(data, event="check_run", delivery_id="x"), intake)
    assert intake.job is None

    data = rerequested(fake_github, check, app_id=ours)
    intake = Intake(slug=SLUG, delivery_id="rerun-1", app_id=ours)
    await router.dispatch(sansio.Event(data, event="check_run", delivery_id="rerun-1"), intake)
    job = intake.job
    assert job is not None
    assert (job.kind, job.number, job.trigger, job.author) == (
        "review",
        PR,
        "rerequested",
        "octocat",
    )
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"), "the re-run's review"
        )
    # A whole review, though nothing was pushed since the first (an incremental one would
    # have found nothing new to review).
    assert len(fake_github.reviews_on(OWNER, REPO, PR)) == 2
    old, new = fake_github.check_runs_on(OWNER, REPO)
    assert old["id"] == check["id"] and new["external_id"] == f"review:{PR}:{job.run_id}"
    assert new["conclusion"] == "neutral" and "Reviewed again." in new["output"]["summary"]


async def test_a_bot_pressing_re_run_starts_nothing(fake_github: FakeGitHub) -> None:
    check = {"id": 9, "head_sha": "0" * 40, "external_id": f"review:{PR}:abc"}
    data = rerequested(fake_github, check, app_id=fake_github.app_id)
    data["sender"] = {**data["sender"], "type": "Bot", "login": "dependabot[bot]"}
    intake = Intake(slug=SLUG, delivery_id="bot", app_id=fake_github.app_id)
    await router.dispatch(sansio.Event(data, event="check_run", delivery_id="bot"), intake)
    assert intake.job is None


async def test_a_superseded_review_s_check_is_cancelled_with_the_newer_run_s_link(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", SETTINGS_ON)
    old_head = open_pr(fake_github)

    def model(body: dict[str, Any]) -> Reply:
        data = json.loads(body["messages"][1]["content"])
        if "synchronize" in data["request"]:
            return submit(CLAMP, summary="After the push.")
        return Reply(text="Still reading. " * 200, chunk_size=4, delay=0.02)

    fake_openai.responder = model
    automatic = review_job(trigger="opened", author="opener")
    pushed = review_job(trigger="synchronize", author="pusher")
    run_log = worker_services.run_log
    workers = WorkerPool(worker_services, JobQueue(redis_client), concurrency=2)
    workers.start()
    try:
        await queue.enqueue(automatic)
        await eventually(lambda: fake_github.check_runs_on(OWNER, REPO), "the first check")
        new_head = fake_github.push(OWNER, REPO, "feature", {"app/util.py": UTIL})
        await queue.enqueue(pushed)
        await eventually(run_status(run_log, pushed.run_id, "succeeded"), "the new review")
        await eventually(run_status(run_log, automatic.run_id, "cancelled"), "the old one")
    finally:
        await workers.stop()
    old, new = fake_github.check_runs_on(OWNER, REPO)
    assert (old["head_sha"], new["head_sha"]) == (old_head, new_head)
    assert old["conclusion"] == "cancelled"
    assert old["output"]["summary"] == check_runs.SUPERSEDED.format(
        url=page(worker_services, pushed.run_id)
    )
    assert new["conclusion"] == "neutral"


async def test_github_refusing_the_check_never_stops_the_review(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_pr(fake_github)
    fake_openai.script(submit(DIVISION))
    fake_github.fail_next("POST", "/repos/*/check-runs", status=500)
    run_id, events = await run_review(worker_services, queue, redis_client)
    assert events[-1].payload()["status"] == "succeeded"
    assert len(fake_github.reviews_on(OWNER, REPO, PR)) == 1
    assert fake_github.check_runs_on(OWNER, REPO) == []
    assert [r.message for r in caplog.records if "check run" in r.message] == [
        "check run not created"
    ]
    meta = await worker_services.run_log.meta(run_id) or {}
    assert meta["check_run"] == "reserved"


async def test_a_failed_review_completes_its_check_cancelled_with_the_cause(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    open_pr(fake_github)
    fake_openai.script(Reply(status=400, error_message="model exploded"))
    run_id, events = await run_review(worker_services, queue, redis_client)
    assert events[-1].payload()["status"] == "failed"
    check = the_check(fake_github)
    assert check["conclusion"] == "cancelled"
    assert "model exploded" in check["output"]["summary"]
    assert page(worker_services, run_id) in check["output"]["summary"]
