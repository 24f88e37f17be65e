"""Re-reviews that remember the conversation: earlier findings briefed to the model, settled ones
never raised again, verified fixes resolved in Livebot's own quiet threads, one line for the
rest; in-process against real Redis, the fake GitHub (GraphQL threads) and a scripted model."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from redis.asyncio import Redis

from livebot.queue.jobs import JobQueue
from livebot.runs.log import Event
from livebot.worker_services import WorkerServices
from livebot.workflows.review.findings import FINGERPRINT_PATTERN, Finding
from tests.fake_github import FakeGitHub
from tests.fake_github.graphql import schema
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import OWNER, REPO
from tests.test_review import PR, run_review
from tests.workers import payloads

PATH = "app/shop.py"
LINES = "".join(f"value_{n} = {n}\n" for n in range(1, 41))
# The lines each earlier finding sits on, and what happens to it before the re-review.
EARLIER = {
    "Price can go negative": 10,  # fixed, and the model verified it
    "Discount rounds down": 20,  # a person said it is intended: settled
    "Cache never expires": 25,  # fixed, but a person wrote in the thread
    "Unchecked index": 30,  # a person disagreed: disputed
    "Race on the counter": 34,  # changed, but the model did not verify a fix
    "Missing test for refunds": 38,  # open, untouched
}
FIXED_LINES = (10, 25, 34)
NEW_PROBLEM = {
    "path": PATH,
    "line": 5,
    "severity": "major",
    "title": "Tax applied twice",
    "body": "`value_5` adds the tax again.",
}


@pytest.fixture
def worker_services(worker_services: WorkerServices) -> WorkerServices:
    """The shared services with a claim that outlasts a loaded machine's pauses; GitHub's
    GraphQL schema built before the runs (seconds of the fake's event loop, once a process)."""
    schema()
    settings = dataclasses.replace(worker_services.settings, claim_timeout=30.0)
    return dataclasses.replace(worker_services, settings=settings)


def finding(title: str, line: int | None = None) -> dict[str, Any]:
    """A finding the model submits."""
    return {
        "path": PATH,
        "line": line or EARLIER[title],
        "severity": "major",
        "title": title,
        "body": f"The details of {title.lower()}, written out in full.",
    }


def fingerprint(title: str) -> str:
    return Finding(PATH, 1, "major", title, "").fingerprint


def submit(*findings: dict[str, Any], resolved: list[str] | None = None) -> Reply:
    arguments: dict[str, Any] = {"summary": "Reviewed.", "findings": list(findings)}
    if resolved is not None:
        arguments["resolved"] = resolved
    return Reply.calls(ToolCall("submit_review", arguments))


async def with_history(
    fake: FakeGitHub, model: FakeOpenAI, services: WorkerServices, queue: JobQueue, redis: Redis
) -> None:
    """A first review raising the six findings, people's answers, then a push that fixes three
    of them and brings a new problem."""
    fake.push(OWNER, REPO, "feature", {PATH: LINES})
    fake.add_pr(OWNER, REPO, "feature", number=PR)
    model.script(submit(*(finding(title) for title in EARLIER)))
    await run_review(services, queue, redis)
    ids = {
        title: next(c["id"] for c in fake.review_comments_on(OWNER, REPO, PR) if title in c["body"])
        for title in EARLIER
    }
    answers = {
        "Discount rounds down": "This is intended.",
        "Cache never expires": "Good catch, fixing it.",
        "Unchecked index": "No: the caller checks it first.",
    }
    for title, text in answers.items():
        fake.add_review_comment(
            OWNER, REPO, PR, PATH, EARLIER[title], text, "octocat", in_reply_to=ids[title]
        )
    changed = LINES
    for line in (*FIXED_LINES, 5):
        changed = changed.replace(f"value_{line} = {line}\n", f"value_{line} = max(0, {line})\n")
    fake.push(OWNER, REPO, "feature", {PATH: changed})


def thread_of(fake: FakeGitHub, title: str) -> int:
    """The id of the bot's comment that starts the finding's thread."""
    return next(
        int(c["id"])
        for c in fake.review_comments_on(OWNER, REPO, PR)
        if title in c["body"] and "in_reply_to_id" not in c
    )


def review_result(events: list[Event]) -> dict[str, Any]:
    [result] = [r for r in payloads(events, "tool_result") if r["name"] == "submit_review"]
    return result


# Every earlier finding is re-raised (one on another line), with the new problem; the model
# verifies three fixes (one in a thread a person wrote in), an untouched one, a settled one and
# a fingerprint it made up.
RERAISED = [
    NEW_PROBLEM,
    finding("Discount rounds down", line=22),
    finding("Missing test for refunds"),
    finding("Unchecked index"),
]
VERIFIED = [
    fingerprint("Price can go negative"),
    fingerprint("Cache never expires"),
    fingerprint("Missing test for refunds"),
    fingerprint("Discount rounds down"),
    "0123456789abcdef",
]


async def test_a_re_review_posts_only_the_new_problem_and_resolves_only_the_verified_fix(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    await with_history(fake_github, fake_openai, worker_services, queue, redis_client)
    fake_openai.script(submit(*RERAISED, resolved=VERIFIED))
    _, events = await run_review(worker_services, queue, redis_client)

    assert events[-1].payload()["status"] == "succeeded"
    _, second = fake_github.reviews_on(OWNER, REPO, PR)
    assert [(c["path"], c["line"]) for c in second["comments"]] == [(PATH, 5)]
    # Only the verified fix in Livebot's own quiet thread is resolved, by Livebot.
    fixed = thread_of(fake_github, "Price can go negative")
    assert fake_github.resolved_threads == {fixed: fake_github.bot_login}
    # One line each for the rest, not their text again.
    body = second["body"]
    assert "**Earlier findings**" in body
    assert "- resolved (fixed): [Price can go negative](https://github.com/" in body
    for state, title in (
        ("settled", "Discount rounds down"),
        ("disputed", "Cache never expires"),
        ("disputed", "Unchecked index"),
        ("open", "Race on the counter"),
        ("open", "Missing test for refunds"),
    ):
        assert f"- {state}: [{title}](https://github.com/" in body
    assert "written out in full" not in body
    assert {m for m in FINGERPRINT_PATTERN.findall(body)} == set()

    # The model was briefed on each earlier finding with its state and the replies.
    system = fake_openai.requests[1]["messages"][0]["content"]
    assert "## Earlier findings on this pull request" in system
    assert f"`{fingerprint('Discount rounds down')}` (settled)" in system
    assert "No: the caller checks it first." in system
    assert (
        "resolved" in fake_openai.requests[1]["tools"][-1]["function"]["parameters"]["properties"]
    )
    # What it said back, and what the page lists.
    result = review_result(events)
    assert "Resolved 1 fixed thread." in result["summary"]
    assert f"`{fingerprint('Discount rounds down')}`" in result["summary"]
    assert "`0123456789abcdef`" in result["summary"]
    assert result["resolved"] == [fingerprint("Price can go negative")]
    assert result["not_resolved"] == []
    states = {e["title"]: e["state"] for e in result["earlier"]}
    assert states == {
        "Price can go negative": "open",
        "Discount rounds down": "settled",
        "Cache never expires": "disputed",
        "Unchecked index": "disputed",
        "Race on the counter": "open",
        "Missing test for refunds": "open",
    }
    assert all(e["url"].startswith("https://github.com/") for e in result["earlier"])


async def test_resolve_fixed_false_resolves_nothing(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "review:\n  resolve_fixed: false\n")
    await with_history(fake_github, fake_openai, worker_services, queue, redis_client)
    fake_openai.script(submit(NEW_PROBLEM, resolved=VERIFIED))
    _, events = await run_review(worker_services, queue, redis_client)

    assert events[-1].payload()["status"] == "succeeded"
    _, second = fake_github.reviews_on(OWNER, REPO, PR)
    assert [c["line"] for c in second["comments"]] == [5]
    assert fake_github.resolved_threads == {}
    assert "- open: [Price can go negative](" in second["body"]
    assert review_result(events)["resolved"] == []


async def test_a_refused_resolve_is_listed_as_fixed_not_resolved(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    await with_history(fake_github, fake_openai, worker_services, queue, redis_client)

    def refuse_then_submit(body: dict[str, Any]) -> Reply:
        # The threads were read; from now on GitHub refuses the mutation.
        for installation in fake_github.installations.values():
            installation["permissions"]["pull_requests"] = "read"
        return submit(NEW_PROBLEM, resolved=VERIFIED)

    fake_openai.script(refuse_then_submit)
    _, events = await run_review(worker_services, queue, redis_client)

    assert events[-1].payload()["status"] == "succeeded"
    assert len(fake_github.reviews_on(OWNER, REPO, PR)) == 2
    assert fake_github.resolved_threads == {}
    result = review_result(events)
    assert result["resolved"] == []
    assert result["not_resolved"] == [fingerprint("Price can go negative")]
    assert "GitHub refused to resolve 1 fixed thread." in result["summary"]
    # The review's text says what GitHub did: fixed, not resolved.
    _, second = fake_github.reviews_on(OWNER, REPO, PR)
    assert "- fixed, not resolved (GitHub refused): [Price can go negative](" in second["body"]
    assert "resolved (fixed)" not in second["body"]


async def test_failing_graphql_still_posts_the_review(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    await with_history(fake_github, fake_openai, worker_services, queue, redis_client)
    fake_github.fail_next("POST", "/graphql", status=502, times=10)
    fake_openai.script(submit(NEW_PROBLEM, finding("Discount rounds down", line=22),
                              resolved=VERIFIED))  # fmt: skip
    _, events = await run_review(worker_services, queue, redis_client)

    assert events[-1].payload()["status"] == "succeeded"
    _, second = fake_github.reviews_on(OWNER, REPO, PR)
    # Without the threads: as before, the fingerprints of the earlier comments still hold.
    assert [c["line"] for c in second["comments"]] == [5]
    assert "Earlier findings" not in second["body"]
    assert fake_github.resolved_threads == {}
    system = fake_openai.requests[1]["messages"][0]["content"]
    assert "Earlier findings" not in system
    assert "`0123456789abcdef`" in review_result(events)["summary"]
