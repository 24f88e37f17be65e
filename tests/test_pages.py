"""The one page shell of the server-rendered pages, and `/` in each mode."""

from __future__ import annotations

import dataclasses
import re

from livebot.core.settings import Settings
from livebot.core.version import version
from livebot.demo.recordings import DemoPlayer
from livebot.runs.log import RunLog
from livebot.setup.app_setup import SetupStates
from livebot.web.pages import shell
from livebot.web.pages.demo import index_url
from tests.conftest import WebClient

# What every page of the shell carries: its stylesheets, the header's brand, the footer.
SHELL_PARTS = (
    '<link rel="stylesheet" href="/static/live.css">',
    '<link rel="stylesheet" href="/static/page.css">',
    '<a class="brand" href="/">',
    '<footer class="site-footer">',
    '<meta name="color-scheme" content="light dark">',
)


def assert_in_the_shell(page: str) -> None:
    for part in SHELL_PARTS:
        assert part in page, part
    assert page.count("<html") == 1 and page.count('<h1 class="page-title">') == 1


async def test_home_says_what_this_server_is(settings: Settings, web_client: WebClient) -> None:
    client = await web_client(dataclasses.replace(settings, github_app_id=1))
    resp = await client.get("/")
    page = await resp.text()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert_in_the_shell(page)
    assert f'<code id="version">{version()}</code>' in page
    assert 'href="https://github.com/apps/livebot-test"' in page
    assert 'href="/healthz"' in page
    # Never stored, never indexed, as every other page.
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Robots-Tag"]


async def test_home_without_an_app_links_no_app(settings: Settings, web_client: WebClient) -> None:
    page = await (await (await web_client(settings)).get("/")).text()
    assert "/apps/" not in page and 'href="/healthz"' in page


async def test_home_in_the_demo_links_the_demo(
    settings: Settings, web_client: WebClient, run_log: RunLog
) -> None:
    client = await web_client(settings, demo_player=DemoPlayer(run_log, 1.0))
    page = await (await client.get("/")).text()
    assert_in_the_shell(page)
    link = index_url("", settings.link_secret)
    assert f'id="demo-link" class="page-button" href="{link}"' in page
    assert (await client.get(link)).status == 200


async def test_home_in_setup_never_holds_the_setup_secret(
    settings: Settings, web_client: WebClient
) -> None:
    states = SetupStates()
    client = await web_client(settings, setup_states=states)
    resp = await client.get("/")
    page = await resp.text()
    assert resp.status == 200
    assert_in_the_shell(page)
    assert "printed in its terminal" in page
    assert states.link_token not in page and "token=" not in page


async def test_error_and_install_pages_share_the_shell(
    settings: Settings, web_client: WebClient
) -> None:
    client = await web_client(settings)
    for path, status in (("/runs/nothing-here?token=0", 404), ("/setup/installed", 200)):
        resp = await client.get(path)
        assert resp.status == status, path
        assert_in_the_shell(await resp.text())


def test_a_slot_name_in_the_content_is_left_as_it_is() -> None:
    page = shell.render("Runs", "<p>{{title}} and {{content}}</p>", heading="Runs here").text
    assert page is not None
    assert "<p>{{title}} and {{content}}</p>" in page
    assert "<title>Runs</title>" in page and ">Runs here</h1>" in page


def test_the_referrer_policy_is_no_referrer_unless_a_page_posts_a_form() -> None:
    quiet = shell.render("A page", "")
    assert quiet.text is not None
    assert '<meta name="referrer" content="no-referrer">' in quiet.text
    assert "Referrer-Policy" not in quiet.headers  # the app's default (no-referrer) applies
    posting = shell.render("A page", "", referrer="same-origin")
    assert posting.text is not None
    assert '<meta name="referrer" content="same-origin">' in posting.text
    assert posting.headers["Referrer-Policy"] == "same-origin"


def test_the_title_is_escaped() -> None:
    page = shell.render("<b>x</b>", "").text
    assert page is not None and not re.search(r"<title><b>", page)
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in page
