"""The GitHub App client against the fake GitHub API."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import gidgethub
import jwt as pyjwt
import pytest

from livebot.github.client import MAX_COMMENT_CHARS, GitHubApp, fit_comment
from livebot.github.paths import repo_path
from tests.fake_github import FakeGitHub, generate_private_key_pem

OWNER, REPO = "octo-org", "hello-world"
INSTALLATION = 7


@pytest.fixture
async def fake() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_repo(OWNER, REPO, description="A demo repository")
        fake.add_issue(OWNER, REPO, 1, "Why does it crash?", "It crashes on start.")
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_app(session: aiohttp.ClientSession, fake: FakeGitHub, **kw: Any) -> GitHubApp:
    kw = {"private_key": fake.private_key_pem, "backoff": 0.01, "max_wait": 60.0, **kw}
    return GitHubApp(session, app_id=fake.app_id, api_url=fake.url, **kw)


def record_sleeps(app: GitHubApp) -> list[float]:
    """Record the retry waits instead of sleeping through them."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app.gh.sleep = sleep  # type: ignore[method-assign]
    return sleeps


async def test_jwt_claims_and_fake_accepts_it(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake)
    token = app.jwt()
    claims = pyjwt.decode(token, options={"verify_signature": False})
    now = time.time()
    assert claims["iss"] == str(fake.app_id)
    assert claims["iat"] <= now - 59
    assert claims["exp"] > now + 60
    assert claims["exp"] - claims["iat"] <= 600 + 60
    assert pyjwt.get_unverified_header(token)["alg"] == "RS256"
    info = await app.app_info()
    assert info["slug"] == "livebot-test" and info["id"] == fake.app_id
    [req] = fake.requests_to("GET", "/app")
    assert req.headers["authorization"].lower().startswith("bearer ")


async def test_concurrent_callers_mint_one_token(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake)
    tokens = await asyncio.gather(*(app.installation_token(INSTALLATION) for _ in range(50)))
    assert len(set(tokens)) == 1 and tokens[0].startswith("ghs_")
    assert fake.token_mints == 1
    assert len(fake.requests_to("POST", f"/app/installations/{INSTALLATION}/access_tokens")) == 1
    await app.api(INSTALLATION).getitem(repo_path(f"{OWNER}/{REPO}"))
    assert fake.token_mints == 1


async def test_token_near_expiry_is_refreshed(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake)
    fake.token_ttl = 50  # under the one-minute margin
    first = await app.installation_token(INSTALLATION)
    second = await app.installation_token(INSTALLATION)
    assert first != second and fake.token_mints == 2
    fake.token_ttl = 3600
    third = await app.installation_token(INSTALLATION)
    assert await app.installation_token(INSTALLATION) == third
    assert fake.token_mints == 3


async def test_getitem_post_patch(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    repo = await gh.getitem(repo_path(f"{OWNER}/{REPO}"))
    assert repo["description"] == "A demo repository" and repo["default_branch"] == "main"
    issue = await gh.getitem(f"/repos/{OWNER}/{REPO}/issues/1")
    assert issue["title"] == "Why does it crash?" and "pull_request" not in issue
    comment = await gh.post(f"/repos/{OWNER}/{REPO}/issues/1/comments", data={"body": "Hi"})
    assert comment["user"] == {**comment["user"], "login": "livebot-test[bot]", "type": "Bot"}
    edited = await gh.patch(
        f"/repos/{OWNER}/{REPO}/issues/comments/{comment['id']}", data={"body": "Done"}
    )
    assert edited["id"] == comment["id"]
    assert fake.comments[comment["id"]]["body"] == "Done"
    [patch] = fake.requests_to("PATCH", "/repos/*")
    assert patch.headers["authorization"].startswith("token ghs_")


async def test_reactions_and_contents(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    comment = fake.add_comment(OWNER, REPO, 1, "@livebot-test why?")
    url = f"/repos/{OWNER}/{REPO}/issues/comments/{comment['id']}/reactions"
    first = await gh.post(url, data={"content": "eyes"})
    again = await gh.post(url, data={"content": "eyes"})
    assert first["id"] == again["id"] and len(fake.comment_reactions[comment["id"]]) == 1
    fake.add_file(OWNER, REPO, ".github/livebot.yml", "model: small\n")
    data = await gh.getitem(f"/repos/{OWNER}/{REPO}/contents/.github/livebot.yml")
    assert base64.b64decode(data["content"]).decode() == "model: small\n"
    with pytest.raises(gidgethub.BadRequest) as exc:
        await gh.getitem(f"/repos/{OWNER}/{REPO}/contents/missing.yml")
    assert exc.value.status_code == 404


async def test_502_then_success_is_retried(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    fake.fail_next("GET", f"/repos/{OWNER}/{REPO}", status=502)
    repo = await gh.getitem(f"/repos/{OWNER}/{REPO}")
    assert repo["name"] == REPO
    assert len(fake.requests_to("GET", f"/repos/{OWNER}/{REPO}")) == 2


async def test_502s_beyond_max_attempts_raise(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    gh = make_app(session, fake, max_attempts=3).api(INSTALLATION)
    fake.fail_next("PATCH", "/repos/*", status=502, times=3)
    comment = fake.add_comment(OWNER, REPO, 1, "old")
    with pytest.raises(gidgethub.GitHubBroken) as exc:
        await gh.patch(f"/repos/{OWNER}/{REPO}/issues/comments/{comment['id']}", data={"body": "x"})
    assert exc.value.status_code == 502
    assert len(fake.requests_to("PATCH", "/repos/*")) == 3
    assert fake.comments[comment["id"]]["body"] == "old"


async def test_network_error_is_retried(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    fake.drop_next("GET", f"/repos/{OWNER}/{REPO}/issues/1")
    assert (await gh.getitem(f"/repos/{OWNER}/{REPO}/issues/1"))["number"] == 1
    assert len(fake.requests_to("GET", f"/repos/{OWNER}/{REPO}/issues/1")) == 2


async def test_secondary_rate_limit_honours_retry_after(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake)
    sleeps = record_sleeps(app)
    fake.rate_limit_next("POST", "*/comments", kind="secondary", retry_after=30)
    comment = await app.api(INSTALLATION).post(
        f"/repos/{OWNER}/{REPO}/issues/1/comments", data={"body": "hello"}
    )
    assert comment["body"] == "hello"
    assert sleeps == [30.0]
    assert len(fake.requests_to("POST", "*/comments")) == 2
    assert len(fake.comments_on(OWNER, REPO, 1)) == 1


async def test_secondary_rate_limit_really_waits(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    fake.rate_limit_next(
        "GET", f"/repos/{OWNER}/{REPO}", kind="secondary", retry_after=1, status=429
    )
    started = time.monotonic()
    await gh.getitem(f"/repos/{OWNER}/{REPO}")
    assert time.monotonic() - started >= 1.0


async def test_primary_rate_limit_waits_until_reset(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake)
    sleeps = record_sleeps(app)
    fake.rate_limit_next("GET", "/repos/*", kind="primary", retry_after=20)
    await app.api(INSTALLATION).getitem(f"/repos/{OWNER}/{REPO}")
    assert len(sleeps) == 1 and 18 <= sleeps[0] <= 20.5


async def test_rate_limit_beyond_cap_gives_up(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    app = make_app(session, fake, max_wait=60)
    sleeps = record_sleeps(app)
    fake.rate_limit_next("GET", "/repos/*", kind="primary", retry_after=3600)
    with pytest.raises(gidgethub.RateLimitExceeded):
        await app.api(INSTALLATION).getitem(f"/repos/{OWNER}/{REPO}")
    assert sleeps == [] and len(fake.requests_to("GET", "/repos/*")) == 1


async def test_bad_private_key_is_refused(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    app = make_app(session, fake, private_key=generate_private_key_pem())
    with pytest.raises(gidgethub.BadRequest) as exc:
        await app.installation_token(INSTALLATION)
    assert exc.value.status_code == 401
    assert fake.token_mints == 0


async def test_revoked_token_is_replaced(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    await gh.getitem(f"/repos/{OWNER}/{REPO}")
    fake.revoke_tokens()
    assert (await gh.getitem(f"/repos/{OWNER}/{REPO}"))["name"] == REPO
    assert fake.token_mints == 2


async def test_fake_refuses_missing_token(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{fake.url}/repos/{OWNER}/{REPO}") as resp:
        assert resp.status == 401
        assert resp.headers["content-type"] == "application/json; charset=utf-8"
        assert "x-github-request-id" in resp.headers and "x-ratelimit-remaining" in resp.headers
        assert (await resp.json())["message"] == "Bad credentials"
    async with session.get(f"{fake.url}/nowhere") as resp:
        assert resp.status == 404 and (await resp.json())["message"] == "Not Found"


async def test_getiter_follows_link_pagination(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    for i in range(5):
        fake.add_comment(OWNER, REPO, 1, f"comment {i}")
    gh = make_app(session, fake).api(INSTALLATION)
    url = f"/repos/{OWNER}/{REPO}/issues/1/comments?per_page=2"
    bodies = [c["body"] async for c in gh.getiter(url)]
    assert bodies == [f"comment {i}" for i in range(5)]
    pages = fake.requests_to("GET", f"/repos/{OWNER}/{REPO}/issues/1/comments")
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]


def test_fit_comment_short_body_unchanged() -> None:
    body = "x" * MAX_COMMENT_CHARS
    assert fit_comment(body, "note") is body


async def test_fit_comment_long_body_is_cut_and_accepted(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    note = "_Cut here: the full answer is on the run page._"
    body = "".join(f"line {i} é😀\n" for i in range(10_000))
    fitted = fit_comment(body, note)
    assert len(fitted) == MAX_COMMENT_CHARS
    assert fitted.endswith("\n\n" + note)
    assert body.startswith(fitted[: -len(note) - 2])
    gh = make_app(session, fake).api(INSTALLATION)
    with pytest.raises(gidgethub.ValidationError):
        await gh.post(f"/repos/{OWNER}/{REPO}/issues/1/comments", data={"body": body})
    comment = await gh.post(f"/repos/{OWNER}/{REPO}/issues/1/comments", data={"body": fitted})
    assert comment["body"] == fitted


def test_fit_comment_closes_an_open_code_fence() -> None:
    fitted = fit_comment("```python\n" + "x = 1\n" * 20_000, "note")
    assert len(fitted) <= MAX_COMMENT_CHARS
    assert fitted.endswith("\n```\n\nnote")


async def test_a_post_that_may_have_landed_is_not_sent_twice(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    fake.fail_next("POST", "*/comments", status=502)
    with pytest.raises(gidgethub.GitHubBroken):
        await gh.post(f"/repos/{OWNER}/{REPO}/issues/1/comments", data={"body": "hi"})
    assert len(fake.requests_to("POST", "*/comments")) == 1


async def test_repeatable_posts_are_retried(
    fake: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    gh = make_app(session, fake).api(INSTALLATION)
    fake.fail_next("POST", "/app/installations/*", status=502)
    comment = fake.add_comment(OWNER, REPO, 1, "@livebot-test why?")
    fake.fail_next("POST", "*/reactions", status=502)
    url = f"/repos/{OWNER}/{REPO}/issues/comments/{comment['id']}/reactions"
    assert (await gh.post(url, data={"content": "eyes"}))["content"] == "eyes"
    assert len(fake.requests_to("POST", "/app/installations/*")) == 2
    assert len(fake.requests_to("POST", "*/reactions")) == 2
