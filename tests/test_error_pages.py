"""Error pages over HTTP: one answer for every kind of not found, the expired page, the favicon."""

from __future__ import annotations

from html import escape

from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.web.app_keys import LINK_SECRET, REDIS, RUN_LOG
from livebot.web.pages.errors import EXPIRED_TITLE, NOT_FOUND_TITLE
from livebot.web.pages.shell import CONTENT_SECURITY_POLICY
from tests.conftest import WebClient
from tests.support import PUBLIC

COMMENT_URL = "https://github.com/o/r/issues/3#issuecomment-33"


async def test_unknown_run_wrong_token_and_missing_token_look_the_same(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings)
    run_id = await client.app[RUN_LOG].create(workflow="answer", repository="o/r", number=3)
    token = run_token(client.app[LINK_SECRET], run_id)
    unknown = "f" * 32
    pages = [
        f"/runs/{unknown}?token={run_token(client.app[LINK_SECRET], unknown)[:-1]}0",
        f"/runs/{run_id}?token={token[:-1]}{'0' if token[-1] != '0' else '1'}",
        f"/runs/{run_id}",
        f"/runs/{run_id}?token=",
    ]
    answers = []
    for path in pages:
        async with client.get(path) as resp:
            answers.append((resp.status, resp.content_type, await resp.read()))
            assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert len(set(answers)) == 1, "the not-found answers differ"
    status, content_type, body = answers[0]
    assert (status, content_type) == (404, "text/html")
    html = body.decode()
    assert NOT_FOUND_TITLE in html and 'href="/static/live.css"' in html
    assert run_id not in html


async def test_state_and_events_still_answer_plain_404(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings)
    run_id = await client.app[RUN_LOG].create(workflow="answer")
    for tail in ("/state", "/events"):
        async with client.get(f"/runs/{run_id}{tail}?token=0") as resp:
            assert resp.status == 404
            assert resp.content_type == "text/plain"


async def test_expired_page_says_when_and_links_the_comment(
    web_client: WebClient, settings: Settings, run_log: RunLog
) -> None:
    client = await web_client(settings)
    run_id = await run_log.create(workflow="answer", repository="o/r", number=3, fields=PUBLIC)
    await run_log.append(run_id, "complete", {"status": "succeeded", "comment_url": COMMENT_URL})
    meta = await run_log.meta(run_id)
    assert meta is not None
    # The log expires (here: at once), the tombstone stays.
    await client.app[REDIS].delete(f"livebot:{{run:{run_id}}}:meta")
    page = f"/runs/{run_id}?token={run_token(client.app[LINK_SECRET], run_id)}"
    async with client.get(page) as resp:
        assert resp.status == 410
        html = await resp.text()
    assert escape(EXPIRED_TITLE) in html
    assert "This run's log expired on" in html and "<time datetime=" in html
    assert f'href="{COMMENT_URL}"' in html


async def test_expired_page_without_tombstone_says_the_log_is_gone(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings)
    run_id = "a" * 32
    page = f"/runs/{run_id}?token={run_token(client.app[LINK_SECRET], run_id)}"
    async with client.get(page) as resp:
        assert resp.status == 410
        html = await resp.text()
    assert "This run's log is gone." in html and "github.com" not in html


async def test_favicon_is_served(web_client: WebClient, settings: Settings) -> None:
    client = await web_client(settings)
    async with client.get("/favicon.ico") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/svg+xml"
        assert (await resp.read()).startswith(b"<svg")
