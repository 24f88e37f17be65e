"""Sign-in with GitHub and who may look: history pages for readers only, private runs behind
sign-in, CSRF on every POST, and the pages in headless Chromium (sign-in, runs, usage chart)."""

from __future__ import annotations

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

from bot.archive.archiver import Archiver
from bot.links import run_url
from bot.services import Services, open_services
from bot.settings import Settings
from tests.fake_github_oauth import FakeGitHubOAuth
from tests.support import SLUG, free_port
from tests.test_archive import ANSWER, finished_run
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from web.app import create_app

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
    settings: Settings, oauth: FakeGitHubOAuth, **overrides: Any
) -> AsyncIterator[Site]:
    """Serve the app on a free port until the generator is closed."""
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
        runner = web.AppRunner(create_app(services))
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


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


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
