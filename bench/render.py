"""Rendering the live page in Chromium: `python -m bench.render --repeat 3`.

Starts Redis and `livebot web`, and opens run pages in headless Chromium (Debian's
/usr/bin/chromium through Playwright, as tests/test_browser.py does) for three cases:

- live 2 MB: the page is open while a 2,000,000-character answer arrives through the coalescing
  writer (4 KB tokens); measured from the last event written to the answer fully rendered;
- finished 2 MB: the page opens on the same answer, finished; from navigation to fully rendered;
- long line: one 64,000-character line without spaces, in a paragraph and in a code block.

"Fully rendered" is the frame after #answer's aria-busy turned "false" (the page's contract:
all of the answer rendered), so style and layout of what is in view count too. Prints the median
and minimum over `--repeat` runs of each, the median of the page thread's longest task (the
page answers no input meanwhile) and of the CPU time Chromium used (all its processes and
threads: the work done, little changed by whatever else runs on the machine). `--profile DIR`
also writes a CPU profile of each case (in a round of its own, not counted; open them in
Chromium's DevTools) and prints where the page's thread spent its time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.measure import RESULTS_DIR, cpu_seconds, table, write_json
from bench.servers import bench_redis, temp_folder
from livebot.runs.log import RunLog
from livebot.store.client import connect
from tests.support import PUBLIC, SLUG, ServerProcess, clean_env, free_port, livebot_process
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, COMMENT_URL, LINK_SECRET, link
from tests.test_page import DESKTOP, big_answer

ANSWER_CHARS: Final = 2_000_000
TOKEN_CHARS: Final = 4096
LINE_CHARS: Final = 64_000
RENDER_TIMEOUT_MS: Final = 120_000
PROFILE_TOP: Final = 15
# Installed before the page's own scripts: notes when the answer is all rendered, and the
# frame after that (style and layout of what is in view included), in wall-clock ms; and the
# longest task of the page's thread (how long the page could not answer a click or a scroll).
WATCH_SCRIPT: Final = """
window.benchLongestTask = 0;
new PerformanceObserver((list) => {
  for (const task of list.getEntries()) {
    window.benchLongestTask = Math.max(window.benchLongestTask, task.duration);
  }
}).observe({ type: 'longtask', buffered: true });
new MutationObserver((records, observer) => {
  const answer = document.getElementById('answer');
  if (!answer || answer.getAttribute('aria-busy') !== 'false') return;
  if (document.body.dataset.runState !== 'complete') return;
  observer.disconnect();
  window.benchRenderedAt = Date.now();
  requestAnimationFrame(() => setTimeout(() => { window.benchPaintedAt = Date.now(); }, 0));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['aria-busy'] });
"""
CASES: Final = ("live 2 MB", "finished 2 MB", "64,000-char line")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--profile", type=Path, help="write CPU profiles into this folder")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "render.json", help="where to write results"
    )
    return parser


def web_server(redis_url: str) -> ServerProcess:
    """`livebot web` on `redis_url`, in a folder of its own (no developer's .env)."""
    folder = temp_folder("web")
    env = clean_env(
        GITHUB_WEBHOOK_SECRET="bench-webhook-secret",
        GITHUB_APP_SLUG=SLUG,
        REDIS_URL=redis_url,
        LIVEBOT_LINK_SECRET=LINK_SECRET,
        LIVEBOT_DATA_DIR=str(folder / "data"),
    )
    return livebot_process(
        "web", port=free_port(), env=env, log_path=folder / "web.log", cwd=folder
    )


@dataclass
class Sample:
    """One case, once: seconds to fully rendered, the page thread's longest task (ms), and the
    CPU seconds Chromium used meanwhile (all its threads: little changed by other load)."""

    seconds: float
    longest_task_ms: float
    cpu_s: float


def chromium_cpu() -> dict[int, float]:
    """CPU seconds used so far by each live Chromium process this benchmark started."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    ours = os.getpid()
    used: dict[int, float] = {}
    for pid in parents:
        ancestor = parents.get(pid, 0)
        while ancestor not in (0, 1, ours):
            ancestor = parents.get(ancestor, 0)
        if ancestor == ours and pid != ours:
            try:
                if "chromium" in Path(f"/proc/{pid}/comm").read_text():
                    used[pid] = cpu_seconds(pid)
            except OSError:
                continue
    return used


def cpu_since(before: dict[int, float]) -> float:
    """CPU seconds Chromium's processes used since `before` (those started since included)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in chromium_cpu().items())


def hot_functions(profile: dict[str, Any]) -> list[tuple[str, float]]:
    """The functions with the most self time in a CDP CPU profile, in ms."""
    names = {}
    for node in profile["nodes"]:
        frame = node["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1]
        name = frame["functionName"] or "(anonymous)"
        names[node["id"]] = f"{name} {where}:{frame['lineNumber']}"
    spent: Counter[str] = Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        spent[names[sample]] += delta / 1000
    return [(name, round(ms, 1)) for name, ms in spent.most_common(PROFILE_TOP)]


class Bench:
    """One browser and one server; each case opens a fresh page."""

    def __init__(self, browser: Any, server: ServerProcess, run_log: RunLog, profile: Path | None):
        self.browser = browser
        self.server = server
        self.run_log = run_log
        self.profile = profile
        self.text = big_answer(ANSWER_CHARS)

    async def new_run(self) -> str:
        return await self.run_log.create(
            workflow="answer",
            repository="bench/bench",
            number=1,
            fields={"title": "Long", **PUBLIC},
        )

    async def page(self, name: str, profile: bool) -> tuple[Any, Any]:
        context = await self.browser.new_context(viewport=DESKTOP)
        await context.add_init_script(WATCH_SCRIPT)
        page = await context.new_page()
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.on("pageerror", lambda error: print(f"{name}: page error: {error}"))
        cdp = None
        if profile and self.profile:
            cdp = await context.new_cdp_session(page)
            await cdp.send("Profiler.enable")
            await cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            await cdp.send("Profiler.start")
        return page, cdp

    async def finish(
        self, name: str, page: Any, cdp: Any, length: int, started: float, cpu: dict[int, float]
    ) -> Sample:
        """Wait for the page's answer and check its length; measured from `started` (epoch ms)
        and Chromium's CPU use `cpu` then."""
        await page.wait_for_function("() => window.benchPaintedAt", polling=100)
        shown = await page.evaluate("window.livebot.answerText().length")
        if shown != length:
            raise SystemExit(f"{name}: the page shows {shown} characters of {length}")
        painted: float = await page.evaluate("window.benchPaintedAt")
        longest: float = await page.evaluate("window.benchLongestTask")
        sample = Sample((painted - started) / 1000, longest, cpu_since(cpu))
        if cdp is not None:
            assert self.profile is not None
            profile = (await cdp.send("Profiler.stop"))["profile"]
            slug = name.replace(" ", "_").replace(",", "")
            self.profile.mkdir(parents=True, exist_ok=True)
            (self.profile / f"{slug}.cpuprofile").write_text(json.dumps(profile))
            print(f"\n{name}: self time of the page's hottest functions (ms)")
            print(table(["function", "ms"], hot_functions(profile)))
        await page.context.close()
        return sample

    async def live(self, profile: bool) -> Sample:
        """From the last event written to the answer painted (CPU: from the first event)."""
        run_id = await self.new_run()
        writer = self.run_log.writer(run_id)
        page, cdp = await self.page(CASES[0], profile)
        await page.goto(link(self.server, run_id))
        await page.wait_for_selector("#connection[data-state=open]")
        cpu = chromium_cpu()
        await writer.status("running", "Writing a long answer")
        for start in range(0, len(self.text), TOKEN_CHARS):
            writer.token(self.text[start : start + TOKEN_CHARS])
        await writer.complete("succeeded", comment_url=COMMENT_URL)
        written = time.time() * 1000
        return await self.finish(CASES[0], page, cdp, len(self.text), written, cpu)

    async def opened(self, name: str, text: str, profile: bool) -> Sample:
        """From navigation to the finished answer painted."""
        run_id = await self.new_run()
        for start in range(0, len(text), TOKEN_CHARS):
            await self.run_log.append(run_id, "token", {"text": text[start : start + TOKEN_CHARS]})
        await self.run_log.append(run_id, "complete", {"status": "succeeded"})
        cpu = chromium_cpu()
        page, cdp = await self.page(name, profile)
        await page.goto(link(self.server, run_id))
        origin: float = await page.evaluate("performance.timeOrigin")
        return await self.finish(name, page, cdp, len(text), origin, cpu)

    async def case(self, name: str, profile: bool) -> Sample:
        if name == CASES[0]:
            return await self.live(profile)
        if name == CASES[1]:
            return await self.opened(name, self.text, profile)
        line = "z" * LINE_CHARS
        return await self.opened(name, f"{line}\n\n```\n{line}\n```\n", profile)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Start Redis, the web server and Chromium; run every case `--repeat` times."""
    from playwright.async_api import async_playwright

    redis_server = bench_redis()
    await redis_server.start()
    server = web_server(redis_server.url)
    await server.start()
    redis = await connect(redis_server.url)
    samples: dict[str, list[Sample]] = {name: [] for name in CASES}
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            bench = Bench(browser, server, RunLog(redis, ttl_seconds=3600), args.profile)
            if args.profile:  # a round of its own: profiling slows the page down
                for name in CASES:
                    await bench.case(name, profile=True)
            for _ in range(args.repeat):
                for name in CASES:
                    sample = await bench.case(name, profile=False)
                    samples[name].append(sample)
                    print(
                        f"{name}: {sample.seconds:.2f} s, longest task"
                        f" {sample.longest_task_ms:.0f} ms, CPU {sample.cpu_s:.2f} s",
                        flush=True,
                    )
            await browser.close()
    finally:
        await redis.aclose()
        await server.stop()
        await redis_server.stop()
    return {
        "benchmark": "render",
        "answer_chars": ANSWER_CHARS,
        "token_chars": TOKEN_CHARS,
        "line_chars": LINE_CHARS,
        "results": {name: summary(samples[name]) for name in CASES},
    }


def summary(samples: list[Sample]) -> dict[str, Any]:
    """Median and minimum of a case's runs, and the runs."""
    seconds = [round(s.seconds, 3) for s in samples]
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "runs_s": seconds,
        "longest_task_median_ms": round(statistics.median(s.longest_task_ms for s in samples), 1),
        "cpu_median_s": round(statistics.median(s.cpu_s for s in samples), 3),
    }


def main() -> None:
    """Run the benchmark, print a table, write JSON."""
    args = _parser().parse_args()
    result = asyncio.run(main_async(args))
    rows = [
        [name, r["median_s"], r["min_s"], r["longest_task_median_ms"], r["cpu_median_s"]]
        for name, r in result["results"].items()
    ]
    header = ["case", "s to rendered, median", "min", "longest task ms", "Chromium CPU s"]
    print(table(header, rows))
    write_json(args.json, result)
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
