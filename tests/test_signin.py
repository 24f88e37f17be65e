"""Sign-in with GitHub and who may look: history pages for readers only, private runs behind
sign-in, CSRF on every POST, and the pages in headless Chromium (sign-in, runs, usage chart)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from livebot.archive.archiver import Archiver
from livebot.core.settings import Settings
from livebot.runs.links import run_url
from livebot.services import Services, open_services
from livebot.web.app import create_app
from tests.conftest import WebClient
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.sse import read_events
from tests.support import SLUG, eventually, free_port
from tests.test_archive import ANSWER, finished_run
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)

PUBLIC = "octo-org/hello-world"
PRIVATE = "octo-org/secret-plans"
READER, STRANGER = "octocat", "mallory"


@dataclass
class Site:
    """`livebot web` in this process, on a real port, with sign-in and the archive."""

    url: str
    services: Services
    oauth: FakeGitHubOAuth
    settings: Settings

    def link(self, run_id: str, suffix: str = "") -> str:
        """The run's page, or `/state` or `/events` with `suffix`."""
        base, query = run_url(self.url, self.settings.link_secret, run_id).split("?")
        return f"{base}{suffix}?{query}"


async def start_site(
    settings: Settings,
    oauth: FakeGitHubOAuth,
    app_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Site]:
    """Serve the app on a free port until the generator is closed (`app_options`: create_app's)."""
    port = free_port()
    settings = dataclasses.replace(
        settings,
        github_app_slug=SLUG,
        github_url=oauth.url,
        github_api_url=oauth.url,
        github_client_id=oauth.client_id,
        github_client_secret=oauth.client_secret,
        public_url=f"http://127.0.0.1:{port}",
        **overrides,
    )
    async with open_services(settings, "web") as services:
        runner = web.AppRunner(create_app(services, **(app_options or {})))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Site(f"http://127.0.0.1:{port}", services, oauth, settings)
        finally:
            await runner.cleanup()


@pytest.fixture
async def site(
    settings: Settings, database_url: str, oauth: FakeGitHubOAuth
) -> AsyncIterator[Site]:
    """The site, private runs behind sign-in (the default)."""
    oauth.add_repo(PUBLIC, private=False)
    oauth.add_repo(PRIVATE, private=True, readers={READER})
    async for running in start_site(settings, oauth, database_url=database_url):
        yield running


async def archived_run(site: Site, repository: str, *, private: bool, **fields: Any) -> str:
    """A finished run of `repository`, archived."""
    run_log = site.services.run_log
    run_id = await finished_run(run_log, repository=repository)
    await run_log.update(run_id, private=int(private), **fields)
    assert site.services.archive is not None
    archiver = Archiver(run_log, site.services.archive, archive_days=365, consumer="test")
    assert await archiver.archive_runs([run_id]) == 1
    return run_id


def browser_session(cookies: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, as a browser does (starting with `cookies`)."""
    return aiohttp.ClientSession(cookies=cookies, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(
    http: aiohttp.ClientSession, site: Site, login: str, path: str
) -> aiohttp.ClientResponse:
    """Open `path` signed out, go through GitHub's sign-in as `login`, land back on `path`."""
    site.oauth.sign_in_as(login)
    return await http.get(site.url + path)


async def test_a_reader_signs_in_and_sees_the_history(site: Site) -> None:
    run_id = await archived_run(site, PRIVATE, private=True)
    async with browser_session() as http:
        resp = await sign_in(http, site, READER, f"/repos/{PRIVATE}/runs")
        html = await resp.text()
        assert resp.status == 200, html
        hops = [str(r.url) for r in resp.history]
        assert any("/login/oauth/authorize" in hop for hop in hops)
        assert str(resp.url) == f"{site.url}/repos/{PRIVATE}/runs"
        assert "#7 Why does it crash?" in html and f"/runs/{run_id}?token=" in html
        # The user's token is in no URL the browser saw and in no cookie.
        token = next(iter(site.oauth.tokens))
        assert all(token not in hop for hop in hops)
        assert all(token not in c.value for c in http.cookie_jar)
        session_cookie = next(c for c in http.cookie_jar if c.key == "livebot_session")
        assert session_cookie["httponly"] and session_cookie["samesite"] == "Lax"
        state = await http.get(site.link(run_id, "/state"))
        assert (await state.json())["text"] == "".join(ANSWER)


async def test_filters_and_pages(site: Site) -> None:
    for _ in range(3):
        await archived_run(site, PUBLIC, private=False)
    async with browser_session() as http:
        await sign_in(http, site, STRANGER, f"/repos/{PUBLIC}/runs")
        failed = await (await http.get(f"{site.url}/repos/{PUBLIC}/runs?status=failed")).text()
        assert "No runs archived yet." in failed
        bad = await http.get(f"{site.url}/repos/{PUBLIC}/runs?status=nope")
        assert bad.status == 400
        cursor = await http.get(f"{site.url}/repos/{PUBLIC}/runs?after=garbage!")
        assert cursor.status == 400


async def test_someone_without_access_gets_404_and_no_hint(site: Site) -> None:
    run_id = await archived_run(site, PRIVATE, private=True)
    async with browser_session() as http:
        resp = await sign_in(http, site, STRANGER, f"/repos/{PRIVATE}/runs")
        assert resp.status == 404
        nothing = await http.get(f"{site.url}/repos/octo-org/no-such-repo/runs")
        assert (nothing.status, await nothing.text()) == (404, await resp.text())
        assert (await http.get(f"{site.url}/repos/{PRIVATE}/usage")).status == 404
        for suffix in ("", "/state", "/events"):
            assert (await http.get(site.link(run_id, suffix))).status == 404


async def test_private_runs_need_the_link_and_a_reader(site: Site) -> None:
    private = await archived_run(site, PRIVATE, private=True)
    public = await archived_run(site, PUBLIC, private=False)
    async with aiohttp.ClientSession() as anonymous:
        assert (await anonymous.get(site.link(public, "/state"))).status == 200
        assert (await anonymous.get(site.link(private, "/state"))).status == 404
        assert (await anonymous.get(site.link(private, "/events"))).status == 404
        page = await anonymous.get(site.link(private), allow_redirects=False)
        assert page.status == 302 and page.headers["Location"].startswith("/login?next=")
    async with browser_session() as http:
        page = await sign_in(http, site, READER, site.link(private).removeprefix(site.url))
        assert page.status == 200 and str(page.url) == site.link(private)
        assert (await http.get(site.link(private, "/state"))).status == 200


async def test_link_mode_keeps_todays_capability_links(
    settings: Settings, database_url: str, oauth: FakeGitHubOAuth
) -> None:
    oauth.add_repo(PRIVATE, private=True, readers={READER})
    async for site in start_site(settings, oauth, database_url=database_url, private_runs="link"):
        private = await archived_run(site, PRIVATE, private=True)
        async with aiohttp.ClientSession() as anonymous:
            assert (await anonymous.get(site.link(private, "/state"))).status == 200


async def test_logout_needs_the_csrf_token(site: Site) -> None:
    async with browser_session() as http:
        page = await sign_in(http, site, READER, f"/repos/{PUBLIC}/runs")
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        forged = await http.post(f"{site.url}/logout", data={"csrf": "guess"})
        assert forged.status == 403
        cross = await http.post(
            f"{site.url}/logout", data={"csrf": csrf[1]}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status == 403
        out = await http.post(f"{site.url}/logout", data={"csrf": csrf[1]})
        assert out.status == 200 and "signed out" in await out.text()
        again = await http.get(f"{site.url}/repos/{PUBLIC}/runs", allow_redirects=False)
        assert again.status == 302


async def test_a_callback_with_a_forged_state_is_refused(site: Site) -> None:
    async with browser_session() as http:
        resp = await http.get(f"{site.url}/login/callback?code=abc&state=forged")
        assert resp.status == 400
        assert site.oauth.tokens == {}


async def test_history_and_usage_in_chromium(site: Site, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    now = time.time()
    for age_days, workflow in ((0, "answer"), (1, "answer"), (1, "review"), (30, "review")):
        run_id = await archived_run(site, PRIVATE, private=True)
        await site.services.run_log.update(run_id, created_at=now - age_days * 86400)
        await site.services.run_log.update(run_id, workflow=workflow)
        assert site.services.archive is not None
        archiver = Archiver(site.services.run_log, site.services.archive, archive_days=365)
        await archiver.archive_runs([run_id])
    site.oauth.sign_in_as(READER)
    for scheme in ("light", "dark"):
        await look_back_in(browser, site, scheme, tmp_path / f"usage-{scheme}.png")


async def look_back_in(chromium: Any, site: Site, scheme: str, screenshot: Path) -> None:
    """Sign in, open the runs and the usage pages, screenshot, sign out: no CSP refusal."""
    context = await chromium.new_context(color_scheme=scheme)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{site.url}/repos/{PRIVATE}/runs")
    assert page.url == f"{site.url}/repos/{PRIVATE}/runs"
    assert await page.locator("table.history-table tbody tr").count() == 4
    await page.goto(f"{site.url}/repos/{PRIVATE}/usage")
    bars = page.locator("svg.chart rect.chart-bar")
    assert await bars.count() >= 6  # 3 days × answer/review, in two charts
    box = await page.locator("svg.chart").first.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 80
    fill = await bars.first.evaluate("e => getComputedStyle(e).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")
    await page.screenshot(path=str(screenshot), full_page=True)  # kept by pytest to look at
    assert errors == []  # nothing refused by the CSP
    await page.click("text=Sign out")
    assert "signed out" in await page.content()
    await context.close()


async def test_the_pending_sign_in_is_a_sealed_cookie_not_redis(site: Site) -> None:
    redis = site.services.redis
    before = await redis.dbsize()
    async with aiohttp.ClientSession() as anonymous:
        for _ in range(200):
            resp = await anonymous.get(
                f"{site.url}/login?next=/runs/x%3Ftoken%3D{'a' * 1500}", allow_redirects=False
            )
            assert resp.status == 302
    assert await redis.dbsize() == before
    # What the cookie carries is sealed: not even the next path can be read from it.
    assert "aaaa" not in resp.headers["Set-Cookie"]
    async with browser_session() as http, browser_session() as other:
        # The state GitHub hands back belongs to the browser that started the sign-in.
        started = await http.get(f"{site.url}/login", allow_redirects=False)
        authorize = await other.get(started.headers["Location"], allow_redirects=False)
        callback = authorize.headers["Location"]
        assert (await other.get(callback)).status == 400
        # Its own state, another browser's cookie: refused too.
        mine = await other.get(f"{site.url}/login", allow_redirects=False)
        assert mine.status == 302
        assert (await other.get(callback)).status == 400
        # Signed in once; the same callback again is refused, with or without its state cookie.
        signed_in = await sign_in(http, site, READER, "/login?next=/healthz")
        assert signed_in.status == 200
        callback_url = f"{site.url}/login/callback?"
        landing = next(str(r.url) for r in signed_in.history if str(r.url).startswith(callback_url))
        assert (await http.get(landing)).status == 400
        state_cookie = {k: m.value for k, m in signed_in.history[0].cookies.items()}
        assert list(state_cookie) == ["livebot_oauth"]
        async with browser_session(state_cookie) as replay:
            assert (await replay.get(landing)).status == 400
    assert len(site.oauth.tokens) == 1


async def test_user_tokens_are_encrypted_in_redis(site: Site) -> None:
    async with browser_session() as http:
        assert (await sign_in(http, site, READER, "/login?next=/healthz")).status == 200
    token = next(iter(site.oauth.tokens))
    redis = site.services.redis
    stored = [str(await redis.hgetall(key)) async for key in redis.scan_iter("livebot:{session:*")]
    assert stored and all(token not in value for value in stored)
    assert all(token[4:20] not in value for value in stored)


async def test_logout_revokes_the_token_at_github(site: Site) -> None:
    async with browser_session() as http:
        page = await sign_in(http, site, READER, f"/repos/{PUBLIC}/runs")
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        token = next(iter(site.oauth.tokens))
        assert (await http.post(f"{site.url}/logout", data={"csrf": csrf[1]})).status == 200
    assert site.oauth.revoked == [token] and site.oauth.tokens == {}


async def test_a_new_sign_in_ends_the_browsers_previous_session(site: Site) -> None:
    async with browser_session() as http:
        assert (await sign_in(http, site, READER, f"/repos/{PUBLIC}/runs")).status == 200
        old = {c.key: c.value for c in http.cookie_jar if c.key == "livebot_session"}
        old_token = next(iter(site.oauth.tokens))
        assert (
            await sign_in(http, site, READER, f"/login?next=/repos/{PUBLIC}/runs")
        ).status == 200
        assert {c.key: c.value for c in http.cookie_jar if c.key == "livebot_session"} != old
        assert (await http.get(f"{site.url}/repos/{PUBLIC}/runs")).status == 200
    async with browser_session(old) as stale:
        resp = await stale.get(f"{site.url}/repos/{PUBLIC}/runs", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"].startswith("/login?")
    assert site.oauth.revoked == [old_token] and len(site.oauth.tokens) == 1


async def test_a_private_stream_ends_once_its_reader_loses_access(
    settings: Settings, oauth: FakeGitHubOAuth
) -> None:
    oauth.add_repo(PRIVATE, private=True, readers={READER})
    options = {"access_seconds": 0.2, "sweep_seconds": 0.05}
    async for site in start_site(settings, oauth, app_options=options):
        run_log = site.services.run_log
        run_id = await run_log.create(
            workflow="answer", repository=PRIVATE, number=7, fields={"private": 1}
        )
        await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
        async with browser_session() as http:
            page = await sign_in(http, site, READER, site.link(run_id).removeprefix(site.url))
            assert page.status == 200
            async with http.get(site.link(run_id, "/events")) as stream:
                assert stream.status == 200
                # While the reader keeps access, GitHub is asked again and the stream stays.
                await eventually(lambda: len(oauth.repo_requests) >= 4, "access re-checked")
                assert not stream.content.at_eof()
                oauth.readers[PRIVATE.lower()].clear()
                events = await asyncio.wait_for(read_events(stream), 10)
            assert "complete" not in [e.event for e in events]
            assert (await http.get(site.link(run_id, "/events"))).status == 404


def set_cookies(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """Each Set-Cookie header of `resp`, by cookie name."""
    return {h.split("=", 1)[0]: h for h in resp.headers.getall("Set-Cookie", [])}


def cookie_header(resp: aiohttp.ClientResponse) -> str:
    """A Cookie header with the cookies `resp` set (a browser sends Secure ones over https)."""
    return "; ".join(h.split(";", 1)[0] for h in resp.headers.getall("Set-Cookie", []))


async def test_cookies_are_host_prefixed_over_https(
    settings: Settings, oauth: FakeGitHubOAuth, web_client: WebClient
) -> None:
    public = "https://livebot.example.org"
    client = await web_client(
        dataclasses.replace(
            settings,
            github_url=oauth.url,
            github_api_url=oauth.url,
            github_client_id=oauth.client_id,
            github_client_secret=oauth.client_secret,
            public_url=public,
        )
    )
    started = await client.get("/login", allow_redirects=False)
    state = set_cookies(started)["__Host-livebot_oauth"]
    assert "Secure" in state and "Path=/" in state and "Domain" not in state
    async with aiohttp.ClientSession() as github:
        authorize = await github.get(started.headers["Location"], allow_redirects=False)
    callback = authorize.headers["Location"].removeprefix(public)
    # The unprefixed name is not ours over https: a subdomain could have set it.
    plain = cookie_header(started).removeprefix("__Host-")
    refused = await client.get(callback, headers={"Cookie": plain}, allow_redirects=False)
    assert refused.status == 400
    landed = await client.get(
        callback, headers={"Cookie": cookie_header(started)}, allow_redirects=False
    )
    assert landed.status == 302, await landed.text()
    session = set_cookies(landed)["__Host-livebot_session"]
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    assert "Secure" in set_cookies(landed)["__Host-livebot_oauth"]  # cleared as it was set
