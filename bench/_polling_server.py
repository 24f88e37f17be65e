"""The baseline: the polling design of the original plan, served like livebot's stream.

Each viewer's handler reads the run's whole event list (XRANGE from the start) every 100 ms
and sends what is new. Same Redis, run log, token check, SSE framing and response class as
livebot's own handler, so the only difference measured is polling versus fan-out.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web
from aiohttp_sse import sse_response

from bench._peers import KEEPALIVE_SECONDS, RETRY_MS, peer_app, watched_run
from livebot.core.settings import Settings
from livebot.runs.log import id_order
from livebot.web.live import sse

POLL_SECONDS: Final = 0.1

routes = web.RouteTableDef()


@routes.get("/runs/{run_id}/events")
async def poll_events(request: web.Request) -> web.StreamResponse:
    """Every 100 ms: the whole event list, and what is new in it."""
    run_id, run_log = await watched_run(request)
    after = request.headers.get("Last-Event-ID") or request.query.get("after") or "0-0"
    last = id_order(after)
    preamble = f"retry: {RETRY_MS}\n\n".encode()
    async with sse_response(request, ping_interval=KEEPALIVE_SECONDS) as resp:
        try:
            while resp.is_connected():
                events = await run_log.history(run_id)
                fresh = [e for e in events if id_order(e.id) > last]
                if fresh or preamble:
                    await resp.write(preamble + b"".join(sse.encode(e) for e in fresh))
                    preamble = b""
                if fresh:
                    last = id_order(fresh[-1].id)
                    if fresh[-1].event == "complete":
                        break
                await asyncio.sleep(POLL_SECONDS)
        except ConnectionResetError:
            pass
    return resp


def create_polling_app(settings: Settings) -> web.Application:
    """The baseline server: health and the polling event stream."""
    return peer_app(settings, routes)
