"""End to end: `livebot serve` as a subprocess against the fake GitHub and OpenAI APIs.

A signed mention goes in; the fake GitHub must see 👀, one placeholder with a working live
link, then that same comment edited into the answer; an SSE viewer must receive exactly the
model's text. Also: a worker SIGKILLed mid-answer and another finishing the job, model and
GitHub failures, redelivery, and an untrusted author.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from livebot.github import comments
from livebot.llm.prompts import CONTINUE_PROMPT
from livebot.runs.links import run_token
from livebot.workflows.answer import system_prompt
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import SseEvent, answer, parse_block, read_events
from tests.support import (
    ISSUE,
    OWNER,
    REPO,
    SLUG,
    ServerProcess,
    delivery,
    eventually,
    livebot_against_fakes,
    payload,
)
from tests.workers import jobs_drained

LINK_SECRET = "e2e-link-secret-of-at-least-32-bytes"
MODEL = "gpt-e2e-model"
MENTION = f"@{SLUG} why does it crash?"
ISSUE_BODY = "It crashes on start."  # seeded by the fake_github fixture
ANSWER = """\
## Why it crashes

The crash comes from `load_config()`: it reads `settings.toml` **before** the data folder
exists, so the first start raises `FileNotFoundError`.

### Fix

1. Create the folder first:

   ```python
   path.mkdir(parents=True, exist_ok=True)
   ```
2. Then read the file, falling back to the defaults when it is missing.

> Later starts work because the folder is there by then.

Let me know if it still fails after that.
"""
LINK = re.compile(r"\((http://127\.0\.0\.1:\d+/runs/([0-9a-f]+)\?token=([0-9a-f]+))\)")


# ---- livebot serve as a subprocess ------------------------------------------------------------
StartServe = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def livebot(
    fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> AsyncIterator[StartServe]:
    """Start `livebot serve` (or `web`, `worker`) processes; keywords override the environment."""
    servers: list[ServerProcess] = []

    async def start(command: str = "serve", **overrides: str) -> ServerProcess:
        server = livebot_against_fakes(
            command,
            fake_github,
            fake_openai,
            redis_url=redis_url,
            folder=tmp_path,
            link_secret=LINK_SECRET,
            log_path=tmp_path / f"serve-{len(servers)}.log",
            **{
                "LIVEBOT_MODEL": MODEL,
                "LIVEBOT_WORKERS": "2",
                "LIVEBOT_SHUTDOWN_GRACE": "1",
                **overrides,
            },
        )
        servers.append(server)
        if command == "worker":  # a worker serves no HTTP
            server.spawn()
        else:
            await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()
    # pytest shows this only when the test fails.
    for number, server in enumerate(servers):
        print(f"---- {server.name} #{number} (exit {server.returncode}) ----")
        print(server.log())


# ---- webhook deliveries ----------------------------------------------------------------------
def mention_delivery(
    comment_id: int,
    *,
    association: str = "OWNER",
    body: str = MENTION,
    login: str = "Codertocat",
    delivery_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed issue_comment.created delivery, built from GitHub's real payload."""
    data = payload("issue_comment", "created.payload.json", body=body, association=association)
    data["issue"].pop("pull_request", None)
    data["comment"]["id"] = comment_id
    data["comment"]["user"].update(login=login, type="User")
    data["sender"].update(login=login, type="User")
    return delivery("issue_comment", data, delivery_id=delivery_id)


async def post_delivery(
    session: aiohttp.ClientSession, server: ServerProcess, raw: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST one delivery; the status and the JSON answer."""
    async with session.post(f"{server.url}/webhook", data=raw, headers=headers) as resp:
        return resp.status, await resp.json()


def mention_on_github(
    fake: FakeGitHub, association: str = "OWNER", login: str = "Codertocat"
) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    """The mention as a real comment on the fake (so 👀 has something to land on), delivered."""
    comment = fake.add_comment(
        OWNER, REPO, ISSUE, MENTION, user=login, author_association=association
    )
    return comment, *mention_delivery(comment["id"], association=association, login=login)


# ---- what the fakes saw ----------------------------------------------------------------------
def bot_comments(fake: FakeGitHub) -> list[dict[str, Any]]:
    """The comments the app posted in the issue's thread."""
    return [c for c in fake.comments_on(OWNER, REPO, ISSUE) if c["user"]["login"] == fake.bot_login]


def comment_posts(fake: FakeGitHub) -> list[Any]:
    """Every POST of a new comment in the thread."""
    return fake.requests_to("POST", f"/repos/{OWNER}/{REPO}/issues/{ISSUE}/comments")


@dataclass
class Placeholder:
    """The placeholder as first posted, and the live link it carries."""

    body: str
    link: str
    run_id: str
    token: str
    comment: dict[str, Any]

    @property
    def events_url(self) -> str:
        """The run's SSE stream."""
        return self.link.replace("?token=", "/events?token=", 1)


async def placeholder(fake: FakeGitHub) -> Placeholder:
    """Wait for the placeholder; its body as posted (before any edit) and its link."""
    posts = await eventually(lambda: comment_posts(fake), "the placeholder comment")
    body = posts[0].json["body"]
    match = LINK.search(body)
    assert match, f"no run link in the placeholder: {body!r}"
    (comment,) = await eventually(lambda: bot_comments(fake), "the placeholder to be stored")
    return Placeholder(body, match[1], match[2], match[3], comment)


def events_url(server: ServerProcess, run_id: str) -> str:
    """A run's SSE stream on one server."""
    return f"{server.url}/runs/{run_id}/events?token={run_token(LINK_SECRET.encode(), run_id)}"


async def read_run(
    session: aiohttp.ClientSession, url: str, seconds: float = 20.0
) -> list[SseEvent]:
    """The whole event stream of a run, until `complete`."""
    async with asyncio.timeout(seconds), session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(resp)
    assert events and events[-1].event == "complete", [e.event for e in events]
    return events


def errors(events: list[SseEvent]) -> list[dict[str, Any]]:
    """The data of every `error` event."""
    return [e.data for e in events if e.event == "error"]


# ---- the happy path --------------------------------------------------------------------------
async def test_mention_streams_the_answer_into_one_comment(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    server = await livebot()
    fake_openai.script(Reply(text=ANSWER, chunk_size=4, delay=0.01))
    mention, raw, headers = mention_on_github(fake_github)

    async with aiohttp.ClientSession() as session:
        sent = time.monotonic()
        status, reply = await post_delivery(session, server, raw, headers)
        assert (status, reply["outcome"]) == (202, "queued"), reply
        run_id = reply["run_id"]

        found = await placeholder(fake_github)
        # "At once": the design says well under a second after the webhook (here ~10-50 ms).
        assert time.monotonic() - sent < 1.0
        assert found.run_id == run_id
        assert found.link.startswith(f"{server.url}/runs/{run_id}?token=")
        assert comments.marker(run_id) in found.body
        assert "Working on it" in found.body
        # 👀 on the triggering comment, before the placeholder.
        reactions = fake_github.comment_reactions.get(mention["id"], [])
        assert [r["content"] for r in reactions] == ["eyes"]
        reaction_at = fake_github.requests.index(
            fake_github.requests_to("POST", f"/repos/*/issues/comments/{mention['id']}/reactions")[
                0
            ]
        )
        assert reaction_at < fake_github.requests.index(comment_posts(fake_github)[0])

        # The link works: the live page, then its event stream.
        async with session.get(found.link) as resp:
            assert resp.status == 200
            assert run_id in await resp.text()
        events = await read_run(session, found.events_url)

    tokens = [e for e in events if e.event == "token"]
    assert answer(events) == ANSWER
    assert len(tokens) > 1, "the answer should arrive in pieces, not at once"
    assert not errors(events)
    complete = events[-1].data
    assert complete["status"] == "succeeded"
    assert complete["comment_url"] == found.comment["html_url"]
    usage = complete["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0

    # One comment by the bot in the thread: the placeholder, edited into the answer.
    (final,) = bot_comments(fake_github)
    assert final["id"] == found.comment["id"]
    assert final["body"].startswith(ANSWER)
    assert "Working on it" not in final["body"]
    tokens_used = usage["prompt_tokens"] + usage["completion_tokens"]
    assert f"{MODEL} · {tokens_used:,} tokens" in final["body"]
    assert f"[Run log]({found.link})" in final["body"]
    assert comments.marker(run_id) in final["body"]
    assert len(comment_posts(fake_github)) == 1

    # The prompt: instructions in the system message, the thread as quoted JSON data.
    (request,) = fake_openai.requests
    assert request["model"] == MODEL
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    system, user = request["messages"]
    assert system["role"] == "system"
    head = fake_github.head_of(OWNER, REPO)
    assert system["content"] == system_prompt(SLUG, f"{OWNER}/{REPO}", "Codertocat", head or "")
    assert ISSUE_BODY not in system["content"]
    assert user["role"] == "user"
    data = json.loads(user["content"])
    assert data["issue"]["title"] == "Why does it crash?"
    assert data["issue"]["body"] == ISSUE_BODY
    assert data["repository"] == {"name": f"{OWNER}/{REPO}", "description": "A demo repository"}
    assert [c["body"] for c in data["comments"]] == [MENTION]
    assert data["request"] == "why does it crash?"


# ---- a worker killed mid-answer --------------------------------------------------------------
async def read_until(
    resp: aiohttp.ClientResponse, enough: Callable[[list[SseEvent]], bool]
) -> list[SseEvent]:
    """Read events from an open stream until `enough(events)`."""
    events: list[SseEvent] = []
    buffer = ""
    async for chunk in resp.content.iter_any():
        buffer += chunk.decode().replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            event = parse_block(block)
            if event is not None:
                events.append(event)
        if enough(events):
            return events
    pytest.fail(f"the stream ended early: {[e.event for e in events]}")


async def test_killed_worker_is_finished_by_another_without_repeating(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    long_text = "".join(
        f"{n}. Step {n} of the explanation, in a sentence of its own.\n" for n in range(1, 16)
    )
    assert len(long_text) > 800
    # Serve A's request, slow; then serve B's, which continues from what A left in the log.
    fake_openai.script(
        Reply(text=long_text, chunk_size=4, delay=0.02),
        Reply(text=long_text, chunk_size=4, delay=0.002),
    )
    server_a = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
    _, raw, headers = mention_on_github(fake_github)

    async with aiohttp.ClientSession() as session:
        status, reply = await post_delivery(session, server_a, raw, headers)
        assert status == 202, reply
        found = await placeholder(fake_github)
        async with asyncio.timeout(10), session.get(found.events_url) as resp:
            seen = await read_until(resp, lambda events: len(answer(events)) >= 120)
            server_a.kill()
        seen_text = answer(seen)
        assert len(seen_text) < len(long_text)
        assert long_text.startswith(seen_text)

        server_b = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
        events = await read_run(session, events_url(server_b, found.run_id))

    # B's full history: every piece of text once, the whole answer, and why it was resumed.
    assert answer(events) == long_text
    assert events[-1].data["status"] == "succeeded"
    assert [e["code"] for e in errors(events)] == ["worker_lost"]
    (final,) = bot_comments(fake_github)
    assert final["id"] == found.comment["id"]
    assert final["body"].startswith(long_text)
    assert len(comment_posts(fake_github)) == 1
    assert events[-1].data["comment_url"] == found.comment["html_url"]

    # B sent the model the partial answer to continue, not the question afresh.
    first, second = fake_openai.requests
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    partial = second["messages"][2]["content"]
    assert partial.startswith(seen_text)
    assert long_text.startswith(partial) and len(partial) < len(long_text)
    assert second["messages"][3]["content"] == CONTINUE_PROMPT
    assert second["messages"][:2] == first["messages"]


# ---- failures --------------------------------------------------------------------------------
def failed_text(message: str, found: Placeholder) -> str:
    """The placeholder after a failure, for the error event's message."""
    return comments.FAILED.format(
        reason=message.rstrip("."),
        slug=SLUG,
        url=found.link,
        marker=comments.marker(found.run_id),
    )


async def mention_and_watch(
    server: ServerProcess, fake_github: FakeGitHub
) -> tuple[Placeholder, list[SseEvent]]:
    """Deliver a trusted mention and watch its run to the end."""
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        status, _ = await post_delivery(session, server, raw, headers)
        assert status == 202
        found = await placeholder(fake_github)
        return found, await read_run(session, found.events_url)


async def test_model_500_on_every_attempt_fails_the_run_clearly(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = Reply(status=500)
    server = await livebot()
    found, events = await mention_and_watch(server, fake_github)

    assert events[-1].data["status"] == "failed"
    assert answer(events) == ""
    *retries, final_error = errors(events)
    assert retries and all(e["recoverable"] for e in retries)
    assert final_error["code"] == "llm_error" and not final_error["recoverable"]
    assert "500" in final_error["message"]
    assert len(fake_openai.requests) == len(retries) + 1  # bounded retries, then give up

    (comment,) = bot_comments(fake_github)
    assert comment["id"] == found.comment["id"]
    assert comment["body"] == failed_text(final_error["message"], found)
    assert "500" in comment["body"]
    assert f"mention @{SLUG} again" in comment["body"]
    assert "Working on it" not in comment["body"]


async def test_model_stall_times_out_and_fails_the_run(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Reply(text=ANSWER, chunk_size=4, stall_after=3))
    server = await livebot(LIVEBOT_LLM_TIMEOUT="1")
    found, events = await mention_and_watch(server, fake_github)

    assert answer(events) == ANSWER[:12]  # the three chunks sent before the stall
    assert events[-1].data["status"] == "failed"
    (error,) = errors(events)  # text was shown: no retry that could repeat it
    assert error["code"] == "llm_timeout"
    assert error["recoverable"] is False
    assert len(fake_openai.requests) == 1
    (comment,) = bot_comments(fake_github)
    # The text written before the stall stays, above the note that says why it stopped.
    note = failed_text(error["message"], found)
    assert comment["body"] == comments.with_partial(ANSWER[:12], note)
    assert comment["body"].startswith(ANSWER[:12]) and comment["body"].endswith(note)
    assert "Working on it" not in comment["body"]


async def test_github_502_on_the_final_edit_is_retried(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Reply(text=ANSWER, chunk_size=16))
    fake_github.fail_next("PATCH", "/repos/*/issues/comments/*", 502)
    server = await livebot()
    found, events = await mention_and_watch(server, fake_github)

    assert events[-1].data["status"] == "succeeded"
    assert answer(events) == ANSWER
    patches = fake_github.requests_to("PATCH", f"/repos/*/issues/comments/{found.comment['id']}")
    assert len(patches) == 2  # the 502, then the retry
    assert patches[0].json == patches[1].json
    (comment,) = bot_comments(fake_github)
    assert comment["body"].startswith(ANSWER)
    assert comment["body"] == patches[1].json["body"]


async def test_redelivery_is_acknowledged_and_not_run_twice(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_client: Redis
) -> None:
    fake_openai.script(Reply(text=ANSWER, chunk_size=16, delay=0.01))
    server = await livebot()
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        first = await post_delivery(session, server, raw, headers)
        second = await post_delivery(session, server, raw, headers)
        assert first[0] == 202 and first[1]["outcome"] == "queued"
        assert second[0] == 202 and second[1]["outcome"] == "duplicate"
        # A worker creates the run: it exists once its placeholder is posted.
        await placeholder(fake_github)
        events = await read_run(session, events_url(server, first[1]["run_id"]))
        # Redelivered again after the run finished (GitHub's "Redeliver" button): still once.
        late = await post_delivery(session, server, raw, headers)
        assert late[0] == 202 and late[1]["outcome"] == "duplicate"

    assert events[-1].data["status"] == "succeeded"
    # A second job, were there one, would have run to its end and posted by then.
    await eventually(lambda: jobs_drained(redis_client), "every job queued to have run")
    assert len(comment_posts(fake_github)) == 1
    assert len(bot_comments(fake_github)) == 1
    assert len(fake_openai.requests) == 1


# ---- who may ask -----------------------------------------------------------------------------
async def test_untrusted_author_gets_one_polite_refusal_and_no_model_call(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_client: Redis
) -> None:
    server = await livebot()
    _, raw, headers = mention_on_github(fake_github, association="NONE", login="drive-by")
    async with aiohttp.ClientSession() as session:
        status, reply = await post_delivery(session, server, raw, headers)
        assert status == 202, reply
        (refusal,) = await eventually(lambda: bot_comments(fake_github), "the refusal")
        assert refusal["body"] == comments.REFUSAL.format(author="drive-by", slug=SLUG)

        # The same person mentions it again in the same thread: no second refusal.
        _, raw, headers = mention_on_github(fake_github, association="NONE", login="drive-by")
        status, reply = await post_delivery(session, server, raw, headers)
        assert status == 202, reply
        assert reply["outcome"] == "queued"
        # The second job ran to its end: a second refusal would have been posted by then.
        await eventually(lambda: jobs_drained(redis_client), "the second job to have run")

    assert len(bot_comments(fake_github)) == 1
    assert fake_openai.requests == []


async def test_web_and_worker_as_separate_processes(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    """The scaled-out shape: webhooks and pages in `livebot web`, the work in `livebot worker`."""
    fake_openai.script(Reply(text=ANSWER, chunk_size=8))
    web = await livebot("web", GITHUB_APP_SLUG=SLUG)
    await livebot("worker", PUBLIC_URL=web.url)  # links point at the web process
    found, events = await mention_and_watch(web, fake_github)
    assert events[-1].data["status"] == "succeeded"
    assert answer(events) == ANSWER
    (comment,) = bot_comments(fake_github)
    assert comment["id"] == found.comment["id"] and comment["body"].startswith(ANSWER)
