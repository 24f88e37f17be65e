"""`livebot setup`'s pages: register the GitHub App from app.yml through GitHub's manifest flow."""

from __future__ import annotations

import json
import logging
from html import escape
from typing import Final

from aiohttp import web

from bot import app_setup, manifest
from bot.settings import Settings
from web.keys import APP_SLUG, HTTP_SESSION, SETTINGS, SETUP_STATES
from web.pages import render

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# Served in every mode: GitHub sends people there after an install, long after setup ended.
installed_routes = web.RouteTableDef()

NOTE: Final = "Setup"
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
        return setup_page(settings)
    content = """
<div class="page-box"><p>Livebot is running. Mention the app in an issue of a repository it is
installed on; its answer links to a live page.</p></div>"""
    return render("Livebot", content)


@routes.get("/setup")
async def setup(request: web.Request) -> web.Response:
    """The setup page."""
    return setup_page(request.app[SETTINGS])


@routes.post("/setup")
async def to_github(request: web.Request) -> web.StreamResponse:
    """Send the form on to GitHub's new-app page (307 keeps the POST and its manifest)."""
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
    state = states.issue()
    location = manifest.new_app_url(
        request.app[SETTINGS].github_api_url, state, organization or None
    )
    raise web.HTTPTemporaryRedirect(location)


@routes.get("/setup/done")
async def done(request: web.Request) -> web.Response:
    """GitHub's redirect: exchange the code once, save the credentials, link the install page."""
    settings = request.app[SETTINGS]
    code = request.query.get("code", "")
    if not request.app[SETUP_STATES].take(request.query.get("state", "")):
        return _message(
            "This link has expired",
            "This setup link was already used, is older than an hour, or was not started here.",
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
    slug = escape(request.app[APP_SLUG])
    content = f"""
<div class="page-box"><p>The app is installed. With <code>livebot serve</code> running, write
<code>@{slug} hello</code> in an issue of one of those repositories.</p></div>"""
    return render("Livebot is installed", content, note=NOTE)
