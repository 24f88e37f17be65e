"""`livebot setup`: GitHub's manifest flow driven in headless Chromium against the fake GitHub."""

from __future__ import annotations

import dataclasses
import html
import re
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dotenv import dotenv_values

from livebot.cli import listen_settings
from livebot.core.settings import Settings, load_settings
from livebot.setup import manifest
from tests.conftest import WebClient
from tests.fake_github import FakeGitHub
from tests.support import ServerProcess, clean_env, eventually, free_port, livebot_process
from tests.test_browser import TIMEOUT_MS, browser  # noqa: F401  (a fixture)


def setup_env(tmp_path: Path, fake: FakeGitHub, port: int) -> dict[str, str]:
    """What a person has before setup: where GitHub is, and the public address."""
    return clean_env(
        GITHUB_API_URL=fake.url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        LIVEBOT_DATA_DIR=str(tmp_path / "data"),
    )


async def started_setup(tmp_path: Path, fake: FakeGitHub, port: int) -> tuple[ServerProcess, str]:
    """`livebot setup` running, once it printed where to open it; and that link."""
    server = livebot_process(
        "setup",
        port=port,
        env=setup_env(tmp_path, fake, port),
        log_path=tmp_path / "setup.log",
        cwd=tmp_path,
    )
    await server.start()
    line = await eventually(
        lambda: [ln for ln in server.log().splitlines() if "livebot setup: open" in ln], "the link"
    )
    link = line[0].split("open ", 1)[1].split(" ", 1)[0]
    assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/setup\?token=[\w-]{{32}}", link), line
    assert line[0].endswith("(listening on 127.0.0.1)")  # HOST is set by livebot_process
    return server, link


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://github.example.com/api/v3", "https://github.example.com"),
        ("http://127.0.0.1:8002", "http://127.0.0.1:8002"),
    ],
)
def test_the_web_host_follows_the_api_url(api_url: str, web_url: str) -> None:
    assert manifest.web_url(api_url) == web_url
    assert manifest.new_app_url(api_url, "s", "octo-org") == (
        f"{web_url}/organizations/octo-org/settings/apps/new?state=s"
    )


def test_the_manifest_carries_the_public_url() -> None:
    data = manifest.manifest("https://bot.example.org")
    assert data["hook_attributes"]["url"] == "https://bot.example.org/webhook"
    assert data["redirect_url"] == "https://bot.example.org/setup/done"
    assert data["callback_urls"] == ["https://bot.example.org/login/callback"]
    assert "livebot.example.com" not in str(data)


def assert_saved(tmp_path: Path, fake_github: FakeGitHub, port: int) -> None:
    """The app's credentials and PUBLIC_URL are in .env (the person's own values kept), the key
    beside it."""
    saved = dotenv_values(tmp_path / ".env")
    # `livebot serve` from the same folder links to the public address, not to localhost.
    assert saved["PUBLIC_URL"] == f"http://127.0.0.1:{port}"
    assert saved["GITHUB_APP_ID"] == str(fake_github.app_id)
    assert saved["GITHUB_APP_SLUG"] == "my-own-name" and saved["OPENAI_API_KEY"] == "sk-mine"
    assert saved["GITHUB_WEBHOOK_SECRET"] and saved["GITHUB_CLIENT_SECRET"]
    assert (saved["GITHUB_CLIENT_ID"] or "").startswith("Iv1.")
    key_path = Path(saved["GITHUB_PRIVATE_KEY_PATH"] or "")
    assert key_path.read_text() == fake_github.private_key_pem
    assert key_path.is_relative_to((tmp_path / "data").resolve())
    for private in (key_path, tmp_path / ".env"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    settings = load_settings({}, tmp_path / ".env")
    assert settings.github_app_id == fake_github.app_id
    assert settings.base_url == f"http://127.0.0.1:{port}"


async def test_setup_registers_the_app_and_writes_its_settings(
    tmp_path: Path,
    fake_github: FakeGitHub,
    browser: Any,  # noqa: F811
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A value the person already had is kept, and the page says so.
    (tmp_path / ".env").write_text("GITHUB_APP_SLUG=my-own-name\nOPENAI_API_KEY=sk-mine\n")
    server, link = await started_setup(tmp_path, fake_github, port)
    try:
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        started = time.monotonic()
        # Opened before any registration, the page after an install says what to do instead.
        await page.goto(f"{base}/setup/installed")
        assert "Nothing installed yet" in await page.content()
        await page.goto(link)
        assert page.url == f"{base}/setup"  # the secret is off the address bar
        # `/` knows this browser opened the link, and leads back to the form.
        await page.goto(f"{base}/")
        await page.get_by_role("link", name="Continue the setup").click()
        # No name typed: Livebot-<random suffix>, as the field's placeholder shows.
        default_name = await page.get_by_label("App name").get_attribute("placeholder")
        assert default_name is not None and re.fullmatch(r"Livebot-[0-9a-f]{6}", default_name)
        assert "unique across all of GitHub" in await page.content()
        await page.get_by_role("button", name="Continue").click()
        assert default_name in await page.locator("h2").inner_text()
        await page.get_by_role("button", name="Create the app").click()
        await page.wait_for_url("**/setup/done?**")
        install = page.locator("#install-link")
        await install.wait_for()
        took = time.monotonic() - started
        print(f"\nsetup flow in the browser: {took:.2f} s")
        slug = fake_github.app_slug
        assert slug == default_name.lower()
        assert await install.get_attribute("href") == (
            f"https://github.com/apps/{slug}/installations/new"
        )
        assert "GITHUB_APP_SLUG" in await page.locator(".page-error + ul").inner_text()
        # The same redirect again: the state was used up.
        again = await page.goto(page.url)
        assert again is not None and again.status == 400
        assert "expired" in (await page.content())
        # GitHub's redirect after the install (its installation_id) is answered "installed".
        await page.goto(f"{base}/setup/installed?installation_id=7&setup_action=install")
        assert f"@{slug} hello" in await page.locator("main").inner_text()
        # Opened directly, it points at the install page instead.
        await page.goto(f"{base}/setup/installed")
        assert await page.get_by_role("link", name="Install the app").get_attribute("href") == (
            f"{fake_github.url}/apps/{slug}/installations/new"
        )
        # One app per run of `livebot setup`: a second registration is refused.
        await page.goto(f"{base}/setup")
        await page.get_by_role("button", name="Continue").click()
        assert "Already registered" in await page.content()
        await page.goto(f"{base}/")
        assert f"registered {slug}" in await page.locator("main").inner_text()
        assert len(fake_github.manifests_received) == 1
    finally:
        await server.stop()

    posted = fake_github.manifests_received[0]
    assert posted["organization"] is None and posted["manifest"]["name"] == default_name
    assert posted["manifest"]["hook_attributes"]["url"] == f"{base}/webhook"
    assert posted["manifest"]["redirect_url"] == f"{base}/setup/done"
    assert_saved(tmp_path, fake_github, port)


async def test_setup_on_an_organisation(
    tmp_path: Path,
    fake_github: FakeGitHub,
    browser: Any,  # noqa: F811
) -> None:
    port = free_port()
    # A PUBLIC_URL already in .env is kept, as every other setting the person had.
    (tmp_path / ".env").write_text("PUBLIC_URL=https://bot.example.org\n")
    server, link = await started_setup(tmp_path, fake_github, port)
    try:
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(link)
        await page.get_by_label("Organisation").fill("not a login!")
        await page.get_by_role("button", name="Continue").click()
        # Not a dead end: the form again, saying why, with what was typed.
        assert "organisation's login" in await page.get_by_role("alert").inner_text()
        assert await page.get_by_label("Organisation").input_value() == "not a login!"
        await page.get_by_label("Organisation").fill("octo-org")
        await page.get_by_role("button", name="Continue").click()
        assert "Livebot-octo-org" in await page.locator("h2").inner_text()
        await page.get_by_role("button", name="Create the app").click()
        await page.locator("#install-link").wait_for()
    finally:
        await server.stop()
    assert [m["organization"] for m in fake_github.manifests_received] == ["octo-org"]
    assert fake_github.manifests_received[0]["manifest"]["name"] == "Livebot-octo-org"
    saved = dotenv_values(tmp_path / ".env")
    assert saved["PUBLIC_URL"] == "https://bot.example.org" and saved["GITHUB_APP_ID"]


async def confirm_form(session: aiohttp.ClientSession, url: str, **fields: str) -> tuple[str, str]:
    """The setup form posted with `fields`: the confirm page's GitHub address and manifest."""
    async with session.post(url, data=fields) as resp:
        assert resp.status == 200, await resp.text()
        page = await resp.text()
    action = re.search(r'<form method="post" action="([^"]*)"', page)
    manifest_field = re.search(r'name="manifest" value="([^"]*)"', page)
    assert action is not None and manifest_field is not None
    return html.unescape(action[1]), html.unescape(manifest_field[1])


async def test_a_forged_state_exchanges_nothing(tmp_path: Path, fake_github: FakeGitHub) -> None:
    port = free_port()
    server, link = await started_setup(tmp_path, fake_github, port)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            url = f"http://127.0.0.1:{port}/setup/done?code=abc&state=forged"
            async with session.get(url) as resp:
                assert resp.status == 400
            async with session.get(link) as resp:
                csp = resp.headers["Content-Security-Policy"]
                assert "form-action 'self';" in csp and "script-src 'self'" in csp
            async with session.post(f"http://127.0.0.1:{port}/setup", data={}) as resp:
                # Only the page that posts to GitHub may post there.
                csp = resp.headers["Content-Security-Policy"]
                assert f"form-action 'self' {fake_github.url}" in csp
    finally:
        await server.stop()
    assert fake_github.requests_to("POST", "/app-manifests/*") == []
    assert "GITHUB_APP_ID" not in dotenv_values(tmp_path / ".env")


async def test_the_page_after_an_install_is_served_by_livebot_web(
    settings: Settings, web_client: WebClient
) -> None:
    client = await web_client(dataclasses.replace(settings, github_app_id=1))
    resp = await client.get("/setup/installed?installation_id=7&setup_action=install")
    assert resp.status == 200 and "@livebot-test hello" in await resp.text()
    # Opened directly: the app's install page, not "installed".
    text = await (await client.get("/setup/installed")).text()
    assert "The app is installed" not in text
    assert "/apps/livebot-test/installations/new" in text
    # The setup itself is only served by `livebot setup`.
    assert (await client.get("/setup")).status == 404


async def test_without_an_app_nothing_is_said_installed(
    settings: Settings, web_client: WebClient
) -> None:
    client = await web_client(settings)
    text = await (await client.get("/setup/installed?installation_id=7")).text()
    assert "Nothing installed yet" in text and "livebot setup" in text


async def test_without_the_printed_link_nobody_can_set_up(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    port = free_port()
    server, link = await started_setup(tmp_path, fake_github, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as outsider:
            for path in ("/setup", "/setup?token=guess", "/setup?token="):
                assert (await outsider.get(base + path)).status == 403, path
            # `/` says where the link is, and never holds its secret.
            async with outsider.get(base + "/") as home:
                text = await home.text()
                assert home.status == 200 and "printed in its terminal" in text
                assert link.split("token=")[1] not in text and "/setup" not in text
            form = {"account": "personal", "manifest": "{}"}
            assert (await outsider.post(f"{base}/setup", data=form)).status == 403
            # A cookie of its own making is no better.
            forged = {"livebot_setup": "made-up.0000"}
            async with aiohttp.ClientSession(
                cookies=forged, cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as forger:
                assert (await forger.get(f"{base}/setup")).status == 403
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as operator:
            assert (await operator.get(link)).status == 200
    finally:
        await server.stop()
    assert fake_github.manifests_received == []


async def test_another_browser_cannot_finish_the_operators_flow(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    port = free_port()
    server, link = await started_setup(tmp_path, fake_github, port)
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as operator:
            assert (await operator.get(link)).status == 200
            # The name typed is the app's; an empty organisation is the personal account.
            action, manifest_json = await confirm_form(
                operator, f"http://127.0.0.1:{port}/setup", organization="", name="Our Livebot"
            )
            assert "/organizations/" not in action
            back = await operator.post(
                action, data={"manifest": manifest_json}, allow_redirects=False
            )
            done = back.headers["Location"]
            assert "/setup/done?code=" in done
            # Someone who learnt the URL (state and code) but holds no cookie of this browser.
            async with aiohttp.ClientSession() as outsider:
                refused = await outsider.get(done)
                assert refused.status == 400 and "this browser" in await refused.text()
            assert fake_github.requests_to("POST", "/app-manifests/*") == []
            # The operator's own browser still finishes.
            finished = await operator.get(done)
            assert finished.status == 200 and "created" in await finished.text()
    finally:
        await server.stop()
    assert dotenv_values(tmp_path / ".env")["GITHUB_APP_ID"] == str(fake_github.app_id)
    assert fake_github.manifests_received[0]["manifest"]["name"] == "Our Livebot"
    assert fake_github.manifests_received[0]["organization"] is None


async def test_a_failed_exchange_is_one_line_in_the_log(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    port = free_port()
    server, link = await started_setup(tmp_path, fake_github, port)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as operator:
            await operator.get(link)
            action, manifest_json = await confirm_form(operator, f"http://127.0.0.1:{port}/setup")
            back = await operator.post(
                action, data={"manifest": manifest_json}, allow_redirects=False
            )
            # The code GitHub handed back, spoilt: GitHub refuses to convert it.
            spoilt = re.sub(r"code=\w+", "code=spoilt", back.headers["Location"])
            async with operator.get(spoilt) as resp:
                assert resp.status == 502 and "did not hand over" in await resp.text()
        failed = await eventually(
            lambda: [ln for ln in server.log().splitlines() if "setup failed" in ln], "the line"
        )
    finally:
        await server.stop()
    assert len(failed) == 1 and "GitHub did not hand over the app" in failed[0]
    assert "Traceback" not in server.log()


def test_a_default_app_name_fits_githubs_limit() -> None:
    assert manifest.default_app_name("octo-org") == "Livebot-octo-org"
    long_login = "a" * 25 + "-" + "b" * 13
    assert manifest.is_login(long_login)
    name = manifest.default_app_name(long_login)
    assert len(name) <= manifest.MAX_APP_NAME and not name.endswith("-")
    assert manifest.is_app_name(name)
    assert not manifest.is_app_name("-bad") and not manifest.is_app_name("x" * 35)


def test_setup_listens_on_loopback_unless_host_is_set(tmp_path: Path) -> None:
    unset = load_settings({}, tmp_path / "none.env")
    assert listen_settings("setup", unset).host == "127.0.0.1"
    assert listen_settings("serve", unset).host == "0.0.0.0"
    given = load_settings({"HOST": "0.0.0.0"}, tmp_path / "none.env")
    assert listen_settings("setup", given).host == "0.0.0.0"
