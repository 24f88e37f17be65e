"""Workers in-process against real Redis and the fakes: claims, hand-back, dead letters, cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import pytest
from redis.asyncio import Redis

from livebot.github import comments
from livebot.queue.jobs import JobQueue
from livebot.queue.registry import COMMAND_ROWS, WORKFLOWS
from livebot.runs import pricing
from livebot.runs.log import RunLog
from livebot.store.keys import DEAD_LETTERS, JOB_GROUP, JOB_STREAM, range_entries
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.support import ISSUE, OWNER, REPO, SLUG, eventually
from tests.workers import make_job, run_status, running


async def test_queue_hands_out_claims_and_reclaims(queue: JobQueue, redis_client: Redis) -> None:
    await queue.ensure_group()
    assert await queue.enqueue(make_job(delivery_id="a"))
    assert not await queue.enqueue(make_job(delivery_id="a"))
    [taken] = await queue.take("one", 10, 100)
    assert await queue.take("two", 10, 100) == []
    await asyncio.sleep(0.15)
    await queue.renew("one", [taken.message_id])
    assert await queue.claim_abandoned("two", 100, 10) == []
    await asyncio.sleep(0.15)
    [reclaimed] = await queue.claim_abandoned("two", 100, 10)
    assert (reclaimed.job, reclaimed.times_delivered) == (taken.job, 2)
    await queue.ack(reclaimed.message_id)
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0


async def test_worker_answers_and_acks(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="It crashes because of X."))
    job = make_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"), "the run to succeed"
        )
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith("It crashes because of X.")
    assert comments.marker(job.run_id) in comment["body"]
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0


async def test_shutdown_hands_back_unfinished_jobs_at_once(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    text = "".join(f"word{i} " for i in range(300))
    fake_openai.script(Reply(text=text, chunk_size=6, delay=0.01), Reply(text=text))
    job = make_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(lambda: _has_text(worker_services.run_log, job.run_id), "the first text")
    assert await _status(worker_services.run_log, job.run_id) == "running"
    # Handed back, not left pending: a new worker starts it without waiting for a claim timeout.
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"), "the run to succeed"
        )
    assert await worker_services.run_log.text(job.run_id) == text
    bot_comments = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert len(bot_comments) == 1 and bot_comments[0]["body"].startswith(text)


async def test_a_job_that_keeps_failing_is_dead_lettered_and_says_so(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
) -> None:
    job = make_job()
    await queue.enqueue(job)
    # Workers that died with it, one after another, as many times as it may be tried.
    [taken] = await queue.take("crashed-1", 1, 100)
    for _ in range(worker_services.settings.max_attempts):
        await redis_client.xclaim(JOB_STREAM, JOB_GROUP, "crashed-2", 0, [taken.message_id])
    async with running(worker_services, redis_client):
        await eventually(lambda: _dead_letters(redis_client), "a dead letter", seconds=15)
    assert await _status(worker_services.run_log, job.run_id) == "failed"
    events = await worker_services.run_log.history(job.run_id)
    assert events[-1].event == "complete" and events[-2].payload()["code"] == "gave_up"
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0


async def test_cancel_stops_the_running_answer(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="slow " * 500, delay=0.02))
    job = make_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(lambda: _has_text(worker_services.run_log, job.run_id), "the first text")
        await queue.enqueue(make_job("cancel", author="maintainer"))
        await eventually(
            run_status(worker_services.run_log, job.run_id, "cancelled"), "the run to be cancelled"
        )
    [placeholder] = fake_github.comments_on(OWNER, REPO, ISSUE)
    # What was written before the cancel stays, above the note.
    partial = await worker_services.run_log.text(job.run_id)
    assert partial and placeholder["body"].startswith(partial + "\n\n---\n\n")
    assert comments.CANCELLED.split("{")[0] in placeholder["body"]
    assert "@maintainer" in placeholder["body"]
    assert (await worker_services.run_log.history(job.run_id))[-1].payload()[
        "status"
    ] == "cancelled"


@pytest.mark.parametrize(
    ("kind", "template"),
    [
        ("refuse", comments.REFUSAL),
        ("cancel", comments.NOTHING_TO_CANCEL),
    ],
)
async def test_short_replies_need_no_model(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    kind: str,
    template: str,
) -> None:
    await queue.enqueue(make_job(kind))
    async with running(worker_services, redis_client):
        await eventually(lambda: _comment_count(fake_github, 1), "the comment")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"] == template.format(author="octocat", slug=SLUG, command=kind)
    assert fake_openai.requests == []


async def test_help_lists_exactly_the_commands_that_work(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    await queue.enqueue(make_job("help"))
    async with running(worker_services, redis_client):
        await eventually(lambda: _comment_count(fake_github, 1), "the help reply")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    body = comment["body"]
    assert body.startswith(comments.HELP_INTRO.format(author="octocat", slug=SLUG))
    for workflow in WORKFLOWS:
        assert workflow.entry.usage.format(slug=SLUG) in body
    for usage, _ in COMMAND_ROWS:
        assert usage.format(slug=SLUG) in body


async def _status(run_log: RunLog, run_id: str) -> str | None:
    meta = await run_log.meta(run_id)
    return meta["status"] if meta else None


async def _has_text(run_log: RunLog, run_id: str) -> bool:
    return bool(await run_log.text(run_id))


async def _dead_letters(redis: Redis) -> bool:
    return await redis.xlen(DEAD_LETTERS) == 1


async def _comment_count(fake: FakeGitHub, count: int) -> bool:
    return len(fake.comments_on(OWNER, REPO, ISSUE)) == count


async def test_an_unreadable_job_is_set_aside_and_the_rest_run(
    queue: JobQueue, redis_client: Redis
) -> None:
    await redis_client.xadd(JOB_STREAM, {"job": "{not json"})
    good = make_job(delivery_id="good")
    await queue.enqueue(good)
    assert [d.job for d in await queue.take("one", 10, 100)] == [good]
    [(_, fields)] = range_entries(await redis_client.xrange(DEAD_LETTERS))
    assert fields["reason"] == "unreadable job"


async def test_a_failed_placeholder_post_is_retried_without_duplicates(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="Answer."))
    fake_github.fail_next("POST", "/repos/*/issues/1/comments", status=502)
    job = make_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"), "the run to succeed"
        )
    assert len(fake_github.requests_to("POST", "/repos/*/issues/1/comments")) == 2
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith("Answer.")


async def test_help_leaves_out_what_the_repository_turned_off(
    worker_services: WorkerServices, queue: JobQueue, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "commands:\n  answer: false\n")
    await queue.enqueue(make_job("help"))
    async with running(worker_services, redis_client):
        await eventually(lambda: _comment_count(fake_github, 1), "the help reply")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert "<question or request>" not in comment["body"]
    assert comment["body"].endswith(comments.HELP_TURNED_OFF.format(commands="`answer`"))


async def test_a_placeholder_that_cannot_be_posted_becomes_the_answer_later(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="The answer, written while GitHub was down."))
    svc = dataclasses.replace(
        worker_services,
        settings=dataclasses.replace(worker_services.settings, finish_edit_backoff=0.05),
    )
    fake_github.fail_next("POST", "/repos/*/issues/1/comments", status=502, times=7)
    job = make_job()
    await queue.enqueue(job)
    async with running(svc, redis_client):
        await eventually(run_status(svc.run_log, job.run_id, "succeeded"), "the run to succeed")
        # The run is over on the page; its reply lands once GitHub takes posts again.
        await eventually(lambda: fake_github.comments_on(OWNER, REPO, ISSUE), "the reply")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith("The answer, written while GitHub was down.")
    assert comments.marker(job.run_id) in comment["body"]
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0


async def test_a_takeover_after_the_final_edit_publishes_it_without_the_model(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    # A worker decided and posted the answer, then died before it could end the run.
    job = make_job()
    run_log = worker_services.run_log
    await run_log.create(run_id=job.run_id, workflow="answer")
    epoch = await run_log.begin_attempt(job.run_id)
    await run_log.append(job.run_id, "token", {"text": "The answer."}, epoch=epoch)
    body = f"The answer.\n\n{comments.marker(job.run_id)}"
    posted = fake_github.add_comment(OWNER, REPO, ISSUE, body, user=fake_github.bot_login)
    await run_log.update(job.run_id, comment_id=posted["id"], comment_url=posted["html_url"])
    await run_log.record_final(job.run_id, epoch, "succeeded", body)
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(run_status(run_log, job.run_id, "succeeded"), "the run to succeed")
    assert fake_openai.requests == []
    assert await run_log.text(job.run_id) == "The answer."
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"] == body
    assert (await run_log.history(job.run_id))[-1].payload()["comment_url"] == posted["html_url"]


async def test_the_final_edit_outlasts_a_long_github_outage(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text="An answer that must land."))
    svc = dataclasses.replace(
        worker_services,
        settings=dataclasses.replace(worker_services.settings, finish_edit_backoff=0.05),
    )
    # Every edit fails (the client's own retries included) until the outage ends.
    fake_github.fail_next("PATCH", "/repos/*/issues/comments/*", status=502, times=1000)
    job = make_job()
    await queue.enqueue(job)
    async with running(svc, redis_client):
        await eventually(run_status(svc.run_log, job.run_id, "succeeded"), "the run to succeed")
        patches = "/repos/*/issues/comments/*"
        await eventually(lambda: len(fake_github.requests_to("PATCH", patches)) > 8, "retries")
        [placeholder] = fake_github.comments_on(OWNER, REPO, ISSUE)
        assert placeholder["body"].startswith("👀 Working on it")
        fake_github.clear_faults()  # GitHub is back
        await eventually(
            lambda: fake_github.comments_on(OWNER, REPO, ISSUE)[0]["body"].startswith(
                "An answer that must land."
            ),
            "the answer on GitHub",
        )
    assert (await redis_client.xpending(JOB_STREAM, JOB_GROUP))["pending"] == 0


async def test_renewal_keeps_only_claims_still_held_and_never_reclaims_a_running_job(
    queue: JobQueue, redis_client: Redis
) -> None:
    await queue.enqueue(make_job(delivery_id="a"))
    [taken] = await queue.take("one", 10, 100)
    await asyncio.sleep(0.15)
    # "one" is still running it, only late to renew: it does not take its own job again.
    assert await queue.claim_abandoned("one", 100, 10, frozenset({taken.message_id})) == []
    await asyncio.sleep(0.15)
    [stolen] = await queue.claim_abandoned("two", 100, 10)
    # "one" wakes up: its renewal says the job is gone and leaves it with "two".
    assert await queue.renew("one", [taken.message_id]) == [taken.message_id]
    [row] = await redis_client.xpending_range(JOB_STREAM, JOB_GROUP, "-", "+", 10)
    assert row["consumer"] == "two"
    assert not await queue.requeue(taken, "one")  # nor can it hand back what is not its own
    assert await queue.renew("two", [stolen.message_id]) == []


async def test_a_new_process_takes_over_what_a_dead_one_on_this_host_left_at_once(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    gone = await asyncio.create_subprocess_exec("true")
    await gone.wait()
    dead = f"{socket.gethostname()}-{gone.pid}"
    fake_openai.script(Reply(text="Finished by the new process."))
    job = make_job()
    await queue.enqueue(job)
    await queue.take(dead, 1, 100)
    await redis_client.xgroup_createconsumer(JOB_STREAM, JOB_GROUP, f"{socket.gethostname()}-1")
    svc = dataclasses.replace(
        worker_services,
        settings=dataclasses.replace(worker_services.settings, claim_timeout=3600.0),
    )
    async with running(svc, redis_client):
        await eventually(run_status(svc.run_log, job.run_id, "succeeded"), "the run to succeed")
    names = {c["name"] for c in await redis_client.xinfo_consumers(JOB_STREAM, JOB_GROUP)}
    assert dead not in names  # the dead leave the group
    assert f"{socket.gethostname()}-1" in names  # a live process (pid 1) keeps its place


async def test_a_repeated_hand_back_or_count_does_nothing_twice(
    queue: JobQueue, redis_client: Redis
) -> None:
    """Retries after a lost reply: one job handed back stays one job; tokens count once."""
    await queue.ensure_group()
    await queue.enqueue(make_job(delivery_id="once"))
    [taken] = await queue.take("one", 10, 100)
    assert await queue.requeue(taken)
    assert not await queue.requeue(taken)
    assert await redis_client.xlen(JOB_STREAM) == 1
    for _ in range(2):
        await pricing.add_tokens(redis_client, 7, 500, attempt="run:1")
    await pricing.add_tokens(redis_client, 7, 20, attempt="run:2")
    assert await pricing.tokens_used_today(redis_client, 7) == 520
