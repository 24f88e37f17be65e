"""Review feedback: 👍/👎 and resolved threads on Livebot's findings, read by a job after each
review and when a pull request closes, kept once per finding in PostgreSQL, and summed per week
and severity on the repository's usage page."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from redis.asyncio import Redis

from livebot.archive.feedback import FindingFeedback, ReviewFeedback
from livebot.core.settings import Settings
from livebot.queue.jobs import Job, JobQueue
from livebot.store.keys import JOB_STREAM, range_entries
from livebot.worker_services import WorkerServices
from livebot.workflows import feedback
from livebot.workflows.review.findings import Finding, Placed
from tests.conftest import WebClient
from tests.fake_github import FakeGitHub
from tests.fake_github.common import iso
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.fake_openai import FakeOpenAI
from tests.support import FIXTURES, OWNER, REPO, delivery, eventually
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.test_review import DIVISION, open_pr, submit
from tests.test_signin import READER, Site, browser_session, sign_in, start_site
from tests.workers import make_job, running

PR = 7
FULL = f"{OWNER}/{REPO}"
LINES = "".join(f"line {i}\n" for i in range(1, 61))
WEEK = 7 * 86400
# title: (severity, line, weeks ago)
FINDINGS: dict[str, tuple[str, int, int]] = {
    "Accepted by a thumb": ("major", 10, 0),
    "Rejected by a thumb": ("minor", 12, 0),
    "Intended": ("nit", 14, 0),
    "Dismissed unchanged": ("minor", 16, 0),
    "Fixed, Livebot resolved it": ("major", 40, 1),
    "Fixed, a person resolved it": ("minor", 30, 1),
    "Still open": ("blocker", 50, 1),
    "Split opinions": ("major", 45, 1),
    "Long ago": ("major", 55, 20),
}


def monday(weeks_ago: int) -> date:
    """The Monday (UTC) of the week `weeks_ago` weeks before this one."""
    day = datetime.now(UTC).date() - timedelta(weeks=weeks_ago)
    return day - timedelta(days=day.weekday())


def label(weeks_ago: int) -> str:
    return monday(weeks_ago).strftime("Week of %b %d")


# The page's rows: (week or "All 12 weeks", severity, posted, accepted, rejected, rate).
EXPECTED_WEEKS = [
    (label(0), "major", "1", "1", "0", "100%"),
    (label(0), "minor", "2", "0", "2", "0%"),
    (label(0), "nit", "1", "0", "1", "0%"),
    (label(1), "blocker", "1", "0", "0", "–"),
    (label(1), "major", "2", "1", "0", "100%"),
    (label(1), "minor", "1", "1", "0", "100%"),
]
EXPECTED_TOTALS = [
    ("All 12 weeks", "blocker", "1", "0", "0", "–"),
    ("All 12 weeks", "major", "3", "2", "0", "100%"),
    ("All 12 weeks", "minor", "3", "1", "2", "33%"),
    ("All 12 weeks", "nit", "1", "0", "1", "0%"),
]


@pytest.fixture
async def site(
    settings: Settings, database_url: str, oauth: FakeGitHubOAuth
) -> AsyncIterator[Site]:
    """`livebot web` with the archive, the test repository private to READER."""
    oauth.add_repo(FULL, private=True, readers={READER})
    async for running_site in start_site(settings, oauth, database_url=database_url):
        yield running_site


@pytest.fixture
def services(worker_services: WorkerServices, site: Site) -> WorkerServices:
    """Workers on the site's archive, with a claim that outlasts a loaded machine's pauses."""
    settings = dataclasses.replace(worker_services.settings, claim_timeout=30.0)
    return dataclasses.replace(worker_services, settings=settings, archive=site.services.archive)


def post_finding(fake: FakeGitHub, title: str, severity: str, line: int, weeks_ago: int) -> int:
    """Livebot's inline comment for a finding, as a review posts it, `weeks_ago` weeks old."""
    body = Placed(Finding("app.py", line, severity, title, "Why."), inline=True).comment()["body"]
    comment = fake.add_review_comment(OWNER, REPO, PR, "app.py", line, body, fake.bot_login)
    comment["created_at"] = iso(time.time() - weeks_ago * WEEK)
    return int(comment["id"])


def pull_request_with_feedback(fake: FakeGitHub) -> dict[str, int]:
    """PR #7 with Livebot's findings and what people made of them; the findings' comment ids."""
    fake.add_file(OWNER, REPO, "app.py", LINES)
    fake.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 5\n", "line five\n")})
    fake.add_pr(OWNER, REPO, "feature", number=PR)
    ids = {title: post_finding(fake, title, *spec) for title, spec in FINDINGS.items()}
    react, reply = fake.react_review_comment, fake.add_review_comment
    react(ids["Accepted by a thumb"], "+1", "octocat")
    react(ids["Rejected by a thumb"], "-1", "octocat")
    reply(OWNER, REPO, PR, "app.py", 14, "This is intended.", "octocat",
          in_reply_to=ids["Intended"])  # fmt: skip
    fake.resolve_thread(ids["Dismissed unchanged"], by="octocat")
    fake.resolve_thread(ids["Fixed, Livebot resolved it"], by=fake.bot_login)
    react(ids["Split opinions"], "+1", "octocat")
    react(ids["Split opinions"], "-1", "hubot")
    reply(OWNER, REPO, PR, "app.py", 45, "No, it is fine.", "hubot",
          in_reply_to=ids["Split opinions"])  # fmt: skip
    react(ids["Long ago"], "+1", "octocat")
    fake.add_review_comment(OWNER, REPO, PR, "app.py", 20, "My own note", "hubot")
    # The author changes line 30; then a person resolves that thread, now outdated.
    fake.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 30\n", "fixed\n")})
    fake.resolve_thread(ids["Fixed, a person resolved it"], by="octocat")
    return ids


def closed_delivery(number: int, name: str = "closed.payload.json") -> dict[str, Any]:
    """GitHub's real `pull_request` `closed` delivery, pointed at the test repository's PR."""
    data: dict[str, Any] = json.loads((FIXTURES / "pull_request" / name).read_text())
    data.update(number=number, installation={"id": 4242})
    data["repository"].update(full_name=FULL, name=REPO)
    data["repository"]["owner"]["login"] = OWNER
    data["pull_request"]["number"] = number
    return data


async def close(site: Site, number: int) -> aiohttp.ClientResponse:
    raw, headers = delivery("pull_request", closed_delivery(number))
    async with aiohttp.ClientSession() as http:
        return await http.post(f"{site.url}/webhook", data=raw, headers=headers)


async def stored(database_url: str) -> dict[str, tuple[str, str]]:
    """Every stored finding of PR #7: fingerprint → (severity, outcome)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT fingerprint, severity, outcome FROM review_feedback "
            "WHERE repository = %s AND number = %s",
            (FULL.lower(), PR),
        )
        return {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}


def feedback_rows(html: str) -> list[tuple[str, ...]]:
    """The usage page's review feedback table: one tuple per severity's row, its group first."""
    table = re.search(r'<table class="history-table feedback-table">(.*?)</table>', html, re.S)
    assert table is not None, html
    rows, group = [], ""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table[1].split("</thead>")[1], re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        if len(cells) == 1 and "<th" in row:
            group = cells[0]
        else:
            rows.append((group, *cells))
    return rows


async def usage_table(site: Site) -> list[tuple[str, ...]]:
    async with browser_session() as http:
        page = await sign_in(http, site, READER, f"/repos/{FULL}/usage")
        html = await page.text()
        assert page.status == 200, html
    return feedback_rows(html)


async def until_idle(redis: Redis) -> None:
    """Wait until every queued job was taken and acknowledged (an ack deletes its entry)."""

    async def idle() -> bool:
        return await redis.xlen(JOB_STREAM) == 0

    await eventually(idle, "the queue to empty")


async def test_a_closed_pull_request_counts_its_findings_on_the_usage_page(
    site: Site,
    services: WorkerServices,
    redis_client: Redis,
    fake_github: FakeGitHub,
    database_url: str,
) -> None:
    ids = pull_request_with_feedback(fake_github)
    assert await usage_table(site) == [
        ("", "No findings posted in the last 12 weeks (or none read yet: reactions and resolved "
         "threads are read after each review and when a pull request closes).")
    ]  # fmt: skip
    resp = await close(site, PR)
    assert resp.status == 202, await resp.text()
    [(_, fields)] = range_entries(await redis_client.xrange(JOB_STREAM))
    job = Job.decode(fields["job"])
    assert (job.kind, job.number, job.repository, job.trigger) == ("feedback", PR, FULL, "closed")
    async with running(services, redis_client):
        await until_idle(redis_client)
    rows = await stored(database_url)
    assert len(rows) == len(FINDINGS)  # a person's own thread is not a finding
    assert await usage_table(site) == EXPECTED_WEEKS + EXPECTED_TOTALS

    # Run again, and twice at once: one row per finding, the same counts.
    queue = JobQueue(redis_client)
    for _ in range(3):
        await queue.enqueue(make_job("feedback", number=PR, is_pull_request=True))
    async with running(services, redis_client):
        await until_idle(redis_client)
    assert await stored(database_url) == rows
    assert await usage_table(site) == EXPECTED_WEEKS + EXPECTED_TOTALS

    # A later read keeps the latest state: the thumb now points down.
    fake_github.react_review_comment(ids["Accepted by a thumb"], "-1", "hubot")
    fake_github.react_review_comment(ids["Accepted by a thumb"], "-1", "mallory")
    await queue.enqueue(make_job("feedback", number=PR, is_pull_request=True))
    async with running(services, redis_client):
        await until_idle(redis_client)
    table = await usage_table(site)
    assert table[0] == (label(0), "major", "1", "0", "1", "0%")
    assert ("All 12 weeks", "major", "3", "1", "1", "50%") in table


@pytest.mark.parametrize("name", ["closed.payload.json", "closed.with-organization.payload.json"])
async def test_every_closed_delivery_queues_the_feedback_job_even_a_bots(
    web_client: WebClient, settings: Settings, redis_client: Redis, name: str
) -> None:
    client = await web_client(settings)
    data = closed_delivery(PR, name)
    data["sender"].update(login="dependabot[bot]", type="Bot")  # it posts nothing: no loop
    raw, headers = delivery("pull_request", data)
    assert (await client.post("/webhook", data=raw, headers=headers)).status == 202
    [(_, fields)] = range_entries(await redis_client.xrange(JOB_STREAM))
    job = Job.decode(fields["job"])
    assert (job.kind, job.number, job.author, job.trigger) == (
        "feedback",
        PR,
        "dependabot[bot]",
        "closed",
    )


async def test_an_earlier_read_never_overwrites_a_later_one(site: Site, database_url: str) -> None:
    assert site.services.archive is not None
    store = ReviewFeedback(site.services.archive.pool)
    now = datetime.now(UTC)
    later = [FindingFeedback("a" * 16, "major", "accepted", now)]
    earlier = [FindingFeedback("a" * 16, "major", "posted", now)]
    # Two racing jobs: the one that read later writes first.
    await store.save(FULL, PR, later, now)
    await store.save(FULL, PR, earlier, now - timedelta(seconds=5))
    assert await stored(database_url) == {"a" * 16: ("major", "accepted")}
    [week] = await store.weekly(FULL.upper(), now - timedelta(days=1))
    assert (week.severity, week.posted, week.accepted, week.rejected) == ("major", 1, 1, 0)


async def test_a_review_queues_the_feedback_job_and_closing_counts_the_thumb(
    site: Site,
    services: WorkerServices,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    database_url: str,
) -> None:
    open_pr(fake_github)
    fake_openai.script(submit(DIVISION, text="One problem."))
    review = make_job("review", number=PR, is_pull_request=True, command="review", request="")
    await JobQueue(redis_client).enqueue(review)
    async with running(services, redis_client):

        async def counted() -> bool:
            return list((await stored(database_url)).values()) == [("major", "posted")]

        await eventually(counted, "the review's finding to be counted", seconds=30)
    [comment] = fake_github.review_comments_on(OWNER, REPO, PR)
    fake_github.react_review_comment(comment["id"], "+1", "octocat")
    assert (await close(site, PR)).status == 202
    async with running(services, redis_client):
        await until_idle(redis_client)
    assert list((await stored(database_url)).values()) == [("major", "accepted")]
    assert (label(0), "major", "1", "1", "0", "100%") in await usage_table(site)


async def test_without_the_archive_the_job_does_nothing(
    worker_services: WorkerServices, redis_client: Redis, fake_github: FakeGitHub
) -> None:
    pull_request_with_feedback(fake_github)
    assert worker_services.archive is None
    await feedback.follow_up(worker_services, make_job("review", number=PR, is_pull_request=True))
    assert await redis_client.xlen(JOB_STREAM) == 0
    await JobQueue(redis_client).enqueue(make_job("feedback", number=PR, is_pull_request=True))
    async with running(worker_services, redis_client):
        await until_idle(redis_client)
    assert fake_github.graphql_requests == []


async def test_the_feedback_table_in_chromium_light_dark_and_narrow(
    site: Site,
    services: WorkerServices,
    redis_client: Redis,
    fake_github: FakeGitHub,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    pull_request_with_feedback(fake_github)
    await JobQueue(redis_client).enqueue(make_job("feedback", number=PR, is_pull_request=True))
    async with running(services, redis_client):
        await until_idle(redis_client)
    site.oauth.sign_in_as(READER)
    for scheme, width in (("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)):
        context = await browser.new_context(
            color_scheme=scheme, viewport={"width": width, "height": 900}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        await page.goto(f"{site.url}/repos/{FULL}/usage")
        table = page.locator("table.feedback-table")
        await table.scroll_into_view_if_needed()
        await page.screenshot(path=str(tmp_path / f"usage-{scheme}-{width}.png"), full_page=True)
        weeks, totals = len(EXPECTED_WEEKS) + 2, len(EXPECTED_TOTALS) + 1  # with group rows
        assert await table.locator("tbody tr").count() == weeks
        assert await table.locator("tfoot tr").count() == totals
        # Every column is in view: the box does not scroll sideways either.
        box = await page.locator("section.feedback-box").bounding_box()
        rate = await table.locator("thead th").last.bounding_box()
        assert box is not None and rate is not None
        assert rate["x"] + rate["width"] <= box["x"] + box["width"] + 1
        # The page itself never scrolls sideways, not even at 390 px.
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width
        assert errors == []  # nothing refused by the CSP
        await context.close()
