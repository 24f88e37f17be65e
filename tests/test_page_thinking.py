"""A reasoning model's thinking on the live page, in headless Chromium: a folded "Thinking…"
section above the answer that grows live, opens on a click, survives a restart of the server
and replays, and never mixes into the answer.

Runs `livebot web` like tests/test_page.py and appends `thinking` and `token` events with the
real RunLog. Screenshots go to PAGE_SHOTS (light and dark, desktop and 390 px wide).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from livebot.runs.log import RunLog
from tests.support import ServerProcess
from tests.test_browser import (  # noqa: F401 (the fixtures browser and web_server)
    COMMENT_URL,
    answer_text,
    browser,
    link,
    wait_for_answer,
    web_server,
)
from tests.test_page import PHONE, assert_clean, new_run, open_page, shoot

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

THOUGHTS = (
    "The user asks why the loop crashes. ",
    "Let me look at bot/router.py: range(len(xs) + 1) goes one past the end, ",
    "so xs[len(xs)] raises IndexError.\n\nThe fix is to iterate over xs itself.",
)
ANSWER = "The loop reads one element past the end of `xs`: drop the `+ 1`.\n"


async def thinking_text(page: Any) -> str:
    return str(await page.evaluate("window.livebot.thinkingText()"))


async def wait_for_thinking(page: Any, text: str) -> None:
    """Wait until the page's raw thinking is exactly `text`."""
    await page.wait_for_function(
        "(t) => window.livebot && window.livebot.thinkingText() === t", arg=text
    )


async def is_open(page: Any) -> bool:
    return bool(await page.evaluate("document.getElementById('thinking').open"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_thinking_grows_folded_above_the_answer_and_stays_out_of_it(
    browser: Any, web_server: ServerProcess, run_log: RunLog, scheme: str
) -> None:
    run_id = await new_run(run_log)
    page = await open_page(browser, link(web_server, run_id), dark=scheme == "dark")
    await page.wait_for_selector("#connection[data-state=open]")
    section = page.locator("#thinking")
    assert await section.is_hidden(), "no thinking yet: no section"
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})

    # The first piece shows the section, folded, saying the model is thinking.
    await run_log.append(run_id, "thinking", {"text": THOUGHTS[0]})
    await wait_for_thinking(page, THOUGHTS[0])
    await section.wait_for(state="visible")
    assert await section.get_attribute("data-state") == "thinking"
    assert await page.inner_text("#thinking-label") == "Thinking…"
    assert not await is_open(page), "the thinking is folded by default"
    assert await page.locator("#thinking-text").is_hidden()
    # Above the answer, in the answer's box.
    above = await page.evaluate(
        "document.getElementById('thinking').compareDocumentPosition("
        "document.getElementById('answer')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert above, "the thinking section is not above the answer"

    # It grows live while folded, and a click opens it on everything so far.
    await run_log.append(run_id, "thinking", {"text": THOUGHTS[1]})
    await wait_for_thinking(page, THOUGHTS[0] + THOUGHTS[1])
    assert not await is_open(page), "new thinking opened the section by itself"
    await shoot(page, f"thinking-folded-desktop-{scheme}")
    await page.click("#thinking summary")
    assert await is_open(page)
    await page.locator("#thinking-text").wait_for(state="visible")
    await run_log.append(run_id, "thinking", {"text": THOUGHTS[2]})
    thoughts = "".join(THOUGHTS)
    await wait_for_thinking(page, thoughts)
    assert await page.inner_text("#thinking-text") == thoughts
    await shoot(page, f"thinking-open-desktop-{scheme}")

    # The answer follows; the thinking stays where it was and out of the answer.
    for piece in (ANSWER[:20], ANSWER[20:]):
        await run_log.append(run_id, "token", {"text": piece})
    await wait_for_answer(page, ANSWER)
    assert await section.get_attribute("data-state") == "done"
    assert await page.inner_text("#thinking-label") != "Thinking…"
    assert await thinking_text(page) == thoughts
    rendered = await page.inner_text("#answer")
    assert "IndexError" not in rendered and "The user asks" not in rendered, rendered
    assert await answer_text(page) == ANSWER
    await shoot(page, f"thinking-answered-desktop-{scheme}")
    await run_log.append(
        run_id,
        "complete",
        {"status": "succeeded", "comment_url": COMMENT_URL, "usage": {}},
    )
    await page.wait_for_selector("body[data-run-state=complete]")
    assert await thinking_text(page) == thoughts
    assert_clean(page)

    # Replayed from the start on a phone: folded again, whole, and still apart from the answer.
    url = link(web_server, run_id)
    phone = await open_page(browser, url, viewport=PHONE, dark=scheme == "dark")
    await phone.wait_for_selector("body[data-run-state=complete]")
    assert await thinking_text(phone) == thoughts
    assert await answer_text(phone) == ANSWER
    assert not await is_open(phone)
    await shoot(phone, f"thinking-finished-390-{scheme}")
    await phone.click("#thinking summary")
    await phone.locator("#thinking-text").wait_for(state="visible")
    await shoot(phone, f"thinking-open-390-{scheme}")
    assert "IndexError" not in await phone.inner_text("#answer")
    assert_clean(phone)


async def test_thinking_resumes_across_a_restart_and_is_in_the_state(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    page = await open_page(browser, link(web_server, run_id))
    await page.wait_for_selector("#connection[data-state=open]")
    await run_log.append(run_id, "thinking", {"text": THOUGHTS[0]})
    await wait_for_thinking(page, THOUGHTS[0])

    # Appended while the server is down: the page resumes after the last id, nothing twice.
    assert await web_server.stop() == 0
    await page.wait_for_selector("#connection[data-state=reconnecting]")
    await run_log.append(run_id, "thinking", {"text": THOUGHTS[1]})
    await run_log.append(run_id, "token", {"text": ANSWER})
    await web_server.start()
    await page.wait_for_selector("#connection[data-state=open]", timeout=15_000)
    await wait_for_answer(page, ANSWER)
    assert await thinking_text(page) == THOUGHTS[0] + THOUGHTS[1]
    # Folded: the text is there, not shown.
    assert await page.text_content("#thinking-text") == THOUGHTS[0] + THOUGHTS[1]

    state_url = link(web_server, run_id).replace("?", "/state?", 1)
    async with aiohttp.ClientSession() as http, http.get(state_url) as resp:
        state = await resp.json()
    assert state["thinking"] == THOUGHTS[0] + THOUGHTS[1]
    assert state["text"] == ANSWER
    assert_clean(page)
