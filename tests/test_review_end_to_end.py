"""Reviews end to end: `livebot serve` as a subprocess, signed `pull_request` and mention
deliveries, the fake GitHub and OpenAI APIs; what the reviews hold and what the live page shows."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis_asyncio

from livebot.github import comments
from livebot.store.keys import JOB_GROUP, JOB_STREAM
from livebot.workflows.review.post import REPEATED
from livebot.workflows.review.scope import UNREACHABLE
from tests.fake_github import FakeGitHub
from tests.fake_github.graphql import schema
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import SseEvent, answer
from tests.support import OWNER, REPO, SLUG, ServerProcess, delivery, eventually, payload
from tests.support import pull_request_payload as pull_payload
from tests.test_end_to_end import LINK, StartServe, events_url, livebot, post_delivery, read_run
from tests.test_review import (
    CALC_CHANGED,
    CLAMP,
    DIVISION,
    EMPTY_MEAN,
    OUTSIDE,
    PR,
    SETTINGS_ON,
    UTIL,
    open_pr,
    submit,
)
from tests.test_signin import READER, browser_session

__all__ = ["livebot"]  # the fixture, shared with tests/test_end_to_end.py


@pytest.fixture(autouse=True)
def graphql_schema() -> None:
    """GitHub's GraphQL schema, which a re-review's threads need, built before the fake serves
    it (seconds of its event loop, once a process)."""
    schema()


REVIEW_TEXT = "The change documents `divide` and splits `mean`; both still divide by zero.\n"


def bot_comments(fake: FakeGitHub) -> list[dict[str, Any]]:
    """The app's comments in the pull request's conversation."""
    return [c for c in fake.comments_on(OWNER, REPO, PR) if c["user"]["login"] == fake.bot_login]


async def deliver(
    session: aiohttp.ClientSession, server: ServerProcess, event: str, data: dict[str, Any]
) -> str:
    """POST one signed delivery that must be queued; its run id."""
    status, reply = await post_delivery(session, server, *delivery(event, data))
    assert (status, reply["outcome"]) == (202, "queued"), reply
    return str(reply["run_id"])


def mention_review(fake: FakeGitHub) -> dict[str, Any]:
    """`@livebot-test review` commented on the pull request, as GitHub delivers it."""
    body = f"@{SLUG} review"
    comment = fake.add_comment(OWNER, REPO, PR, body, user="Codertocat")
    data = payload("issue_comment", "created.payload.json", body=body)
    data["issue"].update(
        number=PR, pull_request={"url": f"{fake.url}/repos/{OWNER}/{REPO}/pulls/7"}
    )
    data["comment"].update(id=comment["id"])
    data["comment"]["user"].update(login="Codertocat", type="User")
    data["sender"].update(login="Codertocat", type="User")
    return data


async def watch(
    session: aiohttp.ClientSession, server: ServerProcess, fake: FakeGitHub, run_id: str
) -> list[SseEvent]:
    """Wait for the run's placeholder (its live link) and read the run's stream to the end."""

    def placeholder() -> str | None:
        marker = comments.marker(run_id)
        return next((c["body"] for c in bot_comments(fake) if marker in c["body"]), None)

    body = await eventually(placeholder, "the placeholder")
    match = LINK.search(body)
    assert match and match[2] == run_id, body
    return await read_run(session, events_url(server, run_id), seconds=30)


def submitted(events: list[SseEvent]) -> dict[str, Any]:
    [result] = [e.data for e in events if e.event == "tool_result"]
    assert result["name"] == "submit_review"
    return result


async def test_reviews_end_to_end_inline_then_incremental_then_full_after_a_force_push(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", SETTINGS_ON)
    first_head = open_pr(fake_github)
    server = await livebot()
    fake_openai.script(
        submit(DIVISION, OUTSIDE, EMPTY_MEAN, text=REVIEW_TEXT, chunk_size=6, delay=0.005)
    )
    async with aiohttp.ClientSession() as session:
        opened = await deliver(
            session, server, "pull_request", pull_payload("opened", PR, head=first_head)
        )
        events = await watch(session, server, fake_github, opened)

        # The review streamed live; the page got the findings and where each went.
        assert answer(events) == REVIEW_TEXT
        assert events[-1].data["status"] == "succeeded"
        [review] = fake_github.reviews_on(OWNER, REPO, PR)
        result = submitted(events)
        assert result["review_url"] == review["html_url"]
        assert sorted((f["line"], f["placement"]) for f in result["findings"]) == [
            (1, "body"),
            (10, "inline"),
            (15, "inline"),
        ]
        assert (review["event"], review["commit_id"]) == ("COMMENT", first_head)
        inline = sorted((c["line"], c["start_line"]) for c in review["comments"])
        assert inline == [(10, None), (15, 14)]
        assert all("```suggestion\n" in c["body"] for c in review["comments"])
        assert "Vague module docstring" in review["body"]
        [placeholder] = bot_comments(fake_github)
        assert f"({review['html_url']})" in placeholder["body"]
        assert "2 inline comments and 1 finding in its text" in placeholder["body"]

        # A push: the automatic review covers only the new commit and repeats nothing.
        new_head = fake_github.push(OWNER, REPO, "feature", {"app/util.py": UTIL})
        fake_openai.script(submit(DIVISION, CLAMP))
        pushed = await deliver(
            session, server, "pull_request", pull_payload("synchronize", PR, head=new_head)
        )
        events = await watch(session, server, fake_github, pushed)
        assert events[-1].data["status"] == "succeeded"
        second = fake_github.reviews_on(OWNER, REPO, PR)[1]
        assert [(c["path"], c["line"]) for c in second["comments"]] == [("app/util.py", 2)]
        assert REPEATED.format(count=1) in second["body"]
        assert f"from {first_head[:7]} to {new_head[:7]}" in second["body"]

        # A force-push, then a mention: the whole pull request again.
        files = {"app/calc.py": CALC_CHANGED, "app/util.py": UTIL + "# rewritten\n"}
        rewritten = fake_github.force_push(OWNER, REPO, "feature", files)
        fake_openai.script(submit({**CLAMP, "title": "Bounds unchecked", "line": 1}))
        mentioned = await deliver(session, server, "issue_comment", mention_review(fake_github))
        events = await watch(session, server, fake_github, mentioned)
        assert events[-1].data["status"] == "succeeded"
        third = fake_github.reviews_on(OWNER, REPO, PR)[2]
        assert third["commit_id"] == rewritten
        assert UNREACHABLE.format(old=new_head[:7]) in third["body"]
        assert [c["line"] for c in third["comments"]] == [1]

    assert [r["event"] for r in fake_github.reviews_on(OWNER, REPO, PR)] == ["COMMENT"] * 3
    assert not fake_github.requests_to("PUT", "/repos/*/pulls/*/merge")


async def test_a_draft_waits_for_ready_and_a_push_supersedes_a_running_review(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", SETTINGS_ON)
    head = open_pr(fake_github, draft=True)
    server = await livebot()
    client = redis_asyncio.Redis.from_url(redis_url)

    async def drained() -> bool:
        pending = await client.xpending(JOB_STREAM, JOB_GROUP)
        return bool(await client.xlen(JOB_STREAM) == 0 and pending["pending"] == 0)

    async with aiohttp.ClientSession() as session:
        # A draft (the settings skip drafts): queued, since the web tier never asks GitHub, then
        # nothing at all.
        data = pull_payload("opened", PR, head=head, draft=True)
        await deliver(session, server, "pull_request", data)
        await eventually(drained, "the job to be done")
        assert bot_comments(fake_github) == [] and fake_openai.requests == []

        fake_openai.script(Reply(text="Reading slowly. " * 300, chunk_size=4, delay=0.02))
        data = pull_payload("ready_for_review", PR, head=head)
        ready = await deliver(session, server, "pull_request", data)
        await eventually(lambda: fake_openai.requests, "the review to start")
        new_head = fake_github.push(OWNER, REPO, "feature", {"app/util.py": UTIL})
        fake_openai.script(submit(CLAMP))
        data = pull_payload("synchronize", PR, head=new_head)
        pushed = await deliver(session, server, "pull_request", data)
        old_events = await watch(session, server, fake_github, ready)
        new_events = await watch(session, server, fake_github, pushed)
    await client.aclose()

    assert old_events[-1].data["status"] == "cancelled"
    assert new_events[-1].data["status"] == "succeeded"
    cancelled = [c for c in bot_comments(fake_github) if comments.marker(ready) in c["body"]]
    # What the review streamed before the push stays, above the note.
    assert re.search(r"\n\n---\n\n⏹️ Cancelled by @Codertocat", cancelled[0]["body"])
    [review] = fake_github.reviews_on(OWNER, REPO, PR)
    assert review["commit_id"] == new_head


async def test_an_automatic_review_of_a_private_repository_is_for_its_readers_only(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI, oauth: FakeGitHubOAuth
) -> None:
    oauth.add_repo(f"{OWNER}/{REPO}", private=True, readers={READER})
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", SETTINGS_ON)
    data = pull_payload("opened", PR, head=open_pr(fake_github))
    data["repository"]["private"] = True
    fake_openai.script(submit(DIVISION, text=REVIEW_TEXT))
    # Sign-in asks the OAuth fake; the worker's API calls go to the fake GitHub.
    web = await livebot(
        "web",
        GITHUB_APP_SLUG=SLUG,
        GITHUB_URL=oauth.url,
        GITHUB_API_URL=oauth.url,
        GITHUB_CLIENT_ID=oauth.client_id,
        GITHUB_CLIENT_SECRET=oauth.client_secret,
    )
    await livebot("worker", PUBLIC_URL=web.url)
    async with browser_session() as reader:
        run_id = await deliver(reader, web, "pull_request", data)
        marker = comments.marker(run_id)
        await eventually(
            lambda: any(marker in c["body"] for c in bot_comments(fake_github)), "the placeholder"
        )
        page = events_url(web, run_id).replace("/events?", "?")
        async with aiohttp.ClientSession() as anonymous:
            signed_out = await anonymous.get(page, allow_redirects=False)
            assert signed_out.status == 302
            assert signed_out.headers["Location"].startswith("/login?next=")
            for suffix in ("/state?", "/events?"):
                assert (await anonymous.get(page.replace("?", suffix))).status == 404
        oauth.sign_in_as(READER)
        signed_in = await reader.get(page)
        assert signed_in.status == 200 and str(signed_in.url) == page
        # The job now carries the pull request's title, as a mention's does.
        assert '"title": "Update the README with new information."' in await signed_in.text()
        events = await read_run(reader, events_url(web, run_id), seconds=30)
        assert answer(events) == REVIEW_TEXT
        state = await (await reader.get(page.replace("?", "/state?"))).json()
        assert state["status"] == "succeeded"
