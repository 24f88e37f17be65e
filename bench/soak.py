"""Soak: `python -m bench.soak --minutes 20`.

One `livebot serve` (web and workers in one process) on a `redis-server` with append-only
persistence (`appendfsync always`: a SIGKILL loses no acknowledged write), GitHub and the model
faked in this process (tests/fake_github, tests/fake_openai.py). For `--minutes`:

- a mention every `--interval` seconds, delivered as GitHub does (signed); each run streams its
  answer for about two seconds;
- viewers join runs at random moments and leave after a random time, some only at the end;
- halfway, Redis is SIGKILLed and started again on the same port and files after `--outage`
  seconds; deliveries answered 503 meanwhile are sent again once /healthz is 200, as
  `livebot redeliver` would;
- every minute, the server's and Redis's resident memory and open descriptors are sampled.

At the end, every accepted mention must have its run completed (`succeeded` in /state, the answer
in its comment on GitHub), and nothing may have answered 5xx once /healthz was 200 again after the
restart. Prints a table of the samples and a summary; writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from bench.measure import RESULTS_DIR, rss_kb, table, write_json
from bench.servers import temp_folder
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.slowloris import open_descriptors
from tests.support import (
    ISSUE,
    OWNER,
    REPO,
    SLUG,
    RedisServer,
    ServerProcess,
    delivery,
    eventually,
    livebot_against_fakes,
    payload,
)

LINK_SECRET: Final = "soak-link-secret-of-at-least-32-bytes!!"
MENTION: Final = f"@{SLUG} why does it crash?"
ANSWER: Final = "It crashes because the folder is missing. " * 10
LINK: Final = re.compile(r"\((http://127\.0\.0\.1:\d+/runs/([0-9a-f]+)\?token=([0-9a-f]+))\)")
SAMPLE_SECONDS: Final = 60.0
FINISH_SECONDS: Final = 120.0
MAX_VIEWERS_PER_RUN: Final = 3
PERSISTENCE: Final = ("--appendonly", "yes", "--appendfsync", "always")


@dataclass
class Soak:
    """What the soak saw."""

    started: float = field(default_factory=time.monotonic)
    accepted: list[int] = field(default_factory=list)  # comment ids whose delivery got 202
    refused: list[tuple[bytes, dict[str, str], int]] = field(default_factory=list)  # 503s
    statuses: list[tuple[float, str, int]] = field(default_factory=list)  # (time, what, status)
    samples: list[dict[str, Any]] = field(default_factory=list)
    watched: set[str] = field(default_factory=set)  # runs viewers were sent to
    viewers: int = 0
    viewer_errors: int = 0
    recovered_at: float | None = None

    def now(self) -> float:
        """Seconds since the start."""
        return round(time.monotonic() - self.started, 2)


def mention(fake: FakeGitHub) -> tuple[int, bytes, dict[str, str]]:
    """A trusted mention posted on the fake, and its signed delivery."""
    comment = fake.add_comment(OWNER, REPO, ISSUE, MENTION, user="Codertocat")
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    data["issue"].pop("pull_request", None)
    data["comment"]["id"] = comment["id"]
    raw, headers = delivery("issue_comment", data)
    return comment["id"], raw, headers


async def deliver(
    session: aiohttp.ClientSession,
    server: ServerProcess,
    soak: Soak,
    raw: bytes,
    headers: dict[str, str],
    cid: int,
) -> None:
    """POST one delivery; a 503 is kept to be sent again."""
    try:
        async with session.post(f"{server.url}/webhook", data=raw, headers=headers) as resp:
            status = resp.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    soak.statuses.append((soak.now(), "webhook", status))
    if status == 202:
        soak.accepted.append(cid)
    else:
        soak.refused.append((raw, headers, cid))


async def view(session: aiohttp.ClientSession, url: str, soak: Soak) -> None:
    """One viewer: joins after a while, reads for a random time (or to the end), leaves."""
    await asyncio.sleep(random.uniform(0, 3))
    stay = random.choice([0.5, 1.5, 5.0, 60.0])
    soak.viewers += 1
    try:
        async with asyncio.timeout(stay), session.get(url) as resp:
            soak.statuses.append((soak.now(), "events", resp.status))
            async for _ in resp.content.iter_any():
                pass
    except TimeoutError:
        pass
    except aiohttp.ClientError:
        soak.viewer_errors += 1


def sample(soak: Soak, server: ServerProcess, redis: RedisServer) -> None:
    """Memory and descriptors of the server and of Redis, now."""
    soak.samples.append(
        {
            "minute": round(soak.now() / 60, 1),
            "server_rss_mb": round(rss_kb(server.pid) / 1024, 1) if server.running() else None,
            "server_fds": open_descriptors(server.pid),
            "redis_rss_mb": round(rss_kb(redis.pid) / 1024, 1) if redis.running() else None,
            "redis_fds": open_descriptors(redis.pid) if redis.running() else None,
            "runs_accepted": len(soak.accepted),
            "viewers_so_far": soak.viewers,
        }
    )


async def restart_redis(
    redis: RedisServer, server: ServerProcess, soak: Soak, outage: float
) -> None:
    """SIGKILL Redis, start it again after `outage` seconds; note when /healthz is 200 again."""
    redis.kill()
    soak.statuses.append((soak.now(), "redis killed", 0))
    await asyncio.sleep(outage)
    await redis.start()
    await eventually(lambda: asyncio.to_thread(server.healthy), "/healthz after the restart", 120)
    soak.recovered_at = soak.now()


async def finished(
    session: aiohttp.ClientSession, server: ServerProcess, fake: FakeGitHub
) -> dict[str, Any]:
    """The runs the bot's comments link to, and how many succeeded with the answer posted."""
    comments = [
        c for c in fake.comments_on(OWNER, REPO, ISSUE) if c["user"]["login"] == fake.bot_login
    ]
    states: dict[str, str] = {}
    for comment in comments:
        match = LINK.search(comment["body"])
        if match is None:
            states[str(comment["id"])] = "no link"
            continue
        url = f"{server.url}/runs/{match[2]}/state?token={match[3]}"
        async with session.get(url) as resp:
            status = (await resp.json())["status"] if resp.status == 200 else f"http {resp.status}"
        answered = ANSWER.strip() in comment["body"]
        states[match[2]] = status if answered or status != "succeeded" else "succeeded, not posted"
    return {"comments": len(comments), "states": states}


async def soak_run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole soak; its results."""
    folder = temp_folder("soak")
    redis = RedisServer(folder, *PERSISTENCE)
    await redis.start()
    fake_openai = FakeOpenAI(default=Reply(text=ANSWER, chunk_size=8, delay=0.04))
    await fake_openai.start()
    soak = Soak()
    async with FakeGitHub() as fake:
        fake.add_repo(OWNER, REPO, description="A soak repository")
        fake.add_file(OWNER, REPO, "README.md", "# hello-world\n")
        fake.add_issue(OWNER, REPO, ISSUE, "Why does it crash?", "It crashes on start.")
        server = livebot_against_fakes(
            "serve",
            fake,
            fake_openai,
            redis_url=redis.url,
            folder=folder,
            link_secret=LINK_SECRET,
            log_path=folder / "serve.log",
            LIVEBOT_WORKERS="4",
            LIVEBOT_LOG_FORMAT="json",
        )
        await server.start()
        try:
            result = await drive(args, soak, server, redis, fake)
        finally:
            await server.stop()
            await redis.stop()
            await fake_openai.close()
    result["log"] = str(server.log_path)
    result["log_bytes"] = server.log_path.stat().st_size
    result["tracebacks"] = server.log().count("Traceback")
    return result


async def drive(
    args: argparse.Namespace,
    soak: Soak,
    server: ServerProcess,
    redis: RedisServer,
    fake: FakeGitHub,
) -> dict[str, Any]:
    """Mentions, viewers, the restart and the samples, then the checks."""
    seconds = args.minutes * 60
    tasks: set[asyncio.Task[None]] = set()
    restart: asyncio.Task[None] | None = None
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        sample(soak, server, redis)
        next_sample = SAMPLE_SECONDS
        while soak.now() < seconds:
            cid, raw, headers = mention(fake)
            tasks.add(asyncio.create_task(deliver(session, server, soak, raw, headers, cid)))
            if restart is None and soak.now() >= seconds / 2:
                restart = asyncio.create_task(restart_redis(redis, server, soak, args.outage))
            if restart is not None and restart.done() and soak.refused:
                # Redelivered once Redis is back, as GitHub's redelivery would.
                for raw, headers, cid in soak.refused:
                    tasks.add(
                        asyncio.create_task(deliver(session, server, soak, raw, headers, cid))
                    )
                soak.refused.clear()
            await watch_new_runs(session, server, fake, soak, tasks)
            if soak.now() >= next_sample:
                sample(soak, server, redis)
                next_sample += SAMPLE_SECONDS
            tasks = {t for t in tasks if not t.done()}
            await asyncio.sleep(args.interval)
        if restart is not None:
            await restart
        for raw, headers, cid in soak.refused:
            await deliver(session, server, soak, raw, headers, cid)
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + FINISH_SECONDS
        outcome = await finished(session, server, fake)
        while time.monotonic() < deadline and not all_done(outcome, soak):
            await asyncio.sleep(1)
            outcome = await finished(session, server, fake)
        sample(soak, server, redis)
    return report(soak, outcome)


async def watch_new_runs(
    session: aiohttp.ClientSession,
    server: ServerProcess,
    fake: FakeGitHub,
    soak: Soak,
    tasks: set[asyncio.Task[None]],
) -> None:
    """Send up to MAX_VIEWERS_PER_RUN viewers to each placeholder not seen before."""
    for comment in fake.comments_on(OWNER, REPO, ISSUE):
        match = LINK.search(comment["body"])
        if comment["user"]["login"] != fake.bot_login or match is None or match[2] in soak.watched:
            continue
        soak.watched.add(match[2])
        url = match[1].replace("?token=", "/events?token=", 1)
        for _ in range(random.randint(0, MAX_VIEWERS_PER_RUN)):
            tasks.add(asyncio.create_task(view(session, url, soak)))


def all_done(outcome: dict[str, Any], soak: Soak) -> bool:
    """Every accepted mention has a run, and every run succeeded with its answer posted."""
    states = outcome["states"]
    return len(states) >= len(set(soak.accepted)) and all(s == "succeeded" for s in states.values())


def report(soak: Soak, outcome: dict[str, Any]) -> dict[str, Any]:
    """The results, as written to JSON."""
    recovered = soak.recovered_at if soak.recovered_at is not None else float("inf")
    after = [s for t, what, s in soak.statuses if t >= recovered and s >= 500]
    during = [s for t, what, s in soak.statuses if t < recovered and (s >= 500 or s == 0)]
    not_done = {run: s for run, s in outcome["states"].items() if s != "succeeded"}
    # Growth is measured from the first minute on: pools and caches fill during the first.
    first, last = soak.samples[min(1, len(soak.samples) - 1)], soak.samples[-1]
    return {
        "minutes": round(soak.now() / 60, 1),
        "mentions_accepted": len(set(soak.accepted)),
        "bot_comments": outcome["comments"],
        "runs_not_succeeded": not_done,
        "viewers": soak.viewers,
        "viewer_errors": soak.viewer_errors,
        "recovered_at_s": soak.recovered_at,
        "refused_during_outage": len(during),
        "5xx_after_recovery": len(after),
        "samples": soak.samples,
        "rss_growth_mb": round((last["server_rss_mb"] or 0) - (first["server_rss_mb"] or 0), 1),
        "fds_growth": last["server_fds"] - first["server_fds"],
        "passed": not not_done and not after and outcome["comments"] == len(set(soak.accepted)),
    }


def main() -> None:
    """Run, print the samples and the summary, write bench/results/soak.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between mentions")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds Redis stays down")
    args = parser.parse_args()
    result = asyncio.run(soak_run(args))
    columns = list(result["samples"][0])
    print(table(columns, [[s[c] for c in columns] for s in result["samples"]]))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(table(["", "value"], [[k, str(v)[:100]] for k, v in summary.items()]))
    write_json(RESULTS_DIR / "soak.json", result)


if __name__ == "__main__":
    main()
