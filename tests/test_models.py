"""Every server's dialect through a whole run: an answer that reads two files in parallel, and a
review that does and then submits, exact on GitHub (fake) and in the run log."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from livebot.llm.conversation import CUT_NOTES
from livebot.queue.jobs import JobQueue
from livebot.runs.log import Event
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.llm_streams import (
    ANSWER,
    CHECKS,
    READS,
    REASONING,
    SERVERS,
    THINKING,
    TOOL_REFUSALS,
    recorded,
)
from tests.support import ISSUE, OWNER, REPO
from tests.workers import payloads, run_to_end

PR = 7
CALC = "def mean(values):\n    return sum(values) / count\n"
UTIL = "count = 0\n"
FINDING = {
    "path": "app/calc.py",
    "line": 2,
    "severity": "major",
    "title": "Division by zero",
    "body": "`count` is 0.",
}


@pytest.fixture
def worker_services(worker_services: WorkerServices) -> WorkerServices:
    """A claim that outlasts the pauses of a loaded machine."""
    settings = dataclasses.replace(worker_services.settings, claim_timeout=30.0)
    return dataclasses.replace(worker_services, settings=settings)


def text_of(events: list[Event], kind: str) -> str:
    return "".join(p["text"] for p in payloads(events, kind))


def no_trouble(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and no error logged by Livebot (asyncio's own noise about clients an
    earlier test left to the collector is not ours)."""
    troubles = [
        r.getMessage()
        for r in caplog.records
        if r.name.split(".")[0] in ("bot", "web", "livebot")
        and (r.exc_info or r.levelno >= logging.ERROR)
    ]
    assert troubles == []


def assert_sent_back(fake: FakeOpenAI, server: str) -> None:
    """The turn that called the tools went back as the server sent it, with what it requires."""
    [assistant] = [m for m in fake.requests[-1]["messages"] if m["role"] == "assistant"]
    assert [json_args(c) for c in assistant["tool_calls"]] == READS
    field = REASONING.get(server)
    if field is not None:
        assert assistant[field] == THINKING
    tool_ids = list(fake.tool_results(-1))
    assert tool_ids == [c["id"] for c in assistant["tool_calls"]]


def json_args(call: dict[str, Any]) -> Any:
    return json.loads(call["function"]["arguments"])


def assert_reads(events: list[Event]) -> None:
    calls = payloads(events, "tool_call")
    assert calls[:2] == [{"name": "read_file", "arguments": a} for a in READS]
    summaries = [r["summary"] for r in payloads(events, "tool_result")][:2]
    assert summaries == ["2 lines of app/calc.py", "1 lines of app/util.py"]


@pytest.mark.parametrize("server", SERVERS)
async def test_an_answer_that_reads_two_files_in_parallel(
    server: str,
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_github.add_file(OWNER, REPO, "app/calc.py", CALC)
    fake_github.add_file(OWNER, REPO, "app/util.py", UTIL)
    fake_openai.checks = list(CHECKS.get(server, []))
    fake_openai.script(recorded(server, "tool_calls"), recorded(server, "answer"))
    _, events = await run_to_end(worker_services, queue, redis_client, {})

    assert_reads(events)
    assert_sent_back(fake_openai, server)
    assert text_of(events, "token") == ANSWER
    thinking = THINKING * 2 if server in REASONING else ""
    assert text_of(events, "thinking") == thinking
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith(ANSWER + "\n\n<sub>")
    assert "The user asks" not in comment["body"]
    complete = events[-1].payload()
    assert complete["status"] == "succeeded"
    if server == "ollama":
        assert complete["usage"]["estimated"] is True and "(estimated)" in comment["body"]
    else:
        assert "estimated" not in complete["usage"] and "(estimated)" not in comment["body"]
        assert complete["usage"]["prompt_tokens"] == 790 + 812
    assert len(fake_openai.requests) == 2 + (server == "mistral")
    no_trouble(caplog)


@pytest.mark.parametrize("server", SERVERS)
async def test_a_review_that_reads_two_files_in_parallel_then_submits(
    server: str,
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_github.add_file(OWNER, REPO, "app/util.py", UTIL)
    fake_github.add_file(OWNER, REPO, "app/calc.py", "def mean(values):\n    pass\n")
    head = fake_github.push(OWNER, REPO, "feature", {"app/calc.py": CALC})
    fake_github.add_pr(OWNER, REPO, "feature", number=PR)
    fake_openai.checks = list(CHECKS.get(server, []))
    submit = ToolCall("submit_review", {"summary": "One real problem.", "findings": [FINDING]})
    fake_openai.script(recorded(server, "tool_calls"), Reply.calls(submit))
    review_job = {"kind": "review", "number": PR, "is_pull_request": True, "command": "review"}
    _, events = await run_to_end(worker_services, queue, redis_client, review_job)

    assert_reads(events)
    assert_sent_back(fake_openai, server)
    [review] = fake_github.reviews_on(OWNER, REPO, PR)
    assert (review["event"], review["commit_id"]) == ("COMMENT", head)
    [inline] = review["comments"]
    assert (inline["path"], inline["line"]) == ("app/calc.py", 2)
    assert "Division by zero" in inline["body"] and "One real problem." in review["body"]
    [result] = [r for r in payloads(events, "tool_result") if r["name"] == "submit_review"]
    assert result["review_url"] == review["html_url"]
    assert text_of(events, "thinking") == (THINKING if server in REASONING else "")
    assert events[-1].payload()["status"] == "succeeded"
    no_trouble(caplog)


@pytest.mark.parametrize("server", sorted(TOOL_REFUSALS))
async def test_a_server_without_tools_fails_the_run_naming_its_setting(
    server: str,
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    check, setting = TOOL_REFUSALS[server]
    fake_openai.checks = [check]
    _, events = await run_to_end(worker_services, queue, redis_client, {})
    [error] = payloads(events, "error")
    assert setting in error["message"] and error["recoverable"] is False
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert setting in comment["body"]
    assert events[-1].payload()["status"] == "failed"
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("server", "name", "reason"),
    [
        ("openai", "length", "length"),
        ("azure", "content_filter", "content_filter"),
    ],
)
async def test_a_cut_answer_says_it_was_cut(
    server: str,
    name: str,
    reason: str,
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(recorded(server, name))
    _, events = await run_to_end(worker_services, queue, redis_client, {})
    written = "`app/calc.py:2` divides by `count` without"
    note = f"{written}\n\n*{CUT_NOTES[reason]}*"
    assert text_of(events, "token") == note
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith(note + "\n\n<sub>")
