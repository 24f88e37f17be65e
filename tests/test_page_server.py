"""The live page's server side in headless Chromium: error pages, who is watching, cancel.

Like tests/test_page.py, each test runs `livebot web` (here sometimes two, or `livebot serve`
with the fake GitHub and OpenAI) on the suite's Redis and writes runs with the real RunLog.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livebot.runs.log import RunLog, new_run_id
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.support import ServerProcess, free_port
from tests.test_browser import (  # noqa: F401 (the fixtures browser and web_server)
    COMMENT_URL,
    TIMEOUT_MS,
    browser,
    link,
    web_server,
)
from tests.test_end_to_end import (  # noqa: F401 (the fixture livebot)
    StartServe,
    bot_comments,
    errors,
    livebot,
    mention_on_github,
    placeholder,
    post_delivery,
    read_run,
)
from tests.test_page import AXE, DESKTOP, PHONE, PYTHON_ANSWER, axe_violations, new_run, shoot

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

# A page learns of a change at the next renewal (5 s) and the next wakeup of its stream (5 s),
# a closed page is noticed at its stream's next wakeup: a generous bound, not a measurement.
PRESENCE_WAIT_MS = 45_000


async def second_web_server(first: ServerProcess, tmp_path: Path) -> ServerProcess:
    """Another `livebot web`, with the first one's settings, on a port of its own."""
    assert first.env is not None
    other = ServerProcess(
        "livebot web (second)",
        first.command,
        port=free_port(),
        log_path=tmp_path / "livebot-web-2.log",
        cwd=first.cwd,
        env={**first.env, "PORT": ""},
    )
    assert other.env is not None
    other.env["PORT"] = str(other.port)
    await other.start()
    return other


async def new_page(browser: Any, *, dark: bool = False, viewport: dict[str, int] = DESKTOP) -> Any:
    context = await browser.new_context(
        viewport=viewport, color_scheme="dark" if dark else "light", reduced_motion="reduce"
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.add_init_script(path=str(AXE))
    return page


async def test_error_pages_in_the_page_look_light_and_dark(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    good = link(web_server, run_id)
    not_found = [
        link(web_server, new_run_id()).replace("token=", "token=0"),
        re.sub(r"token=\w+", "token=" + "0" * 32, good),
        good.split("?")[0],
    ]
    expired = await new_run(run_log)
    await run_log.append(expired, "complete", {"status": "succeeded", "comment_url": COMMENT_URL})
    await run_log.redis.delete(f"livebot:{{run:{expired}}}:meta")

    for dark in (False, True):
        scheme = "dark" if dark else "light"
        page = await new_page(browser, dark=dark)
        bodies = set()
        for url in not_found:
            response = await page.goto(url)
            assert response is not None and response.status == 404
            bodies.add(await response.body())
            assert await page.inner_text("h1") == "No such run"
        assert len(bodies) == 1, "the three not-found pages differ"
        # Same look as the run page: its stylesheet, its colours for the scheme.
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(13, 17, 23)" if dark else "rgb(255, 255, 255)")
        assert await axe_violations(page) == []
        await shoot(page, f"not-found-{scheme}")

        response = await page.goto(link(web_server, expired))
        assert response is not None and response.status == 410
        message = page.locator("#error-message")
        assert "This run's log expired on" in await message.inner_text()
        assert await message.locator(f'a[href="{COMMENT_URL}"]').count() == 1
        assert await axe_violations(page) == []
        await shoot(page, f"expired-{scheme}")
        await page.context.close()

    page = await new_page(browser, viewport=PHONE)
    response = await page.goto(f"{web_server.url}/favicon.ico")
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/svg+xml"
    await page.context.close()


async def viewers_shown(page: Any, count: int) -> None:
    """Wait until the page says `count` people watch (renewals come every few seconds)."""
    await page.wait_for_selector(f"#viewers[data-count='{count}']", timeout=PRESENCE_WAIT_MS)


async def test_viewer_count_spans_two_web_processes(
    browser: Any, web_server: ServerProcess, run_log: RunLog, tmp_path: Path
) -> None:
    other = await second_web_server(web_server, tmp_path)
    try:
        run_id = await new_run(run_log)
        await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
        first = await new_page(browser)
        await first.goto(link(web_server, run_id))
        await viewers_shown(first, 1)
        assert await first.inner_text("#viewers") == "1 person watching"

        more = [await new_page(browser), await new_page(browser)]
        await more[0].goto(link(web_server, run_id))
        await more[1].goto(link(other, run_id))
        for page in (first, *more):
            await viewers_shown(page, 3)
        assert await first.inner_text("#viewers") == "3 people watching"
        state = await first.request.get(link(web_server, run_id).replace("?", "/state?"))
        assert (await state.json())["viewers"] == 3

        for page in more:
            await page.context.close()
        await viewers_shown(first, 1)
        state = await first.request.get(link(other, run_id).replace("?", "/state?"))
        assert (await state.json())["viewers"] == 1

        await run_log.append(run_id, "complete", {"status": "succeeded"})
        await first.wait_for_selector("body[data-run-state=complete]")
        assert await first.locator("#viewers").is_hidden()
        await first.context.close()
    finally:
        await other.stop()


async def test_cancel_from_the_page_stops_the_run_and_the_placeholder_says_so(
    browser: Any, livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    server = await livebot()
    fake_openai.script(Reply(text="slow " * 2000, chunk_size=4, delay=0.02))
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        status, _ = await post_delivery(session, server, raw, headers)
        assert status == 202
    found = await placeholder(fake_github)

    page = await new_page(browser)
    await page.goto(found.link)
    await page.wait_for_function("() => window.livebot && window.livebot.answerText().length > 0")
    button = page.locator("#cancel")
    await button.wait_for(state="visible")
    # The run's events, as a second viewer sees them: it must end with `complete{cancelled}`.
    async with aiohttp.ClientSession() as session:
        watcher = asyncio.create_task(read_run(session, found.events_url, seconds=30))
        await button.click()
        events = await watcher
    complete = events[-1]
    assert (complete.event, complete.data["status"]) == ("complete", "cancelled")
    assert errors(events)[-1]["message"] == "Cancelled from the run page"

    await page.wait_for_selector("#outcome[data-status=cancelled]")
    assert await page.inner_text("#outcome .outcome-text") == (
        "The run was cancelled from the run page."
    )
    assert await button.is_hidden()
    assert len(await page.evaluate("window.livebot.answerText()")) < len("slow " * 2000)
    (comment,) = bot_comments(fake_github)
    # The text written before the cancel stays above the note.
    assert "\n\n---\n\n⏹️ Cancelled from the run page." in comment["body"]
    assert await axe_violations(page) == []
    await page.context.close()


async def test_running_page_shows_viewers_and_cancel_light_and_dark(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, title="Why does the loop crash?")
    await run_log.append(run_id, "status", {"state": "running", "message": "Reading the thread"})
    await run_log.append(
        run_id, "tool_call", {"name": "read_file", "arguments": {"path": "bot/router.py"}}
    )
    await run_log.append(run_id, "tool_result", {"name": "read_file", "summary": "88 lines"})
    await run_log.append(run_id, "status", {"state": "running", "message": "Writing the answer"})
    await run_log.append(run_id, "token", {"text": PYTHON_ANSWER})
    pages = []
    for dark in (False, True):
        page = await new_page(browser, dark=dark)
        await page.goto(link(web_server, run_id))
        await page.wait_for_selector("#answer pre code.hljs")
        pages.append(page)
    for dark, page in zip((False, True), pages, strict=True):
        await viewers_shown(page, 2)
        assert await page.locator("#cancel").is_visible()
        assert await page.locator("#cancel").is_enabled()
        assert await axe_violations(page) == []
        await shoot(page, f"running-{'dark' if dark else 'light'}")
    for page in pages:
        await page.context.close()
