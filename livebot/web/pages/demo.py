"""The demo's index: every recorded run, each played afresh on a button."""

from __future__ import annotations

from html import escape
from typing import Final

from aiohttp import web

from livebot.demo.recordings import MAX_PLAYING, RECORDINGS, DemoBusy
from livebot.runs.links import run_token, run_url, token_is_valid
from livebot.web.app_keys import DEMO_PLAYER, LINK_SECRET
from livebot.web.pages.shell import render

routes = web.RouteTableDef()

# The index's link token is the run-link HMAC of this name: stable while the link secret is.
INDEX_NAME: Final = "demo"
NOTE: Final = "Demo"


def index_url(base_url: str, secret: bytes) -> str:
    """The demo's index page, as `livebot demo` prints it."""
    return f"{base_url.rstrip('/')}/demo?token={run_token(secret, INDEX_NAME)}"


def _token(request: web.Request) -> str:
    token = request.query.get("token", "")
    if not token_is_valid(request.app[LINK_SECRET], INDEX_NAME, token):
        raise web.HTTPNotFound(text="No such demo.")
    return token


@routes.get("/demo")
async def index(request: web.Request) -> web.Response:
    """The recorded runs, each with a button that plays it from the start."""
    token = _token(request)
    items = "".join(
        f"""<li><form class="page-inline-form" method="post"
          action="/demo/{name}?token={token}"><button class="page-button"
          type="submit" id="play-{name}">Play</button></form>
          <span><span class="demo-kind">{escape(recording.title)}</span>
          <span class="demo-about">{escape(recording.about)}</span></span></li>"""
        for name, recording in RECORDINGS.items()
    )
    content = f"""
<div class="flash flash-demo"><div class="flash-inner"><strong>Demo</strong>
<span>Recorded runs, replayed through the real run log and live stream; no GitHub or model is
involved.</span></div></div>
<div class="page-box">
  <h2>Watch a run being written</h2>
  <p class="page-muted">Each button starts the recording again and opens its live page, where
  <em>Cancel run</em> stops it as it stops a real run; come back here to play it again.</p>
  <ul class="demo-list">{items}</ul>
</div>"""
    return render("Livebot demo", content, note=NOTE, form_action="'self'")


@routes.post("/demo/{name}")
async def play(request: web.Request) -> web.Response:
    """Start a fresh run of one recording and open its live page."""
    _token(request)
    name = request.match_info["name"]
    if name not in RECORDINGS:
        raise web.HTTPNotFound(text="No such recording.")
    try:
        run_id = await request.app[DEMO_PLAYER].start(name)
    except DemoBusy:
        raise web.HTTPTooManyRequests(
            text=f"{MAX_PLAYING} demo runs are playing; try again in a minute."
        ) from None
    raise web.HTTPSeeOther(run_url("", request.app[LINK_SECRET], run_id))
