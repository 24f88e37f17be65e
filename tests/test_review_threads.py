"""Earlier findings read from their GraphQL review threads, their states, the vetoes on resolving
one, and the check run's life, against the fake GitHub through Livebot's own App client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import gidgethub
import pytest

from livebot.github import check_runs
from livebot.github.client import GitHubApp, InstallationAPI, graphql_url
from livebot.github.review_threads import read_threads, resolve_thread
from livebot.workflows.review.findings import FINGERPRINT, Finding
from livebot.workflows.review.threads import (
    State,
    earlier_findings,
    prompt_section,
    resolvable,
    summary,
)
from tests.fake_github import FakeGitHub
from tests.fake_github.graphql import thread_id

OWNER, REPO = "octo-org", "remember"
FULL = f"{OWNER}/{REPO}"
LINES = "".join(f"line {i}\n" for i in range(1, 61))


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[InstallationAPI]:
    fake_github.add_repo(OWNER, REPO, files={"app.py": LINES})
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            session,
            app_id=fake_github.app_id,
            private_key=fake_github.private_key_pem,
            api_url=fake_github.url,
            backoff=0.01,
        )
        yield app.api(1)


def finding_body(title: str, severity: str = "Major") -> str:
    """A finding's comment as Livebot writes it: heading, text, hidden fingerprint."""
    f = Finding("app.py", 1, severity.lower(), title, "Why.")
    return f"🟠 **{severity}: {title}**\n\nWhy.\n\n" + FINGERPRINT.format(digest=f.fingerprint)


def history(fake: FakeGitHub) -> tuple[int, dict[str, dict[str, Any]]]:
    """A pull request with four bot findings (settled, disputed, fixed, still open) and a
    person's own thread."""
    fake.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 5\n", "line five\n")})
    number = fake.add_pr(OWNER, REPO, "feature")["number"]
    bot = fake.bot_login
    made = {
        name: fake.add_review_comment(OWNER, REPO, number, "app.py", line, finding_body(name), bot)
        for name, line in (("Settled", 10), ("Disputed", 20), ("Fixed", 30), ("Open", 50))
    }
    reply = fake.add_review_comment
    reply(OWNER, REPO, number, "app.py", 10, "This is intended.", "octocat",
          in_reply_to=made["Settled"]["id"])  # fmt: skip
    reply(OWNER, REPO, number, "app.py", 20, "No: the caller checks it first.", "octocat",
          in_reply_to=made["Disputed"]["id"])  # fmt: skip
    fake.add_review_comment(OWNER, REPO, number, "app.py", 40, "My own note", "hubot")
    # The author fixes line 30; line 50 stays.
    fake.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 30\n", "fixed\n")})
    return number, made


async def test_earlier_findings_and_their_states(
    fake_github: FakeGitHub, gh: InstallationAPI
) -> None:
    number, _made = history(fake_github)
    threads = await read_threads(gh, FULL, number)
    assert len(threads) == 5
    earlier = earlier_findings(threads, fake_github.app_slug)
    states = {f.title: f.state for f in earlier}
    assert states == {
        "Settled": State.SETTLED,
        "Disputed": State.DISPUTED,
        "Fixed": State.OPEN,
        "Open": State.OPEN,
    }
    briefing = prompt_section(earlier)
    assert "No: the caller checks it first." in briefing and "My own note" not in briefing
    assert prompt_section([]) == ""


async def test_a_persons_resolution_settles_and_livebots_own_is_resolved(
    fake_github: FakeGitHub, gh: InstallationAPI
) -> None:
    number, made = history(fake_github)
    fake_github.resolve_thread(made["Open"]["id"], by="octocat")
    fake_github.resolve_thread(made["Fixed"]["id"], by=fake_github.bot_login)
    earlier = earlier_findings(await read_threads(gh, FULL, number), fake_github.app_slug)
    states = {f.title: f.state for f in earlier}
    assert states["Open"] is State.SETTLED and states["Fixed"] is State.RESOLVED


async def test_only_a_verified_untouched_fix_in_livebots_own_quiet_thread_is_resolved(
    fake_github: FakeGitHub, gh: InstallationAPI
) -> None:
    number, made = history(fake_github)
    earlier = {
        f.title: f
        for f in earlier_findings(await read_threads(gh, FULL, number), fake_github.app_slug)
    }
    slug = fake_github.app_slug
    every = {f.fingerprint for f in earlier.values()}

    def changed(path: str, lines: range) -> bool:
        return False  # only GitHub's `isOutdated` says the lines changed

    def may(title: str, verified: set[str] = every, current: list[Finding] | None = None) -> bool:
        return resolvable(
            earlier[title], slug=slug, verified=verified, current=current or [], changed=changed
        )

    assert earlier["Fixed"].thread.is_outdated and may("Fixed")
    assert not may("Fixed", verified=set())  # the model did not verify it
    assert not may("Fixed", current=[Finding("app.py", 31, "minor", "Still", "x", start_line=29)])
    assert may("Fixed", current=[Finding("app.py", 45, "minor", "Elsewhere", "x")])
    assert not may("Open")  # its lines did not change
    assert not may("Settled") and not may("Disputed")  # a person wrote in them
    # A person's reply in a fixed thread: never resolved, whatever it says.
    fake_github.add_review_comment(
        OWNER, REPO, number, "app.py", 30, "Thanks!", "octocat", in_reply_to=made["Fixed"]["id"]
    )
    again = earlier_findings(await read_threads(gh, FULL, number), slug)
    fixed = next(f for f in again if f.title == "Fixed")
    assert not resolvable(fixed, slug=slug, verified=every, current=[], changed=lambda p, r: True)


async def test_resolving_and_the_summary(fake_github: FakeGitHub, gh: InstallationAPI) -> None:
    number, made = history(fake_github)
    await resolve_thread(gh, thread_id(made["Fixed"]["id"]))
    assert fake_github.resolved_threads == {made["Fixed"]["id"]: fake_github.bot_login}
    earlier = earlier_findings(await read_threads(gh, FULL, number), fake_github.app_slug)
    fixed = [f for f in earlier if f.title == "Fixed"]
    text = summary(earlier, fixed)
    assert text.splitlines()[1].startswith("- resolved (fixed): [Fixed](https://github.com/")
    assert "- settled: [Settled]" in text and "- disputed: [Disputed]" in text
    fake_github.installations[1]["permissions"]["pull_requests"] = "read"
    with pytest.raises(gidgethub.GraphQLException):
        await resolve_thread(gh, thread_id(made["Open"]["id"]))


def test_graphql_url_beside_the_rest_api() -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/graphql"


async def test_check_run_in_progress_then_completed_with_batched_annotations(
    fake_github: FakeGitHub, gh: InstallationAPI
) -> None:
    sha = fake_github.push(OWNER, REPO, "feature", {"app.py": "x\n"})
    fake_github.add_pr(OWNER, REPO, "feature")
    page = "https://livebot.example.com/runs/r1"
    check_id = await check_runs.start(
        gh, FULL, head_sha=sha, workflow="review", details_url=page, external_id="r1",
        title="Reading the changes",
    )  # fmt: skip
    (run,) = fake_github.check_runs_on(OWNER, REPO)
    assert (run["status"], run["details_url"], run["name"]) == (
        "in_progress",
        page,
        "Livebot review",
    )
    await check_runs.show(gh, FULL, check_id, title="Writing the review", details_url=page)
    assert fake_github.check_runs_on(OWNER, REPO)[0]["output"]["title"] == "Writing the review"
    notes = [
        check_runs.Annotation("app.py", i, i, "major", f"Finding {i}", "Why.")
        for i in range(1, 121)
    ]
    await check_runs.complete(
        gh, FULL, check_id, conclusion=check_runs.NEUTRAL, title="120 findings", summary="Done.",
        annotations=notes,
    )  # fmt: skip
    (done,) = fake_github.check_runs_on(OWNER, REPO)
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    assert [a["start_line"] for a in fake_github.annotations_of(check_id)] == list(range(1, 121))
    assert {a["annotation_level"] for a in fake_github.annotations_of(check_id)} == {"warning"}
