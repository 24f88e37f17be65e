"""The live page in a real browser: headless Chromium (Debian's) driven by Playwright.

Each test runs `livebot web` as a subprocess on the suite's Redis, appends a run's events from
Python through the run log and watches what the page shows. Without Chromium or Playwright the
tests skip, unless REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from livebot.runs.links import run_url
from livebot.runs.log import RunLog, RunWriter, new_run_id
from tests.support import (
    PUBLIC,
    SLUG,
    WEBHOOK_SECRET,
    ServerProcess,
    clean_env,
    free_port,
    livebot_process,
)

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LINK_SECRET = "browser-test-link-secret-of-32-bytes-or-more"
COMMENT_URL = "https://github.com/octo/hello/issues/42#issuecomment-4242"
TIMEOUT_MS = 10_000

# A Markdown answer with a bit of everything the page must render, and raw HTML it must not run.
ANSWER = (
    "## Why the loop crashes\n\n"
    "The loop in `bot/router.py` reads one element past the end of the list:\n\n"
    "- `range(len(xs) + 1)` yields the index `len(xs)`;\n"
    "- `xs[len(xs)]` raises `IndexError`.\n\n"
    "```python\n"
    "for i in range(len(xs) + 1):\n"
    "    print(xs[i])\n"
    "```\n\n"
    "| file | line | fix |\n"
    "|---|---|---|\n"
    "| bot/router.py | 42 | iterate over `xs` itself |\n\n"
    "<script>window.pwned=1</script>\n\n"
    "Drop the `+ 1` and the crash goes away.\n"
)
LAST_SENTENCE = "Drop the + 1 and the crash goes away."


# ------------------------------------------------------------------------------ fixtures


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing; fail instead when REQUIRE_BROWSER=1."""
    missing = []
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium (see `require_browser` for when it is missing)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


def link(server: ServerProcess, run_id: str) -> str:
    """A run's live page on `server`, with its token."""
    return run_url(server.url, LINK_SECRET.encode(), run_id)


@pytest.fixture
async def web_server(redis_url: str, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A running `livebot web` on the suite's Redis, which a test may stop and start again on
    the same port; its output is printed at teardown (pytest shows it for a failed test)."""
    env = clean_env(
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        GITHUB_APP_SLUG=SLUG,
        REDIS_URL=redis_url,
        LIVEBOT_LINK_SECRET=LINK_SECRET,
        LIVEBOT_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    # Its own working directory, so that no developer's .env leaks in.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log_path = tmp_path / "livebot-web.log"
    server = livebot_process("web", port=free_port(), env=env, log_path=log_path, cwd=cwd)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        print(f"----- output of livebot web ({server.log_path}):\n{server.log()}")


@dataclass
class Watched:
    """A page, with the script errors and CSP violations it reported."""

    page: Any
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        console = "\n".join(self.console)
        assert self.errors == [], f"errors on the page: {self.errors}\nconsole:\n{console}"
        assert self.csp == [], f"Content-Security-Policy violations: {self.csp}"


async def watch(browser: Any) -> Watched:
    """A new page whose errors and CSP violations are collected."""
    page = await browser.new_page(viewport={"width": 1000, "height": 800})
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    def on_console(message: Any) -> None:
        watched.console.append(f"{message.type}: {message.text}")
        if "Content Security Policy" in message.text:
            watched.csp.append(message.text)

    page.on("console", on_console)
    return watched


# ------------------------------------------------------------------------------ helpers


def pieces(text: str, seed: int = 2) -> list[str]:
    """The text cut into token-sized pieces (1 to 6 characters), as a model would stream it."""
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        out.append(text[i : i + n])
        i += n
    assert "".join(out) == text
    return out


async def stream(writer: RunWriter, text: str, *, delay: float = 0.008) -> None:
    """Feed the text to the coalescing writer at about a fast model's pace, then flush it."""
    for piece in pieces(text):
        writer.token(piece)
        await asyncio.sleep(delay)
    await writer.flush()


async def answer_text(page: Any) -> str:
    text: str = await page.evaluate("window.livebot.answerText()")
    return text


async def wait_for_answer(page: Any, text: str) -> None:
    """Wait until the page's raw answer is exactly `text`; else show how it differs."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(
            "(t) => window.livebot && window.livebot.answerText() === t", arg=text
        )
    except PlaywrightTimeout:
        assert await answer_text(page) == text, "the page's answer is not the text appended"
        raise


async def new_run(run_log: RunLog, title: str) -> str:
    return await run_log.create(
        workflow="answer", repository="octo/hello", number=42, fields={"title": title, **PUBLIC}
    )


# ------------------------------------------------------------------------------ tests


async def test_streamed_markdown_is_rendered_safely(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, "Why does the loop crash?")
    writer = run_log.writer(run_id)
    watched = await watch(browser)
    page = watched.page

    response = await page.goto(link(web_server, run_id))
    assert response is not None and response.status == 200
    await page.wait_for_selector("#connection[data-state=open]")
    await writer.status("running", "Reading the issue")
    await page.wait_for_selector("#status:has-text('Reading the issue')")
    await writer.emit("tool_call", {"name": "read_file", "arguments": {"path": "bot/router.py"}})

    # Live: the first half is rendered while the run is still going.
    half = ANSWER.index("```python")
    await stream(writer, ANSWER[:half])
    await wait_for_answer(page, ANSWER[:half])
    await page.wait_for_selector("#answer h2")
    assert await page.get_attribute("body", "data-run-state") == "streaming"
    assert await page.locator("#outcome").is_hidden()
    await stream(writer, ANSWER[half:])
    await writer.complete(
        "succeeded", comment_url=COMMENT_URL, usage={"prompt_tokens": 812, "completion_tokens": 96}
    )
    await page.wait_for_selector("body[data-run-state=complete]")

    assert await answer_text(page) == ANSWER
    assert await page.inner_text("#answer h2") == "Why the loop crashes"
    assert await page.locator("#answer ul > li").count() == 2
    assert "print(xs[i])" in await page.inner_text("#answer pre code")
    assert await page.locator("#answer table td", has_text="bot/router.py").count() == 1
    assert await page.locator("#activity [data-tool=read_file]").count() == 1
    # Raw HTML in the answer is shown as text, never run.
    assert await page.locator("#answer script").count() == 0
    assert "<script>window.pwned=1</script>" in await page.inner_text("#answer")
    assert await page.evaluate("typeof window.pwned") == "undefined"

    outcome = page.locator("#outcome[data-status=succeeded]")
    await outcome.wait_for(state="visible")
    assert await outcome.locator(f'a[href="{COMMENT_URL}"]').count() == 1
    watched.assert_clean()


async def test_page_resumes_across_a_server_restart_without_repeating_text(
    browser: Any, web_server: ServerProcess, run_log: RunLog, tmp_path: Path
) -> None:
    run_id = await new_run(run_log, "Restart me")
    writer = run_log.writer(run_id)
    cut1 = ANSWER.index("```python")
    cut2 = ANSWER.index("| file")
    part1, part2, part3 = ANSWER[:cut1], ANSWER[cut1:cut2], ANSWER[cut2:]
    watched = await watch(browser)
    page = watched.page

    await page.goto(link(web_server, run_id))
    await page.wait_for_selector("#connection[data-state=open]")
    await writer.status("running", "Writing the answer")
    await stream(writer, part1)
    await wait_for_answer(page, part1)

    # The server goes away mid-run; the page says so, and the run goes on without it.
    code = await web_server.stop()
    assert code == 0, f"livebot web exited with {code} on SIGTERM"
    connection = page.locator("#connection[data-state=reconnecting]")
    await connection.wait_for(state="visible")
    assert await connection.inner_text() == "reconnecting…"
    await stream(writer, part2)
    assert await answer_text(page) == part1

    # A new server on the same port: the page resumes from where it was, then follows live.
    await web_server.start()
    await page.wait_for_selector("#connection[data-state=open]", timeout=15_000)
    await wait_for_answer(page, part1 + part2)
    await stream(writer, part3)
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    await page.wait_for_selector("body[data-run-state=complete]")
    await page.wait_for_selector("#outcome[data-status=succeeded]")

    assert await answer_text(page) == ANSWER
    rendered = await page.inner_text("#answer")
    assert rendered.count(LAST_SENTENCE) == 1, rendered
    assert rendered.count("Why the loop crashes") == 1, rendered
    assert rendered.count("print(xs[i])") == 1, rendered
    assert await page.locator("#answer table").count() == 1
    assert await page.locator("#answer pre code").count() == 1
    watched.assert_clean()

    screenshot = tmp_path / "finished-page.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the finished page: {screenshot}")


async def test_finished_run_replays_and_expired_run_says_so(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, "Already answered")
    await run_log.append(run_id, "status", {"state": "running", "message": "Writing the answer"})
    for start in range(0, len(ANSWER), 40):
        await run_log.append(run_id, "token", {"text": ANSWER[start : start + 40]})
    await run_log.append(
        run_id, "complete", {"status": "succeeded", "comment_url": COMMENT_URL, "usage": {}}
    )

    watched = await watch(browser)
    page = watched.page
    await page.goto(link(web_server, run_id))
    await page.wait_for_selector("body[data-run-state=complete]")
    assert await answer_text(page) == ANSWER
    assert await page.inner_text("#answer h2") == "Why the loop crashes"
    await page.locator("#outcome[data-status=succeeded]").wait_for(state="visible")
    assert await page.locator(f'#outcome a[href="{COMMENT_URL}"]').count() == 1
    assert await page.locator("#expired").is_hidden()
    watched.assert_clean()

    # A link with a valid token for a run whose log is gone (or never was).
    gone = new_run_id()
    response = await page.goto(link(web_server, gone))
    assert response is not None and response.status == 410
    assert "This run's log is gone" in await page.inner_text("#error-message")
    # A wrong token is not a way to learn whether a run exists.
    wrong = re.sub(r"token=\w+", "token=" + "0" * 32, link(web_server, run_id))
    response = await page.goto(wrong)
    assert response is not None and response.status == 404
    watched.assert_clean()


async def test_a_reloaded_page_is_one_viewer_not_two(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, "Watched")
    await run_log.append(run_id, "status", {"state": "running", "message": "Writing the answer"})
    watched = await watch(browser)
    page = watched.page
    await page.goto(link(web_server, run_id))
    viewers = page.locator("#viewers")
    await page.locator("#viewers[data-count='1']").wait_for()
    # The old page's stream is still open on the server when the new one connects: the count
    # it is first told must not take the same tab for two people.
    await page.reload()
    await page.locator("#viewers:not([hidden])").wait_for()
    assert await viewers.get_attribute("data-count") == "1"
    assert await viewers.inner_text() == "1 person watching"
    # Another tab is another viewer.
    other = await watch(browser)
    await other.page.goto(link(web_server, run_id))
    await page.locator("#viewers[data-count='2']").wait_for(timeout=TIMEOUT_MS * 2)
    watched.assert_clean()
    other.assert_clean()


def test_missing_browser_skips_or_fails_as_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Chromium the browser tests skip, but fail when REQUIRE_BROWSER=1 (as in CI)."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium"):
        require_browser()
    monkeypatch.setenv("REQUIRE_BROWSER", "1")
    with pytest.raises(
        pytest.fail.Exception, match=r"REQUIRE_BROWSER=1 but .*/nonexistent/chromium"
    ):
        require_browser()
