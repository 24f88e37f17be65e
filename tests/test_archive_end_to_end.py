"""End to end with the archive: `livebot worker` and `livebot web` as processes over one Redis
and a PostgreSQL of the suite's own. A mention in a private repository is answered, archived,
listed on the history page for a signed-in reader; once its Redis log has expired (a TTL of a few
seconds) its page, state and event stream are served whole from the archive."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg
import pytest
from redis.asyncio import Redis

from livebot.store import keys
from tests.fake_github import FakeGitHub
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import answer, read_events
from tests.support import ISSUE, OWNER, REPO, SLUG, delivery, payload
from tests.test_end_to_end import (  # noqa: F401  (livebot is a fixture)
    ANSWER,
    MENTION,
    StartServe,
    livebot,
    placeholder,
    read_run,
)
from tests.test_signin import browser_session

# Days; about nine seconds: long enough for the run, short enough to wait out.
TINY_TTL = "0.0001"
READER = "octocat"


def private_mention(fake: FakeGitHub) -> tuple[bytes, dict[str, str]]:
    """A trusted mention in the thread, from a private repository's real payload."""
    comment = fake.add_comment(OWNER, REPO, ISSUE, MENTION, user="Codertocat")
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    data["issue"].pop("pull_request", None)
    data["repository"]["private"] = True
    data["comment"]["id"] = comment["id"]
    data["comment"]["user"].update(login="Codertocat", type="User")
    data["sender"].update(login="Codertocat", type="User")
    return delivery("issue_comment", data)


async def archived(database_url: str, run_id: str) -> dict[str, Any]:
    """The run's row, once the worker's archiver has written it."""
    for _ in range(200):
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cursor = await conn.execute(
                "SELECT status, private, title, text, (SELECT count(*) FROM run_events e "
                "WHERE e.run_id = r.run_id) FROM runs r WHERE run_id = %s",
                (run_id,),
            )
            row = await cursor.fetchone()
        if row is not None:
            return dict(zip(("status", "private", "title", "text", "events"), row, strict=True))
        await asyncio.sleep(0.05)
    pytest.fail("the run never reached the archive")


async def expired(redis: Redis, run_id: str) -> None:
    """Wait out the run's Redis TTL."""
    for _ in range(400):
        if not await redis.exists(keys.run_meta(run_id), keys.run_events(run_id)):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the run's Redis log did not expire")


async def test_a_finished_run_is_archived_listed_and_served_after_its_log_expires(
    livebot: StartServe,  # noqa: F811
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    oauth: FakeGitHubOAuth,
    database_url: str,
    redis_client: Redis,
) -> None:
    oauth.add_repo(f"{OWNER}/{REPO}", private=True, readers={READER})
    fake_openai.script(Reply(text=ANSWER, chunk_size=8))
    web = await livebot(
        "web",
        GITHUB_APP_SLUG=SLUG,
        DATABASE_URL=database_url,
        LIVEBOT_RUN_TTL=TINY_TTL,
        GITHUB_URL=oauth.url,
        GITHUB_API_URL=oauth.url,
        GITHUB_CLIENT_ID=oauth.client_id,
        GITHUB_CLIENT_SECRET=oauth.client_secret,
    )
    await livebot("worker", PUBLIC_URL=web.url, DATABASE_URL=database_url, LIVEBOT_RUN_TTL=TINY_TTL)
    raw, headers = private_mention(fake_github)
    async with browser_session() as http:
        oauth.sign_in_as(READER)
        signed_in = await http.get(f"{web.url}/repos/{OWNER}/{REPO}/runs")
        assert signed_in.status == 200
        async with http.post(f"{web.url}/webhook", data=raw, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
        found = await placeholder(fake_github)
        # Run events carry ids; the live stream's `viewers` count is not one of them.
        live = [e for e in await read_run(http, found.events_url) if e.id]
        assert answer(live) == ANSWER

        row = await archived(database_url, found.run_id)
        assert row["status"] == "succeeded" and row["private"] is True
        assert row["text"] == ANSWER and row["events"] == len(live)
        history = await (await http.get(f"{web.url}/repos/{OWNER}/{REPO}/runs")).text()
        assert f"/runs/{found.run_id}?token={found.token}" in history
        assert "Spelling error in the README file" in history  # the thread's title

        await expired(redis_client, found.run_id)
        page = await http.get(found.link)
        # The live page from the archive (an expired run gets a 410 page of its own).
        page_text = await page.text()
        assert page.status == 200 and '"status": "succeeded"' in page_text
        # Its footer links the repository's history, where runs are archived.
        assert f'"history_url": "/repos/{OWNER}/{REPO}/runs"' in page_text
        state = await (await http.get(found.link.replace("?", "/state?", 1))).json()
        assert (state["status"], state["text"]) == ("succeeded", ANSWER)
        async with http.get(found.events_url) as resp:
            replay = await read_events(resp)
        assert [(e.id, e.event, e.data) for e in replay] == [(e.id, e.event, e.data) for e in live]
        again = await http.get(found.events_url, headers={"Last-Event-ID": replay[-1].id})
        assert again.status == 204
    async with aiohttp.ClientSession() as anonymous:  # private: the link alone is not enough
        assert (await anonymous.get(found.link.replace("?", "/state?", 1))).status == 404
