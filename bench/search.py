"""`search_code` and the event loop: `python -m bench.search --megabytes 52`.

Fills a snapshot with `--megabytes` of this project's own Python files (copied under new paths)
and searches it while a probe on the same event loop wakes every millisecond and records how
late it woke: what a `/healthz` or a live page served by that process would wait. Before: each
line searched on the event loop (as `search_code` did, with the standard `re`); after:
`bot.search` (RE2 in a thread, one deadline). Also after: a backtracking pattern over long lines
of `a`, which took the per-line search 2 s a line. Reports the search's time and the probe's lag.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.measure import RESULTS_DIR, latency_summary, table, write_json
from livebot.code.search import SearchError, search

ROOT = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--megabytes", type=int, default=52, help="snapshot size (default 52)")
    return parser


def _texts(megabytes: int) -> list[tuple[str, str]]:
    sources = [p.read_text() for p in sorted((ROOT / "bot").rglob("*.py"))]
    texts: list[tuple[str, str]] = []
    size = 0
    while size < megabytes * 1_000_000:
        text = sources[len(texts) % len(sources)]
        texts.append((f"copy{len(texts)}.py", text))
        size += len(text)
    return texts


def _on_the_loop(texts: list[tuple[str, str]], query: str) -> int:
    """The search as it was: every line of every file, on the event loop."""
    pattern = re.compile(query)
    return sum(1 for _, text in texts for line in text.splitlines() if pattern.search(line))


async def _measure(search_once: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    lags_us: list[int] = []
    done = False

    async def probe() -> None:
        while not done:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            lags_us.append(int((time.perf_counter() - asked - 0.001) * 1e6))

    probing = asyncio.create_task(probe())
    await asyncio.sleep(0.05)
    lags_us.clear()
    started = time.perf_counter()
    try:
        outcome = str(await search_once())
    except SearchError as exc:
        outcome = str(exc)[:40]
    seconds = time.perf_counter() - started
    done = True
    await probing
    return {"seconds": seconds, "outcome": outcome, "lag": latency_summary(lags_us)}


async def _after(texts: list[tuple[str, str]], query: str) -> int:
    return (await search(texts, query, None)).total


async def main(megabytes: int) -> None:
    """Run every case once and print the table."""
    texts = _texts(megabytes)
    hostile = [("a.txt", ("a" * 5000 + "!\n") * 5)]
    literal = "no such line anywhere"

    async def before() -> int:
        return _on_the_loop(texts, re.escape(literal))

    cases = {
        f"literal, {megabytes} MB, before (per line, on the loop)": before,
        f"literal, {megabytes} MB, after (RE2, thread)": lambda: _after(texts, literal),
        rf"regex `def \w+\(self`, {megabytes} MB, after": lambda: _after(texts, r"def \w+\(self"),
        "`(a|aa)+$`, 5 lines of 5,000 a, after": lambda: _after(hostile, "(a|aa)+$"),
        "`((((a{100}){100}){100}){100})`, after": lambda: _after(
            hostile, "((((a{100}){100}){100}){100})"
        ),
    }
    results = {name: await _measure(run) for name, run in cases.items()}
    rows = [
        [name, r["seconds"], *(r["lag"][f"{q}_ms"] for q in ("p50", "p99", "max")), r["outcome"]]
        for name, r in results.items()
    ]
    header = ["case", "search s", "lag p50 ms", "lag p99 ms", "lag max ms", "matches / error"]
    print(table(header, rows))
    write_json(RESULTS_DIR / "search.json", {"megabytes": megabytes, "cases": results})


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args().megabytes))
