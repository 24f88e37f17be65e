"""GitHub unreachable mid-run: one short warning with the error, never a "workflow crashed"
traceback (anything else is still logged with its traceback)."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from livebot.queue.jobs import JobQueue
from livebot.runs import execution
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.workers import payloads, run_to_end


def _records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


async def test_an_unreachable_github_is_one_line_not_a_crash(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The thread is read before the model is asked; GitHub drops every connection asking.
    fake_github.drop_next("GET", "/repos/*/issues/1", times=100)
    fake_openai.script(Reply("never asked"))
    with caplog.at_level(logging.WARNING, logger=execution.__name__):
        _, events = await run_to_end(worker_services, queue, redis_client, {})

    [error] = payloads(events, "error")
    assert error["code"] == "network_error"
    assert "ServerDisconnectedError" in error["message"]
    mine = _records(caplog, execution.__name__)
    assert "workflow crashed" not in [r.getMessage() for r in mine]
    [line] = [r for r in mine if r.getMessage() == "network error; run failed"]
    assert line.exc_info is None
    assert "ServerDisconnectedError" in line.__dict__["error"]
