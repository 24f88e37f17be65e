"""The one page shell of the server-rendered pages, and `/` in each mode."""

from __future__ import annotations

import dataclasses
import json
import re

from livebot.core.settings import Settings
from livebot.core.version import version
from livebot.demo.recordings import DemoPlayer
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.setup.app_setup import SetupStates
from livebot.web.app_keys import RUN_LOG
from livebot.web.pages import shell
from livebot.web.pages.demo import index_url
from tests.conftest import WebClient
from tests.support import PUBLIC

# What every page of the shell carries: its stylesheets, the header's brand, the footer.
SHELL_PARTS = (
    '<link rel="stylesheet" href="/static/live.css">',
    '<link rel="stylesheet" href="/static/page.css">',
    '<a class="brand" href="/">',
    '<footer class="site-footer">',
    '<meta name="color-scheme" content="light dark">',
)


def assert_in_the_shell(page: str, *, headings: int = 1) -> None:
    for part in SHELL_PARTS:
        assert part in page, part
    assert page.count("<html") == 1 and page.count('<h1 class="page-title">') == headings


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


async def test_the_run_page_is_in_the_shell(settings: Settings, web_client: WebClient) -> None:
    client = await web_client(settings)
    run_id = await client.app[RUN_LOG].create(
        workflow="comment", repository="octo/<b>", number=7, fields=PUBLIC
    )
    resp = await client.get(f"/runs/{run_id}?token={run_token(settings.link_secret, run_id)}")
    page = await resp.text()
    assert resp.status == 200
    # Its own h1 in the content, none from the shell; its state on the body, its banner above.
    assert_in_the_shell(page, headings=0)
    assert '<body data-run-state="connecting">' in page and page.count("<h1") == 1
    assert page.index('id="demo-banner"') < page.index("<main") < page.index('id="run-heading"')
    assert page.index('id="announcer"') < page.index("<main")  # no part of the page's text
    assert page.index('id="run-id"') > page.index('<footer class="site-footer">')
    assert "<title>Livebot · octo/&lt;b&gt;#7</title>" in page
    # The config is data in a JSON block: no '<' closes it, and no inline script runs.
    config = re.search(r'<script id="run-config" type="application/json">(.*?)</script>', page)
    assert config is not None and "<" not in config[1]
    assert json.loads(config[1])["repository"] == "octo/<b>"
    assert "script-src 'self';" in resp.headers["Content-Security-Policy"]
    assert len(re.findall(r"<script(?![^>]*(?: src=| type=\"application/json\"))", page)) == 0


def test_the_shell_takes_head_entries_a_banner_a_footer_and_body_data() -> None:
    page = shell.render(
        "A page",
        "<h1>Own</h1>",
        heading="",
        head='<link rel="stylesheet" href="/static/x.css">\n',
        banner='<div id="b"></div>\n',
        footer="<span>more</span>\n",
        body_data={"run-state": 'a"b'},
    ).text
    assert page is not None and '<h1 class="page-title">' not in page
    assert page.index("x.css") < page.index("live.css") < page.index("</head>")
    assert '<body data-run-state="a&quot;b">' in page
    assert page.index("</header>") < page.index('id="b"') < page.index("<main")
    assert page.index("<span>Livebot</span>") < page.index("<span>more</span>")
    assert page.index("<span>more</span>") < page.index("</footer>")
    # Another page is as it was: a plain body, the title as its h1.
    plain = shell.render("A page", "").text
    assert plain is not None and "<body>" in plain
    assert '<h1 class="page-title">A page</h1>' in plain


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
