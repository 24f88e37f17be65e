"""Sign in with GitHub (the app's OAuth web flow), sign out, and who may read a repository."""

from __future__ import annotations

import logging
import re
import secrets
from html import escape
from typing import Any, Final, cast
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot import keys
from bot.api_path import api_path, repo_path
from bot.links import same_secret
from web.keys import HTTP_SESSION, REDIS, SETTINGS
from web.sessions import CSRF_FIELD, SignedIn, current_user, end_session, set_cookie, start_session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATE_COOKIE: Final = "livebot_oauth"
STATE_SECONDS: Final = 600
# What GitHub said about a user and a repository is trusted this long.
ACCESS_SECONDS: Final = 300
MAX_NEXT_CHARS: Final = 2048
# A local path only: never `//host` or a scheme, so the redirect cannot leave this site.
SAFE_NEXT: Final = re.compile(r"/(?![/\\])[^\s]*")
GITHUB_ACCEPT: Final = "application/vnd.github+json"
SIGNED_OUT_PAGE: Final = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="color-scheme" content="light dark"><title>Signed out</title>'
    '<link rel="stylesheet" href="/static/live.css">'
    '<link rel="stylesheet" href="/static/history.css">'
    '</head><body><main class="container"><p class="flash flash-box">You are signed out of Livebot.'
    "</p></main></body></html>"
)


class GitHubUnavailable(Exception):
    """GitHub did not answer the question about a user (network error or 5xx)."""


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: a path of this site, else `/`."""
    if raw and len(raw) <= MAX_NEXT_CHARS and SAFE_NEXT.fullmatch(raw):
        return raw
    return "/"


def login_url(next_path: str) -> str:
    """The sign-in link that comes back to `next_path`."""
    return "/login?" + urlencode({"next": next_path})


def _configured(request: web.Request) -> None:
    if not request.app[SETTINGS].sign_in:
        raise web.HTTPNotFound(text="Sign-in is not configured (GITHUB_CLIENT_ID).")


def _callback_url(request: web.Request) -> str:
    return request.app[SETTINGS].base_url + "/login/callback"


@routes.get("/login")
async def login(request: web.Request) -> web.Response:
    """Send the browser to GitHub, with a single-use state bound to this browser."""
    _configured(request)
    settings = request.app[SETTINGS]
    state = secrets.token_urlsafe(32)
    await request.app[REDIS].set(
        keys.oauth_state(state), safe_next(request.query.get("next")), ex=STATE_SECONDS
    )
    query = urlencode(
        {
            "client_id": settings.github_client_id or "",
            "redirect_uri": _callback_url(request),
            "state": state,
            "allow_signup": "false",
        }
    )
    response = web.HTTPFound(f"{settings.github_url}/login/oauth/authorize?{query}")
    set_cookie(request, response, STATE_COOKIE, state, STATE_SECONDS)
    raise response


async def _exchange(request: web.Request, code: str) -> str:
    """The user's token for the code GitHub handed back."""
    settings = request.app[SETTINGS]
    form = {
        "client_id": settings.github_client_id or "",
        "client_secret": settings.github_client_secret or "",
        "code": code,
        "redirect_uri": _callback_url(request),
    }
    async with request.app[HTTP_SESSION].post(
        f"{settings.github_url}/login/oauth/access_token",
        data=form,
        headers={"Accept": "application/json"},
    ) as resp:
        answer: dict[str, Any] = await resp.json(content_type=None) if resp.status == 200 else {}
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        # GitHub's error code only: the answer may echo what was sent.
        log.warning("GitHub refused the sign-in code", extra={"error": answer.get("error")})
        raise web.HTTPBadRequest(text="GitHub did not accept the sign-in; please try again.")
    return token


async def _github(request: web.Request, token: str, path: str) -> tuple[int, dict[str, Any]]:
    """GET a REST path as the user."""
    settings = request.app[SETTINGS]
    headers = {"Authorization": f"Bearer {token}", "Accept": GITHUB_ACCEPT}
    try:
        async with request.app[HTTP_SESSION].get(
            f"{settings.github_api_url}{path}", headers=headers
        ) as resp:
            if resp.status >= 500:
                raise GitHubUnavailable(f"GitHub answered {resp.status}")
            body = await resp.json(content_type=None) if resp.status == 200 else {}
            return resp.status, cast(dict[str, Any], body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise GitHubUnavailable(repr(exc)) from None


@routes.get("/login/callback")
async def login_callback(request: web.Request) -> web.Response:
    """GitHub sent the browser back: check the state, get the token, start a session."""
    _configured(request)
    state = request.query.get("state", "")
    code = request.query.get("code", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not code or len(code) > 512 or not same_secret(state, cookie):
        raise web.HTTPBadRequest(text="This sign-in link is not valid here; please sign in again.")
    next_path = cast(str | None, await request.app[REDIS].getdel(keys.oauth_state(state)))
    if next_path is None:
        raise web.HTTPBadRequest(text="This sign-in has expired or was used; please sign in again.")
    token = await _exchange(request, code)
    try:
        status, user = await _github(request, token, api_path("user"))
    except GitHubUnavailable:
        raise web.HTTPServiceUnavailable(text="GitHub is unavailable; try again later.") from None
    if status != 200 or not isinstance(user.get("login"), str):
        raise web.HTTPBadRequest(text="GitHub did not say who you are; please sign in again.")
    response = web.HTTPFound(safe_next(next_path))
    await start_session(request, response, user["login"], token)
    response.del_cookie(STATE_COOKIE, path="/")
    log.info("signed in", extra={"login": user["login"]})
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    """Sign out (the CSRF middleware has checked the form's token)."""
    response = web.Response(text=SIGNED_OUT_PAGE, content_type="text/html")
    await end_session(request, response)
    return response


async def can_read(request: web.Request, user: SignedIn, repository: str) -> bool:
    """Whether GitHub lets the user read `owner/repo` (cached a few minutes per session)."""
    redis = request.app[REDIS]
    cache = keys.session_access(user.session_id, repository)
    cached = await redis.get(cache)
    if cached is not None:
        return bool(cached == "1")
    try:
        status, _ = await _github(request, user.token, repo_path(repository))
    except GitHubUnavailable as exc:
        log.warning("could not ask GitHub who may read", extra={"error": str(exc)})
        raise web.HTTPServiceUnavailable(text="GitHub is unavailable; try again later.") from None
    allowed = status == 200
    await redis.set(cache, "1" if allowed else "0", ex=ACCESS_SECONDS)
    return allowed


async def reader(request: web.Request, repository: str) -> SignedIn | None:
    """The signed-in user who may read `repository`; 404 for anyone signed in who may not."""
    user = await current_user(request)
    if user is None:
        return None
    if not await can_read(request, user, repository):
        raise web.HTTPNotFound(text="Not found.")
    return user


def logout_form(user: SignedIn) -> str:
    """The sign-out button, carrying the session's CSRF token."""
    return (
        f'<form class="signout" method="post" action="/logout">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(user.csrf)}">'
        f'<span class="signed-in-as">{escape(user.login)}</span> '
        f'<button type="submit" class="btn">Sign out</button></form>'
    )
