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
OPEN_THE_PRINTED_LINK: Final = (
    "Open the link that `livebot setup` printed in its terminal, in this browser."
)
BAD_ORGANIZATION: Final = (
    "That is not an organisation's login: type it as in <code>github.com/<i>login</i></code> "
    "(letters, digits and hyphens), or leave it empty for your personal account."
)
BAD_NAME: Final = (
    "An app's name is up to 34 letters, digits, spaces, dots, hyphens or underscores, starting "
    "with a letter or digit."
)
NOT_REGISTERED_HINT: Final = (
    "Open the link <code>livebot setup</code> printed in its terminal, create the app, then "
    "install it from the page GitHub sends you back to."
)
NO_APP_HINT: Final = "Run <code>livebot setup</code> to register one, then install it."
# Logged once per failure: the terminal says why the page in the browser did not go on.
SETUP_FAILED: Final = "setup failed: {what}"


def _csp_hosts(settings: Settings) -> str:
    return f"'self' {manifest.web_url(settings.github_api_url)}"


def setup_page(
    settings: Settings,
    states: app_setup.SetupStates,
    *,
    organization: str = "",
    name: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    """The form: the organisation (empty: the personal account) and the app's name."""
    public_url = settings.base_url
    hook_url = manifest.manifest(public_url)["hook_attributes"]["url"]
    warning = "" if settings.public_url else NO_PUBLIC_URL.format(url=escape(public_url))
    problem = f'<p class="page-error" role="alert">{error}</p>' if error else ""
    personal = escape(states.personal_app_name)
    content = f"""
<div class="page-box">
  <h2>Register Livebot as a GitHub App</h2>
  <p>GitHub creates the app from <code>app.yml</code>: webhooks go to
  <code>{escape(hook_url)}</code>, and GitHub sends you back here to save
  the app's id, private key, webhook secret and OAuth client in <code>.env</code>.</p>
  {warning}
  <form method="post" action="/setup">
    <label class="page-field" for="organization">Organisation <span class="page-muted">(optional)
      </span></label>
    <input class="page-input" type="text" id="organization" name="organization" maxlength="39"
      value="{escape(organization)}" placeholder="organisation login"
      aria-describedby="organization-help">
    <p id="organization-help" class="page-help">Leave it empty to create the app on your
      personal account.</p>
    <label class="page-field" for="name">App name</label>
    <input class="page-input" type="text" id="name" name="name"
      maxlength="{manifest.MAX_APP_NAME}" value="{escape(name)}" placeholder="{personal}"
      aria-describedby="name-help">
    <p id="name-help" class="page-help">GitHub App names are unique across all of GitHub, so a
      plain "Livebot" is taken: left empty, it is
      <code>{escape(manifest.APP_NAME_PREFIX)}<i>organisation</i></code>, or
      <code>{personal}</code> on your personal account.</p>
    {problem}
    <p><button class="page-button" type="submit">Continue</button></p>
  </form>
</div>"""
    return render("Set up Livebot", content, note=NOTE, status=status)


def confirm_page(
    settings: Settings, state: str, organization: str | None, name: str
) -> web.Response:
    """The last step before GitHub: what will be created, and the form that posts it there."""
    data = manifest.manifest(settings.base_url, name)
    host = manifest.web_url(settings.github_api_url)
    action = manifest.new_app_url(settings.github_api_url, state, organization)
    owner = (
        f"the organisation <code>{escape(organization)}</code>"
        if organization
        else "your personal account"
    )
    content = f"""
<div class="page-box">
  <h2>Create <code>{escape(name)}</code> on {owner}</h2>
  <p>Webhooks go to <code>{escape(data["hook_attributes"]["url"])}</code>. On {escape(host)},
  check the app and create it; GitHub then sends you back here.</p>
  <form method="post" action="{escape(action)}">
    <input type="hidden" name="manifest" value="{escape(json.dumps(data))}">
    <p><button class="page-button" type="submit">Create the app on {escape(host)}</button>
    <a class="page-button page-button-quiet" href="/setup">Change</a></p>
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
        raise web.HTTPForbidden(text=OPEN_THE_PRINTED_LINK)
    return browser


def opened_here(request: web.Request) -> bool:
    """Whether this browser opened the printed link of this `livebot setup`."""
    return request.app[SETUP_STATES].knows(get_cookie(request, BROWSER_COOKIE))


def _message(title: str, text: str, status: int) -> web.Response:
    content = f"""
<div class="page-box"><p>{text}</p>
<p><a class="page-button page-button-quiet" href="/setup">Start again</a></p></div>"""
    return render(title, content, note=NOTE, status=status)


def _failed(title: str, text: str, status: int, error: str) -> web.Response:
    """A failure of the setup itself: one line in the log, the page in the browser."""
    log.error(SETUP_FAILED.format(what=title), extra={"error": error})
    return _message(title, escape(f"{text}{error}"), status)


@routes.get("/setup")
async def setup(request: web.Request) -> web.Response:
    """The setup page; opened with the printed link's secret, it binds this browser first."""
    states = request.app[SETUP_STATES]
    token = request.query.get("token")
    if token is None:
        _browser(request)
        return setup_page(request.app[SETTINGS], states)
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
async def to_github(request: web.Request) -> web.Response:
    """The form's answers checked (a wrong one: the form again, saying why), the page that
    posts the manifest to GitHub's new-app page."""
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
    name = str(form.get("name", "")).strip()
    error = ""
    if organization and not manifest.is_login(organization):
        error = BAD_ORGANIZATION
    elif name and not manifest.is_app_name(name):
        error = BAD_NAME
    settings = request.app[SETTINGS]
    if error:
        return setup_page(
            settings, states, organization=organization, name=name, error=error, status=400
        )
    if not name:
        name = manifest.default_app_name(organization) if organization else states.personal_app_name
    return confirm_page(settings, states.issue(browser), organization or None, name)


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
        return _failed("No code from GitHub", "", 400, "GitHub sent no code back")
    try:
        app = await app_setup.convert(request.app[HTTP_SESSION], settings.github_api_url, code)
        registered = app_setup.save(settings, app)
        request.app[SETUP_STATES].close(registered.slug)
    except app_setup.SetupError as exc:
        return _failed("GitHub did not hand over the app", "", 502, str(exc))
    except OSError as exc:
        return _failed(
            "The credentials could not be saved",
            "make .env and LIVEBOT_DATA_DIR writable, then start again: ",
            500,
            str(exc),
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
      and run <code>livebot check</code>, then <code>livebot serve</code> (with Docker Compose:
      <code>docker compose up -d</code>, as <code>docs/deployment.md</code> says).</li>
    <li>Write <code>@{escape(registered.slug)} hello</code> in an issue.</li>
  </ol>
</div>"""
    return render("Livebot is registered", content, note=NOTE)


@installed_routes.get("/setup/installed")
async def installed(request: web.Request) -> web.Response:
    """Where GitHub sends people after they install the app: "installed" only when GitHub sent
    them (its `installation_id`) and an app was registered, by this `livebot setup` or
    configured for `livebot serve`; opened directly, what to do instead."""
    app = request.app
    if SETUP_STATES in app:
        slug, hint = app[SETUP_STATES].registered, NOT_REGISTERED_HINT
    else:
        slug = app[APP_NAME].slug if app[SETTINGS].github_app_id is not None else None
        hint = NO_APP_HINT
    if slug is None:
        content = f"""
<div class="page-box"><p>No GitHub App has been registered here yet, so there is nothing to
install. {hint}</p></div>"""
        return render("Nothing installed yet", content, note=NOTE)
    if "installation_id" not in request.query:
        install = f"{manifest.web_url(app[SETTINGS].github_api_url)}/apps/{slug}/installations/new"
        content = f"""
<div class="page-box"><p>GitHub sends you here once <code>{escape(slug)}</code> is installed.
Install it on your repositories first.</p>
<p><a class="page-button" href="{escape(install)}">Install the app</a></p></div>"""
        return render("Install Livebot", content, note=NOTE)
    content = f"""
<div class="page-box"><p>The app is installed. With <code>livebot serve</code> running, write
<code>@{escape(slug)} hello</code> in an issue of one of those repositories.</p></div>"""
    return render("Livebot is installed", content, note=NOTE)
