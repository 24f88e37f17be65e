"""`livebot setup`'s pages: register the GitHub App from app.yml through GitHub's manifest flow.

Only the browser that opened the printed link (its secret) may use them: opening it sets a cookie,
and each trip to GitHub is bound to that cookie, so nobody else can register their app here.
"""

from __future__ import annotations

import json
import logging
from html import escape
from typing import Final

from aiohttp import web

from livebot.core.settings import Settings
from livebot.setup import app_setup, manifest
from livebot.web.accounts.sessions import get_cookie, set_cookie
from livebot.web.app_keys import APP_NAME, HTTP_SESSION, SETTINGS, SETUP_STATES
from livebot.web.pages.shell import render

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# Served in every mode: GitHub sends people there after an install, long after setup ended.
installed_routes = web.RouteTableDef()

NOTE: Final = "Setup"
BROWSER_COOKIE: Final = "livebot_setup"
NO_PUBLIC_URL: Final = (
    "<p class='page-error'>PUBLIC_URL is not set, so GitHub will be told to send webhooks to "
    "{url}, which it cannot reach. Set PUBLIC_URL to this server's public address (a tunnel to "
    "this port will do for a trial) and restart <code>livebot setup</code>.</p>"
)


def _csp_hosts(settings: Settings) -> str:
    return f"'self' {manifest.web_url(settings.github_api_url)}"


def setup_page(settings: Settings) -> web.Response:
    """The form: the manifest, personal account or organisation, one button to GitHub."""
    public_url = settings.base_url
    data = manifest.manifest(public_url)
    host = manifest.web_url(settings.github_api_url)
    warning = "" if settings.public_url else NO_PUBLIC_URL.format(url=escape(public_url))
    content = f"""
<div class="page-box">
  <h2>Register Livebot as a GitHub App</h2>
  <p>GitHub creates the app from <code>app.yml</code>: webhooks go to
  <code>{escape(data["hook_attributes"]["url"])}</code>, and GitHub sends you back here to save
  the app's id, private key, webhook secret and OAuth client in <code>.env</code>.</p>
  {warning}
  <form method="post" action="/setup">
    <input type="hidden" name="manifest" value="{escape(json.dumps(data))}">
    <label class="page-field"><input type="radio" name="account" value="personal" checked>
      On my personal account</label>
    <label class="page-field"><input type="radio" name="account" value="organization">
      On an organisation:</label>
    <label class="page-field"><input type="text" name="organization" maxlength="39"
      placeholder="organisation login" aria-label="organisation login"></label>
    <p><button class="page-button" type="submit">Create the app on {escape(host)}</button></p>
  </form>
</div>"""
    return render("Set up Livebot", content, note=NOTE, form_action=_csp_hosts(settings))


def setup_url(base_url: str, token: str) -> str:
    """The setup page, as `livebot setup` prints it."""
    return f"{base_url.rstrip('/')}/setup?token={token}"


def _browser(request: web.Request) -> str:
    """The browser's id from its cookie, or 403 for a browser that never opened the link."""
    browser = get_cookie(request, BROWSER_COOKIE)
    if not request.app[SETUP_STATES].knows(browser):
        raise web.HTTPForbidden(
            text="Open the link that `livebot setup` printed in its terminal, in this browser."
        )
    return browser


def _message(title: str, text: str, status: int) -> web.Response:
    content = f"""
<div class="page-box"><p>{text}</p>
<p><a class="page-button page-button-quiet" href="/setup">Start again</a></p></div>"""
    return render(title, content, note=NOTE, status=status)


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """The setup page while no app is configured, else where to go next."""
    settings = request.app[SETTINGS]
    if settings.github_app_id is None:
        _browser(request)
        return setup_page(settings)
    content = """
<div class="page-box"><p>Livebot is running. Mention the app in an issue of a repository it is
installed on; its answer links to a live page.</p></div>"""
    return render("Livebot", content)


@routes.get("/setup")
async def setup(request: web.Request) -> web.Response:
    """The setup page; opened with the printed link's secret, it binds this browser first."""
    states = request.app[SETUP_STATES]
    token = request.query.get("token")
    if token is None:
        _browser(request)
        return setup_page(request.app[SETTINGS])
    if not states.opens(token):
        raise web.HTTPForbidden(text="This is not the link `livebot setup` printed.")
    # Off the address bar (and history) at once; the cookie carries on.
    response = web.HTTPSeeOther("/setup")
    browser = get_cookie(request, BROWSER_COOKIE)
    if not states.knows(browser):
        browser = states.new_browser()
    set_cookie(request, response, BROWSER_COOKIE, browser, int(app_setup.STATE_TTL_SECONDS))
    raise response


@routes.post("/setup")
async def to_github(request: web.Request) -> web.StreamResponse:
    """Send the form on to GitHub's new-app page (307 keeps the POST and its manifest)."""
    browser = _browser(request)
    states = request.app[SETUP_STATES]
    if states.registered is not None:
        return _message(
            "Already registered",
            f"This <code>livebot setup</code> registered <code>{escape(states.registered)}</code>"
            "; restart it to register another app.",
            409,
        )
    form = await request.post()
    organization = str(form.get("organization", "")).strip()
    if form.get("account") != "organization":
        organization = ""
    elif not manifest.is_login(organization):
        return _message(
            "Which organisation?",
            "Type the organisation's login (letters, digits and hyphens), as in "
            "<code>github.com/<i>login</i></code>.",
            400,
        )
    state = states.issue(browser)
    location = manifest.new_app_url(
        request.app[SETTINGS].github_api_url, state, organization or None
    )
    raise web.HTTPTemporaryRedirect(location)


@routes.get("/setup/done")
async def done(request: web.Request) -> web.Response:
    """GitHub's redirect: exchange the code once, save the credentials, link the install page."""
    settings = request.app[SETTINGS]
    code = request.query.get("code", "")
    browser = get_cookie(request, BROWSER_COOKIE)
    if not request.app[SETUP_STATES].take(request.query.get("state", ""), browser):
        return _message(
            "This link has expired",
            "This setup link was already used, is older than an hour, or was not started in "
            "this browser.",
            400,
        )
    if not code or len(code) > 200:
        return _message("No code from GitHub", "GitHub sent no code back.", 400)
    try:
        app = await app_setup.convert(request.app[HTTP_SESSION], settings.github_api_url, code)
        registered = app_setup.save(settings, app)
        request.app[SETUP_STATES].close(registered.slug)
    except app_setup.SetupError as exc:
        return _message("GitHub did not hand over the app", escape(str(exc)), 502)
    except OSError as exc:
        return _message(
            "The credentials could not be saved",
            escape(f"{exc}; make .env and LIVEBOT_DATA_DIR writable, then start again"),
            500,
        )
    log.info("app registered", extra={"slug": registered.slug})
    kept = "".join(f"<li><code>{escape(n)}</code></li>" for n in registered.env.kept)
    kept_note = (
        f"""<p class="page-error">Already set in <code>{escape(str(settings.env_file))}</code>,
        so kept as they were (remove them and start again to use the new app's):</p>
        <ul class="page-list">{kept}</ul>"""
        if kept
        else ""
    )
    written = ", ".join(f"<code>{escape(n)}</code>" for n in registered.env.written)
    content = f"""
<div class="page-box">
  <h2>GitHub App <code>{escape(registered.slug)}</code> created</h2>
  <p>Saved in <code>{escape(str(settings.env_file))}</code>: {written or "nothing"}.
  The private key is in <code>{escape(registered.key_path)}</code> (readable by you only).</p>
  {kept_note}
</div>
<div class="page-box">
  <h2>Next</h2>
  <ol class="page-list">
    <li><a id="install-link" class="page-button" href="{escape(registered.install_url)}">Install
      the app on your repositories</a></li>
    <li>Stop <code>livebot setup</code>, add <code>OPENAI_API_KEY</code> to <code>.env</code>,
      and run <code>livebot check</code>, then <code>livebot serve</code>.</li>
    <li>Write <code>@{escape(registered.slug)} hello</code> in an issue.</li>
  </ol>
</div>"""
    return render("Livebot is registered", content, note=NOTE)


@installed_routes.get("/setup/installed")
async def installed(request: web.Request) -> web.Response:
    """Where GitHub sends people after they install the app."""
    slug = escape(request.app[APP_NAME].slug or "livebot")
    content = f"""
<div class="page-box"><p>The app is installed. With <code>livebot serve</code> running, write
<code>@{slug} hello</code> in an issue of one of those repositories.</p></div>"""
    return render("Livebot is installed", content, note=NOTE)
