"""`/`: what this server is, in the page's look; in `livebot demo` the demo's link, in `livebot
setup` the way to the setup (never its secret: that is in the terminal only)."""

from __future__ import annotations

from html import escape
from typing import Final

from aiohttp import web

from livebot.core.version import version
from livebot.setup import manifest
from livebot.web.app_keys import APP_NAME, DEMO_PLAYER, LINK_SECRET, SETTINGS, SETUP_STATES
from livebot.web.pages import setup
from livebot.web.pages.demo import index_url
from livebot.web.pages.shell import render

routes = web.RouteTableDef()

ABOUT: Final = (
    "This server runs Livebot, a GitHub App that answers mentions in issues and pull requests "
    "with a language model; each answer links to a live page where anyone can watch it being "
    "written."
)
SETUP_FROM_TERMINAL: Final = (
    "<code>livebot setup</code> is running here. Open the link it printed in its terminal: "
    "it holds this run's secret, so only whoever started it can register the app."
)
SETUP_CONTINUE: Final = "This browser opened the setup link; carry on where you were."
SETUP_DONE: Final = (
    "This <code>livebot setup</code> registered <code>{slug}</code>. Stop it, then run "
    "<code>livebot check</code> and <code>livebot serve</code>."
)
DEMO: Final = (
    "<code>livebot demo</code> is running here: recorded runs, replayed on the live page; no "
    "GitHub or model is involved."
)


def _demo(request: web.Request) -> web.Response:
    link = index_url("", request.app[LINK_SECRET])
    content = f"""
<div class="page-box"><p>{DEMO}</p>
<p><a id="demo-link" class="page-button" href="{escape(link)}">Open the demo</a></p></div>"""
    return render("Livebot demo", content, note="Demo")


def _setup(request: web.Request) -> web.Response:
    states = request.app[SETUP_STATES]
    if states.registered is not None:
        text = SETUP_DONE.format(slug=escape(states.registered))
        action = ""
    elif setup.opened_here(request):
        text = SETUP_CONTINUE
        action = '<p><a class="page-button" href="/setup">Continue the setup</a></p>'
    else:
        text, action = SETUP_FROM_TERMINAL, ""
    content = f'<div class="page-box"><p>{text}</p>{action}</div>'
    return render("Set up Livebot", content, note=setup.NOTE)


def _server(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    slug = request.app[APP_NAME].slug if settings.github_app_id is not None else None
    app_line = ""
    if slug:
        url = f"{manifest.web_url(settings.github_api_url)}/apps/{slug}"
        app_line = (
            f'<li>The GitHub App: <a id="app-link" href="{escape(url)}">{escape(slug)}</a>; '
            f"mention <code>@{escape(slug)}</code> in an issue of a repository it is installed "
            "on.</li>"
        )
    content = f"""
<div class="page-box"><p>{ABOUT}</p>
<ul class="page-list">
  <li>Version <code id="version">{escape(version())}</code></li>
  {app_line}
  <li>Health: <a href="/healthz"><code>/healthz</code></a></li>
</ul></div>"""
    return render("Livebot", content, note="About")


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """What this server is, or in the demo and the setup where to go."""
    if DEMO_PLAYER in request.app:
        return _demo(request)
    if SETUP_STATES in request.app:
        return _setup(request)
    return _server(request)
