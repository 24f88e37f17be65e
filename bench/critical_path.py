"""The critical path of a mention: webhook → placeholder on GitHub → first token on a viewer's page.

`python -m bench.critical_path --runs 10 --github-ms 150 --model-ms 300`

GitHub (every call answered after `--github-ms`) and the model (first token after `--model-ms`)
are the suite's fakes on loopback, in this process; `livebot serve` and Redis are real processes.
A viewer connects to the run's stream as soon as the webhook is answered, as a person who opens
the link at once would. Also counts the GitHub calls of each run, by route.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import RESULTS_DIR, table, write_json
from livebot.runs.links import run_url
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import (
    OWNER,
    REPO,
    SLUG,
    RedisServer,
    delivery,
    livebot_against_fakes,
    payload,
)

LINK_SECRET = "bench-link-secret-of-at-least-32-bytes!"
ANSWER = "The crash comes from `load()`: it reads the file before the folder exists. " * 8
REVIEW = "The change looks right; one finding on the new function. " * 4


def model(workflow: str) -> Reply:
    """What the fake model answers: straight text, or a review's text then `submit_review`."""
    if workflow == "answer":
        return Reply(text=ANSWER, chunk_size=8)
    finding = {
        "path": "src/f0.py",
        "line": 1,
        "severity": "minor",
        "title": "Name",
        "body": "A clearer name would help.",
    }
    submit = ToolCall("submit_review", {"summary": "Looks fine.", "findings": [finding]})
    return Reply.calls(submit, text=REVIEW, chunk_size=8)


async def _placeholder_posted(fake: FakeGitHub, number: int, before: int, started: float) -> float:
    # The fake runs in this process: a 2 ms poll of its state is the probe.
    while len(fake.comments_on(OWNER, REPO, number)) <= before:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def _first_token(session: aiohttp.ClientSession, url: str, started: float) -> float:
    async with session.get(url) as stream:
        async for line in stream.content:
            if line.startswith(b"event: token"):
                return time.perf_counter() - started
    raise RuntimeError("the stream ended without a token")


async def _until_finished(session: aiohttp.ClientSession, url: str) -> None:
    while True:
        async with session.get(url) as resp:
            if (await resp.json())["status"] in ("succeeded", "failed", "cancelled"):
                return
        await asyncio.sleep(0.02)


async def one_run(
    session: aiohttp.ClientSession,
    server_url: str,
    fake: FakeGitHub,
    event: str,
    data: dict[str, Any],
) -> dict[str, float | int]:
    """Deliver one mention; time the placeholder and the first token; count GitHub calls."""
    number = int(data["issue"]["number"])
    before_comments = len(fake.comments_on(OWNER, REPO, number))
    before_calls = len(fake.requests)
    raw, headers = delivery(event, data)
    started = time.perf_counter()
    async with session.post(f"{server_url}/webhook", data=raw, headers=headers) as resp:
        answer = await resp.json()
    acknowledged = time.perf_counter() - started
    page = run_url(server_url, LINK_SECRET.encode(), answer["run_id"])
    # A person opens the link once the placeholder shows it.
    placeholder = await _placeholder_posted(fake, number, before_comments, started)
    first_token = await _first_token(session, page.replace("?", "/events?"), started)
    await _until_finished(session, page.replace("?", "/state?"))
    return {
        "ack_ms": acknowledged * 1000,
        "placeholder_ms": placeholder * 1000,
        "first_token_ms": first_token * 1000,
        "github_calls": len(fake.requests) - before_calls,
    }


def pull_request_mention(fake: FakeGitHub, files: int, number: int) -> tuple[str, dict[str, Any]]:
    """A `review` mention on a new pull request that changes `files` files."""
    branch = f"feature-{number}"
    fake.push(OWNER, REPO, branch, {f"src/f{n}.py": f"value_{n} = {n}\n" for n in range(files)})
    pr = fake.add_pr(OWNER, REPO, branch, number=number)
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} review")
    data["issue"].update(number=pr["number"], pull_request={"url": pr["url"]})
    return "issue_comment", data


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, run the mentions, return the figures."""
    folder = Path(tempfile.mkdtemp(prefix="livebot-critical-"))
    redis = RedisServer(folder)
    await redis.start()
    fake_openai = FakeOpenAI(first_token_delay=args.model_ms / 1000)
    await fake_openai.start()
    async with FakeGitHub() as fake:
        fake.add_repo(OWNER, REPO, files={"README.md": "# hello\n", "app.py": "print(1)\n"})
        fake.add_issue(OWNER, REPO, 1, "It crashes", "It crashes on start.")
        question = payload(
            "issue_comment", "created.payload.json", body=f"@{SLUG} why does it crash?"
        )
        server = livebot_against_fakes(
            "serve",
            fake,
            fake_openai,
            redis_url=redis.url,
            folder=folder,
            link_secret=LINK_SECRET,
            log_path=folder / "serve.log",
            GITHUB_APP_SLUG=SLUG,
        )
        await server.start()
        fake.latency_ms = args.github_ms
        fake_openai.responder = lambda _: model(args.workflow)
        results = []
        try:
            async with aiohttp.ClientSession() as session:
                for number in range(2, 2 + args.runs):
                    # Each review is of a pull request of its own: a second review of the same
                    # one would be incremental, with nothing new to read.
                    event, data = (
                        ("issue_comment", question)
                        if args.workflow == "answer"
                        else pull_request_mention(fake, args.files, number)
                    )
                    results.append(await one_run(session, server.url, fake, event, data))
        finally:
            await server.stop()
            await fake_openai.close()
            await redis.stop()
        routes = Counter(
            f"{r.method} {r.path}" for r in fake.requests[-int(results[-1]["github_calls"]) :]
        )
    return {"settings": vars(args), "runs": results, "last_run_routes": dict(routes)}


def summary(results: list[dict[str, float | int]], key: str) -> tuple[float, float, float]:
    """(first run, median of the others, max of the others): the first one mints the token."""
    values = [float(r[key]) for r in results]
    rest = values[1:] or values
    return values[0], statistics.median(rest), max(rest)


def main() -> None:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.critical_path")
    parser.add_argument("--workflow", choices=("answer", "review"), default="answer")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--github-ms", type=float, default=150.0)
    parser.add_argument("--model-ms", type=float, default=300.0)
    parser.add_argument("--files", type=int, default=50, help="files the reviewed PR changes")
    args = parser.parse_args()
    figures = asyncio.run(measure(args))
    rows = []
    for key in ("ack_ms", "placeholder_ms", "first_token_ms", "github_calls"):
        first, median, worst = summary(figures["runs"], key)
        rows.append([key, f"{first:.0f}", f"{median:.0f}", f"{worst:.0f}"])
    print(
        f"critical path of `{args.workflow}`: GitHub {args.github_ms:.0f} ms per call, "
        f"model {args.model_ms:.0f} ms to its first token, {args.runs} runs"
    )
    print(table(["measure", "first run", "median (others)", "max (others)"], rows))
    print("GitHub calls of the last run:", json.dumps(figures["last_run_routes"], indent=1))
    write_json(RESULTS_DIR / f"critical_path_{args.workflow}.json", figures)


if __name__ == "__main__":
    main()
