"""The Server-Sent Events wire format of run events, and the stream that carries them."""

from __future__ import annotations

import socket
from typing import Final

from aiohttp import hdrs, web

from livebot.runs.log import Event

# A comment line: browsers ignore it; proxies and NATs see traffic on a quiet stream.
KEEPALIVE: Final = b": ping\n\n"
HEADERS: Final = {
    hdrs.CONTENT_TYPE: "text/event-stream",
    hdrs.CACHE_CONTROL: "no-cache",
    hdrs.CONNECTION: "keep-alive",
    # nginx would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}
# Written data unacknowledged this long makes the kernel abort the connection (Linux): a hung
# viewer is found even while the socket's buffers are far from full.
UNACKED_SECONDS: Final = 120
TCP_USER_TIMEOUT: Final = getattr(socket, "TCP_USER_TIMEOUT", None)
TCP_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)


def encode(event: Event) -> bytes:
    """One event as an SSE message: `id`, `event`, and its JSON data (which has no raw newline)."""
    return f"id: {event.id}\nevent: {event.event}\ndata: {event.data}\n\n".encode()


async def open_stream(request: web.Request) -> web.StreamResponse:
    """An event stream, its headers sent. Nothing runs beside its handler (the handler writes
    the keep-alives) and nothing of its headers is kept: an idle viewer costs little."""
    if request.method != hdrs.METH_GET:
        raise web.HTTPMethodNotAllowed(request.method, [hdrs.METH_GET])
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if TCP_USER_TIMEOUT is not None and sock is not None and sock.family in TCP_FAMILIES:
        # Left as is when the stream ends: it suits any later answer on the connection too.
        sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, UNACKED_SECONDS * 1000)
    response = web.StreamResponse(headers=HEADERS)
    response.enable_chunked_encoding()
    await response.prepare(request)
    # On the wire already, never read again: a stream's headers are a few KB of strings.
    response.headers.clear()
    return response
