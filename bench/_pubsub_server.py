"""The peer: one Redis Pub/Sub subscription per viewer, as a typical sse-starlette app does.

Each viewer's handler subscribes its own redis-py `PubSub` to the run's bell channel (the bells
livebot's run log publishes), sends the history once subscribed (so that the benchmark's
exactness check applies to it too), then relays every message. Same Redis, run log, token check,
SSE framing and response class as livebot's own handler: what is measured is a connection and a
reader task per viewer against livebot's one shared connection.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp_sse import sse_response

from bench._peers import KEEPALIVE_SECONDS, RETRY_MS, peer_app, watched_run
from livebot.core.settings import Settings
from livebot.runs.log import Event, id_order
from livebot.store import keys
from livebot.web.app_keys import REDIS
from livebot.web.live import sse

# A quiet stream checks this often that its client is still there.
WAKE_SECONDS: Final = 5.0

routes = web.RouteTableDef()


@routes.get("/runs/{run_id}/events")
async def pubsub_events(request: web.Request) -> web.StreamResponse:
    """Subscribe, send the history, then relay the run's messages."""
    run_id, run_log = await watched_run(request)
    pubsub = request.app[REDIS].pubsub()
    try:
        await pubsub.subscribe(keys.run_bell(run_id))
        history = await run_log.history(run_id)
        last = id_order(history[-1].id) if history else (0, 0)
        done = any(e.event == "complete" for e in history)
        async with sse_response(request, ping_interval=KEEPALIVE_SECONDS) as resp:
            preamble = f"retry: {RETRY_MS}\n\n".encode()
            await resp.write(preamble + b"".join(sse.encode(e) for e in history))
            try:
                while not done and resp.is_connected():
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=WAKE_SECONDS
                    )
                    if message is None:
                        continue
                    _, event_id, event, data = message["data"].split("\n", 3)
                    if id_order(event_id) <= last:
                        continue
                    last, done = id_order(event_id), event == "complete"
                    await resp.write(sse.encode(Event(event_id, event, data)))
            except ConnectionResetError:
                pass
        return resp
    finally:
        await pubsub.aclose()


def create_pubsub_app(settings: Settings) -> web.Application:
    """The peer server: health and the Pub/Sub-per-viewer event stream."""
    return peer_app(settings, routes)
