"""The answer workflow with the repository's tools, its limits, its settings and review threads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from redis.asyncio import Redis

from livebot.config.repo_config import NOTES_TEMPLATE
from livebot.github import comments
from livebot.llm.conversation import LIMIT_NOTES, NOT_RUN, WRAP_UP
from livebot.queue.jobs import JobQueue
from livebot.runs.log import Event
from livebot.worker_services import ProgressTiming, WorkerServices
from livebot.workflows.catalog import REFUSE
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import ISSUE, OWNER, REPO, eventually
from tests.workers import make_job, payloads, run_status, run_to_end, running

CODE = "def load():\n    return open('settings.toml').read()\n"


def page_text(events: list[Event]) -> str:
    return "".join(p["text"] for p in payloads(events, "token"))


def final_comment(fake: FakeGitHub, number: int = ISSUE) -> dict[str, Any]:
    [comment] = fake.comments_on(OWNER, REPO, number)
    return comment


async def test_the_answer_reads_the_code_and_cites_it(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, "app/config.py", CODE)
    fake_openai.script(
        Reply.calls(
            ToolCall("search_code", {"query": "settings.toml"}),
            ToolCall("read_file", {"path": "app/config.py"}),
            text="Let me look at the code.",
        ),
        Reply(text="`app/config.py:2` opens `settings.toml` before it exists."),
    )
    _, events = await run_to_end(worker_services, queue, redis_client, {})

    calls = payloads(events, "tool_call")
    assert calls == [
        {"name": "search_code", "arguments": {"query": "settings.toml"}},
        {"name": "read_file", "arguments": {"path": "app/config.py"}},
    ]
    results = payloads(events, "tool_result")
    assert [r["summary"] for r in results] == [
        "1 matches for `settings.toml` in 1 files",
        "2 lines of app/config.py",
    ]
    # The model got each result under its call's id, and read the real file.
    second = fake_openai.requests[1]
    assert fake_openai.tools_offered(0) == ["list_files", "read_file", "search_code"]
    sent = fake_openai.tool_results(1)
    assert list(sent) == [c["id"] for c in second["messages"][2]["tool_calls"]]
    assert "    2      return open('settings.toml').read()" in list(sent.values())[1]
    # The page and the comment say the same: both turns, set apart.
    text = "Let me look at the code.\n\n`app/config.py:2` opens `settings.toml` before it exists."
    assert page_text(events) == text
    assert final_comment(fake_github)["body"].startswith(text + "\n\n<sub>")
    assert events[-1].payload()["status"] == "succeeded"
    # One tarball for the whole run, however many files the model reads.
    assert len(fake_github.requests_to("GET", "*/tarball/*")) == 1


async def test_a_failing_tool_answers_the_model_and_the_run_goes_on(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(
        Reply.calls(
            ToolCall("read_file", {"path": "../../etc/passwd"}),
            ToolCall("read_file", '{"path": "README.md"'),
            ToolCall("delete_everything", {}),
        ),
        Reply(text="I can only read the repository."),
    )
    _, events = await run_to_end(worker_services, queue, redis_client, {})
    summaries = [r["summary"] for r in payloads(events, "tool_result")]
    assert summaries[0].startswith("error: `../../etc/passwd` leaves the repository")
    assert summaries[1].startswith("error: the arguments are not valid JSON")
    assert summaries[2] == "error: there is no tool `delete_everything`"
    assert all(v.startswith("error: ") for v in fake_openai.tool_results(1).values())
    assert events[-1].payload()["status"] == "succeeded"


async def test_the_tool_call_limit_ends_the_run_cleanly_with_an_answer(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    services = with_settings(worker_services, max_tool_calls=2)

    def model(body: dict[str, Any]) -> Reply:
        if "tools" not in body:
            return Reply(text="From what I read, the README is empty.")
        return Reply.calls(ToolCall("list_files", {}))

    fake_openai.responder = model
    _, events = await run_to_end(services, queue, redis_client, {})
    assert len(payloads(events, "tool_call")) == 2
    last = fake_openai.requests[-1]
    assert "tools" not in last and last["messages"][-1]["content"] == WRAP_UP
    note = LIMIT_NOTES["tool_calls"].format(value=2)
    assert page_text(events).endswith(f"the README is empty.\n\n*{note}*")
    assert note in final_comment(fake_github)["body"]
    assert events[-1].payload()["status"] == "succeeded"


async def test_a_mention_in_a_review_thread_is_answered_in_that_thread(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.push(OWNER, REPO, "fix", {"app/config.py": CODE})
    pr = fake_github.add_pr(OWNER, REPO, "fix", number=7)
    first = fake_github.add_review_comment(OWNER, REPO, 7, "app/config.py", 2, "Is this safe?")
    mention = fake_github.add_review_comment(
        OWNER, REPO, 7, "app/config.py", 2, "@livebot-test why?", in_reply_to=first["id"]
    )
    fake_openai.script(Reply(text="It is not: the file may be missing."))
    _, events = await run_to_end(
        worker_services,
        queue,
        redis_client,
        {
            "number": pr["number"],
            "is_pull_request": True,
            "comment_id": mention["id"],
            "comment_kind": "review_comment",
            "in_reply_to_id": first["id"],  # the mention's own, as the webhook carries it
        },
    )
    assert events[-1].payload()["status"] == "succeeded"
    # No comment in the PR's conversation: the reply lives in the review thread.
    assert fake_github.comments_on(OWNER, REPO, 7) == []
    replies = [c for c in fake_github.review_comments_on(OWNER, REPO, 7) if c["id"] > mention["id"]]
    [reply] = replies
    assert reply["in_reply_to_id"] == first["id"]
    assert reply["body"].startswith("It is not: the file may be missing.")
    data = json.loads(fake_openai.requests[0]["messages"][1]["content"])
    thread = data["review_thread"]
    assert (thread["path"], thread["line"]) == ("app/config.py", 2)
    assert "open('settings.toml')" in thread["diff_hunk"]
    assert [c["body"] for c in thread["comments"]] == ["Is this safe?", "@livebot-test why?"]


async def test_a_broken_settings_file_gives_defaults_and_a_note(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "limits: [unclosed\n")
    fake_openai.script(Reply(text="Here is the answer."))
    _, events = await run_to_end(worker_services, queue, redis_client, {})
    body = final_comment(fake_github)["body"]
    intro = NOTES_TEMPLATE.split("{items}")[0]
    assert body.startswith("Here is the answer." + intro)
    assert ".github/livebot.yml" in body and "line" in body
    assert page_text(events).startswith("Here is the answer." + intro)


async def test_a_command_turned_off_gets_a_short_reply_and_no_run(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "commands:\n  answer: false\n")
    job = make_job()
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(lambda: fake_github.comments_on(OWNER, REPO, ISSUE), "the reply")
    assert final_comment(fake_github)["body"] == comments.TURNED_OFF.format(
        author="octocat", command="answer"
    )
    assert fake_openai.requests == []
    assert await worker_services.run_log.meta(job.run_id) is None


async def test_allowed_users_are_trusted_and_others_refused_once(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", "allowed_users: [Friendly-Dev]\n")
    fake_openai.script(Reply(text="Happy to help."))
    trusted = make_job(REFUSE, command="answer", author="friendly-dev")
    outsiders = [make_job(REFUSE, command="answer", author="drive-by") for _ in range(3)]
    for job in (trusted, *outsiders):
        await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, trusted.run_id, "succeeded"), "the trusted run"
        )
        await eventually(
            lambda: len(fake_github.comments_on(OWNER, REPO, ISSUE)) == 2, "2 comments"
        )
    bodies = [c["body"] for c in fake_github.comments_on(OWNER, REPO, ISSUE)]
    refusal = comments.REFUSAL.format(author="drive-by", slug=worker_services.slug)
    assert bodies.count(refusal) == 1
    assert any(b.startswith("Happy to help.") for b in bodies)
    assert len(fake_openai.requests) == 1


def with_settings(services: WorkerServices, **changes: Any) -> WorkerServices:
    return dataclasses.replace(services, settings=dataclasses.replace(services.settings, **changes))


async def test_the_cost_is_estimated_from_the_usage_and_shown(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    services = with_settings(worker_services, model="gpt-4o-mini")
    fake_openai.script(Reply(text="Done.", prompt_tokens=10_000, completion_tokens=5_000))
    run_id, events = await run_to_end(services, queue, redis_client, {})
    # 10,000 × $0.15 + 5,000 × $0.60 per million tokens.
    assert events[-1].payload()["cost_usd"] == 0.0045
    assert (await services.run_log.meta(run_id) or {})["cost_usd"] == "0.0045"
    assert "15,000 tokens · $0.0045 · " in final_comment(fake_github)["body"]


async def test_past_the_daily_budget_a_polite_reply_instead_of_work(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    services = with_settings(worker_services, daily_tokens=100)
    fake_openai.script(Reply(text="First.", prompt_tokens=90, completion_tokens=60))
    await run_to_end(services, queue, redis_client, {})
    second = make_job()
    await queue.enqueue(second)
    async with running(services, redis_client):
        await eventually(lambda: len(fake_github.comments_on(OWNER, REPO, ISSUE)) == 2, "a reply")
    refusal = fake_github.comments_on(OWNER, REPO, ISSUE)[1]["body"]
    assert refusal == comments.OVER_BUDGET.format(author="octocat", slug=services.slug, budget=100)
    assert len(fake_openai.requests) == 1
    assert await services.run_log.meta(second.run_id) is None


async def test_a_long_run_shows_what_it_does_in_its_placeholder(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    progress = ProgressTiming(after_seconds=0.1, every_seconds=0.05)
    services = dataclasses.replace(worker_services, progress=progress)
    fake_openai.script(
        Reply.calls(ToolCall("read_file", {"path": "README.md"}), first_delay=0.5),
        Reply(text="The answer.", first_delay=0.5),
    )
    await run_to_end(services, queue, redis_client, {})
    edits = [r.json["body"] for r in fake_github.requests_to("PATCH", "*/issues/comments/*")]
    shown = [e for e in edits if e.startswith("👀 Working on it… Reading README.md (")]
    assert shown, edits
    assert edits[-1].startswith("The answer.")
    assert final_comment(fake_github)["body"].startswith("The answer.")


async def test_goal_describes_a_pull_request_from_its_changes(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.push(OWNER, REPO, "fix", {"app/config.py": CODE})
    pr = fake_github.add_pr(OWNER, REPO, "fix", title="Load settings", body="Please review")
    fake_openai.script(Reply(text="**Goal** Load the settings file."))
    _, events = await run_to_end(
        worker_services,
        queue,
        redis_client,
        {"kind": "goal", "number": pr["number"], "is_pull_request": True, "request": ""},
    )
    assert events[-1].payload()["status"] == "succeeded"
    data = json.loads(fake_openai.requests[0]["messages"][1]["content"])
    [changed] = data["pull_request"]["files"]
    assert (changed["path"], changed["status"], changed["additions"]) == (
        "app/config.py",
        "added",
        2,
    )
    assert "return open('settings.toml').read()" in changed["patch"]
    assert data["issue"]["title"] == "Load settings"
    body = final_comment(fake_github, pr["number"])["body"]
    assert body.startswith("**Goal** Load the settings file.")
    # It describes the pull request; it never edits it.
    assert fake_github.requests_to("PATCH", f"/repos/{OWNER}/{REPO}/pulls/*") == []


async def test_goal_on_an_issue_says_it_needs_a_pull_request(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    await queue.enqueue(make_job("goal"))
    async with running(worker_services, redis_client):
        await eventually(lambda: fake_github.comments_on(OWNER, REPO, ISSUE), "the reply")
    assert final_comment(fake_github)["body"] == comments.PULL_REQUESTS_ONLY.format(
        author="octocat", command="goal"
    )
    assert fake_openai.requests == []


async def test_a_turn_that_asks_for_thousands_of_calls_runs_only_the_limit(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    services = with_settings(worker_services, max_tool_calls=3)
    calls = [ToolCall("list_files", {}, chunk_size=100) for _ in range(2000)]
    fake_openai.script(Reply.calls(*calls), Reply(text="Enough."))
    _, events = await run_to_end(services, queue, redis_client, {})
    assert len(payloads(events, "tool_call")) == 3
    answered = fake_openai.tool_results(1)
    assert len(answered) == 2000
    assert sum(v == NOT_RUN for v in answered.values()) == 1997
    assert events[-1].payload()["status"] == "succeeded"
