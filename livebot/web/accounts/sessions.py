"""Signed-in browser sessions: a signed cookie naming a session kept in Redis, and CSRF tokens.

The cookie holds only a random session id and its HMAC; the user's GitHub token stays in Redis,
encrypted (AES-GCM, bound to its session id), never in a URL, a cookie or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

from aiohttp import web

from livebot.runs.links import same_secret
from livebot.store import keys
from livebot.web.accounts.sealing import sealer
from livebot.web.app_keys import LINK_SECRET, REDIS, SETTINGS
from livebot.web.body import body_limit

COOKIE: Final = "livebot_session"
# Over https every cookie is named `__Host-…`: Secure, Path=/ and no Domain, so neither a
# subdomain nor a plain-http page can set or overwrite it.
HOST_PREFIX: Final = "__Host-"
TOKEN_PURPOSE: Final = "session tokens"
# GitHub App user tokens live eight hours; a session never outlives its token.
SESSION_SECONDS: Final = 8 * 3600
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
# Signed by GitHub's HMAC, sent by GitHub's servers: no browser, no session, no CSRF.
CSRF_EXEMPT: Final = frozenset({"/webhook"})
# POSTs that act on the signed-in session, and so need its token besides our own origin; the
# other forms carry a capability of their own (a run link's token, setup's single-use state).
SESSION_POSTS: Final = frozenset({"/logout"})
# Guarded by livebot/web/live/cancel.py itself (same origin, the run's token and a per-run CSRF
# token), which answers in JSON as the page's script expects.
OWN_CSRF_GUARD: Final = re.compile(r"/runs/[^/]+/cancel")
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user of a session."""

    session_id: str
    login: str
    token: str
    csrf: str


def _key(request: web.Request) -> bytes:
    return hmac.new(request.app[LINK_SECRET], b"livebot sessions", hashlib.sha256).digest()


def _sign(request: web.Request, session_id: str) -> str:
    return hmac.new(_key(request), session_id.encode(), hashlib.sha256).hexdigest()


def cookie_name(request: web.Request, name: str) -> str:
    """`name` with the `__Host-` prefix over https; as it is over plain http, where browsers
    refuse a `__Host-` cookie (it cannot be Secure there)."""
    return HOST_PREFIX + name if request.app[SETTINGS].secure_cookies else name


def get_cookie(request: web.Request, name: str) -> str:
    """The value of our cookie `name` ('' when absent)."""
    return request.cookies.get(cookie_name(request, name), "")


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    """A cookie scripts cannot read, sent on top-level navigations from GitHub back to us."""
    response.set_cookie(
        cookie_name(request, name),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].secure_cookies,
    )


def clear_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    """Expire our cookie `name` (a `__Host-` cookie is only replaced by one that is Secure)."""
    response.del_cookie(
        cookie_name(request, name),
        path="/",
        secure=request.app[SETTINGS].secure_cookies,
        httponly=True,
        samesite="Lax",
    )


async def start_session(
    request: web.Request, response: web.StreamResponse, login: str, token: str
) -> None:
    """Keep the user's token server-side, encrypted, and give the browser a signed session id."""
    session_id = secrets.token_urlsafe(32)
    key = keys.session(session_id)
    sealed = sealer(request.app[LINK_SECRET], TOKEN_PURPOSE).seal(
        token.encode(), session_id.encode()
    )
    fields: keys.Fields = {"login": login, "token": sealed, "csrf": secrets.token_urlsafe(32)}
    async with request.app[REDIS].pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, SESSION_SECONDS)
        await pipe.execute()
    cookie = f"{session_id}.{_sign(request, session_id)}"
    set_cookie(request, response, COOKIE, cookie, SESSION_SECONDS)


async def current_user(request: web.Request) -> SignedIn | None:
    """The signed-in user of the request, if its cookie is genuine and its session alive."""
    session_id, _, signature = get_cookie(request, COOKIE).partition(".")
    if not session_id or not same_secret(signature, _sign(request, session_id)):
        return None
    fields = cast(dict[str, str], await request.app[REDIS].hgetall(keys.session(session_id)))
    if not {"login", "token", "csrf"} <= fields.keys():
        return None
    token = sealer(request.app[LINK_SECRET], TOKEN_PURPOSE).open(
        fields["token"], session_id.encode()
    )
    if token is None:
        # Sealed under another secret (LIVEBOT_LINK_SECRET changed): sign in again.
        return None
    return SignedIn(session_id, fields["login"], token.decode(), fields["csrf"])


async def forget(request: web.Request, user: SignedIn) -> None:
    """Delete the session server-side: its cookie opens nothing any more."""
    await request.app[REDIS].delete(keys.session(user.session_id))


def _same_origin(request: web.Request) -> bool:
    """Fetch metadata and an Origin (or Referer) header, when sent, must say: our own site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # Every current browser sends it; our pages' no-referrer policy makes their Origin "null".
        return site == "same-origin"
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True
    # Our origin is the one the browser used (a proxy keeps Host) or the public one.
    netloc = urlsplit(origin).netloc
    return netloc in (request.host, urlsplit(request.app[SETTINGS].base_url).netloc)


@web.middleware
def csrf_protect(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Every state-changing request comes from our own origin; one that acts on a session also
    carries the session's CSRF token."""
    if (
        request.method not in UNSAFE_METHODS
        or request.path in CSRF_EXEMPT
        or OWN_CSRF_GUARD.fullmatch(request.path)
    ):
        # The handler's own coroutine, not awaited here: no frame of this middleware is held for
        # the life of an event stream.
        return handler(request)
    return _checked(request, handler)


async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request once its origin (and, acting on a session, its CSRF token) is verified."""
    limit = body_limit(request.path)
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
    if not _same_origin(request):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token; reload the page and try again.")
    if request.path in SESSION_POSTS:
        # What acts on a signed-in session also proves it came from a page of that session.
        user = await current_user(request)
        # No session, nothing to check the token against: refused before a byte of the body.
        sent = user and (
            request.headers.get(CSRF_HEADER) or str((await request.post()).get(CSRF_FIELD, ""))
        )
        if user is None or not same_secret(sent or "", user.csrf):
            raise web.HTTPForbidden(
                text="Missing or wrong CSRF token; reload the page and try again."
            )
    return await handler(request)
