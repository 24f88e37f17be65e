"""Sign in with GitHub (the app's OAuth web flow), sign out, and who may read a repository."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from html import escape
from typing import Any, Final, cast
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from livebot.github.paths import api_path, repo_path
from livebot.runs.links import same_secret
from livebot.store import keys
from livebot.web.accounts.sealing import sealer
from livebot.web.accounts.sessions import (
    COOKIE,
    CSRF_FIELD,
    SignedIn,
    clear_cookie,
    current_user,
    forget,
    get_cookie,
    set_cookie,
    start_session,
)
from livebot.web.app_keys import ACCESS_SECONDS, HTTP_SESSION, LINK_SECRET, REDIS, SETTINGS
from livebot.web.pages.shell import SMALL_BUTTON, render

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATE_COOKIE: Final = "livebot_oauth"
STATE_SECONDS: Final = 600
# The pending sign-in lives in its cookie, sealed (its `next` may hold a run link's token), so an
# anonymous GET /login stores nothing on the server.
STATE_PURPOSE: Final = "sign-in state"
# A reader who lost access to a private repository keeps it at most this long (plus the live
# stream's 5 s sweep): then GitHub is asked again.
RECHECK_SECONDS: Final = 60.0
MAX_NEXT_CHARS: Final = 2048
# A local path only: never `//host` or a scheme, so the redirect cannot leave this site.
SAFE_NEXT: Final = re.compile(r"/(?![/\\])[^\s]*")
GITHUB_ACCEPT: Final = "application/vnd.github+json"
SIGNED_OUT_MESSAGE: Final = '<p class="flash flash-box">You are signed out of Livebot.</p>'


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
    """Send the browser to GitHub, with a state bound to this browser by a sealed cookie."""
    _configured(request)
    settings = request.app[SETTINGS]
    state = secrets.token_urlsafe(32)
    pending = {
        "state": state,
        "next": safe_next(request.query.get("next")),
        "expires": time.time() + STATE_SECONDS,
    }
    sealed = sealer(request.app[LINK_SECRET], STATE_PURPOSE).seal(json.dumps(pending).encode())
    query = urlencode(
        {
            "client_id": settings.github_client_id or "",
            "redirect_uri": _callback_url(request),
            "state": state,
            "allow_signup": "false",
        }
    )
    response = web.HTTPFound(f"{settings.github_url}/login/oauth/authorize?{query}")
    set_cookie(request, response, STATE_COOKIE, sealed, STATE_SECONDS)
    raise response


def _pending_next(request: web.Request, state: str) -> str | None:
    """Where the sign-in of `state` goes next, if this browser's state cookie started it and is
    fresh (the cookie's own max-age is the browser's to keep, the sealed expiry is not)."""
    opened = sealer(request.app[LINK_SECRET], STATE_PURPOSE).open(get_cookie(request, STATE_COOKIE))
    pending = json.loads(opened) if opened is not None else {}
    if not state or not same_secret(state, str(pending.get("state", ""))):
        return None
    if float(pending.get("expires", 0)) < time.time():
        return None
    return str(pending["next"])


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
    code = request.query.get("code", "")
    next_path = _pending_next(request, request.query.get("state", ""))
    if not code or len(code) > 512 or next_path is None:
        # A replay finds its cookie cleared (and GitHub takes a code once).
        raise web.HTTPBadRequest(
            text="This sign-in link is not valid here or has expired; please sign in again."
        )
    token = await _exchange(request, code)
    try:
        status, user = await _github(request, token, api_path("user"))
    except GitHubUnavailable:
        raise web.HTTPServiceUnavailable(text="GitHub is unavailable; try again later.") from None
    if status != 200 or not isinstance(user.get("login"), str):
        raise web.HTTPBadRequest(text="GitHub did not say who you are; please sign in again.")
    previous = await current_user(request)
    if previous is not None:
        # One session per browser: the one this sign-in replaces ends everywhere.
        await _sign_out(request, previous)
    response = web.HTTPFound(safe_next(next_path))
    await start_session(request, response, user["login"], token)
    clear_cookie(request, response, STATE_COOKIE)
    log.info("signed in", extra={"login": user["login"]})
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    """Sign out (the CSRF middleware has checked the form's token)."""
    response = render("Signed out", SIGNED_OUT_MESSAGE)
    user = await current_user(request)
    if user is not None:
        await _sign_out(request, user)
    clear_cookie(request, response, COOKIE)
    return response


async def _sign_out(request: web.Request, user: SignedIn) -> None:
    """End the session here and its token at GitHub (else it would work on for hours)."""
    await forget(request, user)
    settings = request.app[SETTINGS]
    client_id = settings.github_client_id or ""
    url = f"{settings.github_api_url}/applications/{quote(client_id, safe='')}/token"
    try:
        async with request.app[HTTP_SESSION].delete(
            url,
            json={"access_token": user.token},
            headers={
                "Accept": GITHUB_ACCEPT,
                "Authorization": aiohttp.encode_basic_auth(
                    client_id, settings.github_client_secret or ""
                ),
            },
        ) as resp:
            # 404: GitHub no longer knows the token (expired or revoked already).
            if resp.status not in (204, 404):
                log.warning("GitHub did not revoke a user token", extra={"status": resp.status})
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not revoke a user token at GitHub", extra={"error": repr(exc)})


async def can_read(request: web.Request, user: SignedIn, repository: str) -> bool:
    """Whether GitHub lets the user read `owner/repo` (cached ACCESS_SECONDS per session)."""
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
    ttl_ms = int(request.app[ACCESS_SECONDS] * 1000)
    await redis.set(cache, "1" if allowed else "0", px=ttl_ms)
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
        f'<button type="submit" class="{SMALL_BUTTON}">Sign out</button></form>'
    )
