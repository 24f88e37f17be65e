"""`livebot demo` in Chromium: an index of recorded runs, stable links, no run left running."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from livebot.demo.recordings import (
    DEMO_THINKING,
    MAX_PLAYING,
    RECORDINGS,
    REPLACED,
    REVIEW_FINDINGS,
    TIMEOUT_MESSAGE,
)
from livebot.runs.events import EVENT_TYPES
from tests.sse import SseEvent, read_events
from tests.support import ServerProcess, clean_env, eventually, free_port, livebot_process
from tests.test_browser import TIMEOUT_MS, browser  # noqa: F401  (a fixture)

LINK = re.compile(r"open (\S+)")
ENDED = ", ".join(
    f"#state-label[data-state={state}]" for state in ("succeeded", "failed", "cancelled")
)


def demo(tmp_path: Path, *args: str) -> ServerProcess:
    """`livebot demo` as a person runs it: no setting but where to listen."""
    env = clean_env(LIVEBOT_DATA_DIR=str(tmp_path / "data"))
    return livebot_process(
        "demo", *args, port=free_port(), env=env, log_path=tmp_path / "demo.log", cwd=tmp_path
    )


async def start_demo(server: ServerProcess) -> str:
    """Start the demo; the index link it printed (the last, after a restart)."""
    printed = len(LINK.findall(server.log()))
    await server.start()
    links = await eventually(
        lambda: LINK.findall(server.log())[printed:], "the demo's link", seconds=30
    )
    return str(links[0])


async def state_of(run_page_url: str) -> dict[str, Any]:
    """The run's state as JSON, from its page's address."""
    state_url = run_page_url.replace("?token=", "/state?token=")
    async with aiohttp.ClientSession() as session, session.get(state_url) as resp:
        assert resp.status == 200
        state: dict[str, Any] = await resp.json()
        return state


async def events_of(run_page_url: str) -> list[SseEvent]:
    """A finished run's events, from its page's address."""
    url = run_page_url.replace("?token=", "/events?token=")
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await read_events(resp)


async def test_every_recording_plays_again_from_the_index(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    server = demo(tmp_path, "--speed", "4")
    index = await start_demo(server)
    try:
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS * 3)
        outcomes, sentences, labels, titles, pages = {}, {}, {}, {}, {}
        for name in RECORDINGS:
            await page.goto(index)
            await page.click(f"#play-{name}")
            await page.wait_for_url("**/runs/**")
            label = page.locator("#state-label")
            # A demo run is stopped as a real one is, from its page.
            await page.locator("#cancel").wait_for()
            await page.locator(ENDED).wait_for()
            outcomes[name] = await label.get_attribute("data-state")
            sentences[name] = await page.inner_text("#outcome .outcome-text")
            labels[name] = await page.inner_text("#run-workflow")
            titles[name] = await page.title()
            pages[name] = page.url
            # The demo's repository is made up: nothing on the page links to it.
            assert await page.locator("a[href*='github.com']").count() == 0
            assert "(an example)" in await page.inner_text("#run-repo")
            if name == "review":
                findings = page.locator("#findings li.finding")
                assert await findings.count() == len(REVIEW_FINDINGS)
                assert await findings.first.get_attribute("data-severity") == "major"
                assert await findings.first.locator(".finding-title code").inner_text() == "None"
                removed = findings.first.locator(".suggestion .diff-del")
                assert await removed.inner_text() == "-" + REPLACED[("app/config.py", 12)]
                assert await page.inner_text("#answer-caption") == "reviewed"
        assert outcomes == {
            "answer": "succeeded",
            "review": "succeeded",
            "failure": "failed",
            "cancel": "cancelled",
        }
        assert labels == {
            "answer": "Answer",
            "review": "Review pull request",
            "failure": "Answer",
            "cancel": "Answer",
        }
        # The failure's cause is on the page, and no comment on GitHub is promised.
        assert sentences == {
            "answer": "The answer is complete.",
            "review": "The review is complete.",
            "failure": f"The run did not finish. {TIMEOUT_MESSAGE}.",
            "cancel": "The run was cancelled by @octocat.",
        }
        assert titles["failure"].startswith("✕ Failed · ")
        assert titles["cancel"].startswith("⊘ Cancelled · ")
        # Played again: a second, separate run of the same recording.
        first = page.url
        await page.goto(index)
        await page.click("#play-failure")
        await page.wait_for_url("**/runs/**")
        assert page.url != first
        review = await events_of(pages["review"])
        answer = await events_of(pages["answer"])
        failure = await events_of(pages["failure"])
    finally:
        await server.stop()
    call = next(
        e.data for e in review if e.event == "tool_call" and e.data["name"] == "submit_review"
    )
    assert call["arguments"]["findings"] == REVIEW_FINDINGS
    result = next(
        e.data for e in review if e.event == "tool_result" and e.data["name"] == "submit_review"
    )
    posted = [
        {k: v for k, v in f.items() if k not in ("placement", "replaced")}
        for f in result["findings"]
    ]
    assert posted == REVIEW_FINDINGS
    assert {
        (f["path"], f["line"]): f["replaced"] for f in result["findings"] if "replaced" in f
    } == (REPLACED)
    assert {f["placement"] for f in result["findings"]} == {"inline"} and result["summary"]
    assert [e.data["recoverable"] for e in failure if e.event == "error"] == [True, False]
    # The answer's model thinks first (once the run log takes `thinking` events), apart from
    # the answer.
    thought = "".join(e.data["text"] for e in answer if e.event == "thinking")
    assert thought == (DEMO_THINKING if "thinking" in EVENT_TYPES else "")
    assert DEMO_THINKING not in "".join(e.data["text"] for e in answer if e.event == "token")
    assert failure[-1].event == "complete" and failure[-1].data["status"] == "failed"


async def test_the_link_survives_a_restart_and_no_run_stays_running(tmp_path: Path) -> None:
    server = demo(tmp_path, "--speed", "0.05")
    index = await start_demo(server)
    try:
        async with aiohttp.ClientSession() as session:
            play = index.replace("/demo?", "/demo/answer?")
            async with session.post(play, allow_redirects=False) as resp:
                assert resp.status == 303
                run_page = f"{server.url}{resp.headers['Location']}"
        assert (await state_of(run_page))["status"] in ("queued", "running")
        # Anyone with the link can press Play: what plays at once is bounded.
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(MAX_PLAYING):
                async with session.post(play, allow_redirects=False) as resp:
                    statuses.append(resp.status)
        assert statuses == [303] * (MAX_PLAYING - 1) + [429]
        # Stopped (SIGTERM) while the runs were playing at a twentieth of their speed.
        assert await server.stop() == 0
        assert await start_demo(server) == index
        async with aiohttp.ClientSession() as session, session.get(index) as resp:
            assert resp.status == 200
        state = await state_of(run_page)
    finally:
        await server.stop()
    assert state["status"] == "cancelled"


async def test_cancel_on_a_demo_page_plays_the_cancel(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    server = demo(tmp_path, "--speed", "0.1")
    index = await start_demo(server)
    try:
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS * 3)
        await page.goto(index)
        await page.click("#play-answer")
        await page.wait_for_url("**/runs/**")
        await page.locator("#state-label[data-state=running]").wait_for()
        assert (await page.title()).startswith("● Running · ")
        await page.click("#cancel")
        await page.locator("#state-label[data-state=cancelled]").wait_for()
        assert await page.inner_text("#outcome .outcome-text") == (
            "The run was cancelled from the run page."
        )
        assert (await page.title()).startswith("⊘ Cancelled · ")
        assert await page.locator("#cancel").is_hidden()
        events = await events_of(page.url)
    finally:
        await server.stop()
    errors = [e.data for e in events if e.event == "error"]
    assert [(e["code"], e["message"]) for e in errors] == [
        ("cancelled", "Cancelled from the run page")
    ]
    assert events[-1].event == "complete" and events[-1].data["status"] == "cancelled"
