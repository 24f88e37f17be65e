"""Cancel a run from its live page: a POST with the run's token, guarded against CSRF.

A cross-site page cannot forge the request: the browser's `Sec-Fetch-Site` and `Origin` must
say it comes from this site, and the page's script sends a token derived from the run id and
the link secret in a header, which a plain HTML form cannot set.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final

from aiohttp import web
from yarl import URL

from livebot.runs.events import TERMINAL_STATUSES
from livebot.runs.links import same_secret, token_is_valid
from livebot.runs.log import RUN_PAGE, RunNotFound
from livebot.web.app_keys import LINK_SECRET, RUN_LOG, SETTINGS

routes = web.RouteTableDef()

CSRF_HEADER: Final = "X-Livebot-CSRF"
CSRF_PURPOSE: Final = b"cancel:"
NO_SUCH_RUN: Final = "No such run."
CROSS_SITE: Final = "Refused: a run is cancelled from its own page, not from another site."
BAD_CSRF: Final = f"Refused: the {CSRF_HEADER} header is missing or wrong; reload the run page."
ALREADY_OVER: Final = "The run has already ended."


def csrf_token(secret: bytes, run_id: str) -> str:
    """The per-run token the page sends back: an HMAC apart from the link token."""
    return hmac.new(secret, CSRF_PURPOSE + run_id.encode(), hashlib.sha256).hexdigest()[:32]


def page_config(request: web.Request, run_id: str, token: str) -> dict[str, Any]:
    """What the page's script needs to offer the cancel button."""
    return {
        "cancel_url": f"/runs/{run_id}/cancel?token={token}",
        "cancel_token": csrf_token(request.app[LINK_SECRET], run_id),
    }


def _same_origin(request: web.Request) -> bool:
    """Whether the browser says the request comes from a page of this site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        # Every browser that sends no Origin on a POST sends Sec-Fetch-Site.
        return site == "same-origin"
    public = URL(request.app[SETTINGS].base_url)
    allowed = {str(request.url.origin()), str(public.origin())}
    return origin in allowed


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@routes.post("/runs/{run_id}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    """Ask the run to stop, as `@livebot cancel` does; its worker notices within a second."""
    run_id = request.match_info["run_id"]
    if not token_is_valid(request.app[LINK_SECRET], run_id, request.query.get("token", "")):
        raise web.HTTPNotFound(text=NO_SUCH_RUN)
    if not _same_origin(request):
        return _refuse(403, CROSS_SITE)
    sent = request.headers.get(CSRF_HEADER, "")
    if not same_secret(sent, csrf_token(request.app[LINK_SECRET], run_id)):
        return _refuse(403, BAD_CSRF)
    run_log = request.app[RUN_LOG]
    meta = await run_log.meta(run_id)
    if meta is None:
        raise web.HTTPNotFound(text=NO_SUCH_RUN)
    if meta["status"] in TERMINAL_STATUSES:
        return web.json_response({"error": ALREADY_OVER, "status": meta["status"]}, status=409)
    try:
        await run_log.request_cancel(run_id, RUN_PAGE)
    except RunNotFound:
        raise web.HTTPNotFound(text=NO_SUCH_RUN) from None
    return web.json_response({"status": "cancelling", "by": RUN_PAGE}, status=202)
