"""Request bodies read in chunks, under a size cap, a deadline and a shared memory budget."""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

# What a request may send, by route: GitHub's deliveries are large; every other route reads a
# small form at most. Enforced by aiohttp's reads (`client_max_size`), `read_body` and, beneath
# both, the connection guard (livebot/web/connections.py), which reads no further past it.
MAX_BODY_BYTES: Final = 25 * 1024 * 1024
DEFAULT_BODY_BYTES: Final = 64 * 1024
ROUTE_BODY_BYTES: Final = {"/webhook": MAX_BODY_BYTES}
# Bodies up to this size are read at once; beyond it, each byte comes out of the shared budget.
SMALL_BODY_BYTES: Final = 256 * 1024
CHUNK_BYTES: Final = 64 * 1024
RETRY_AFTER_SECONDS: Final = 10


def body_limit(path: str) -> int:
    """The most a request to `path` may send."""
    return ROUTE_BODY_BYTES.get(path, DEFAULT_BODY_BYTES)


class BodyBudget:
    """Bytes that large bodies not yet verified may hold in memory at once, over all requests."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0

    def reserve(self, size: int) -> bool:
        """Take `size` bytes of the budget if they are there."""
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    def release(self, size: int) -> None:
        """Give back what `reserve` took."""
        self.held -= size


async def read_body(request: web.Request, *, seconds: float, budget: BodyBudget) -> bytes:
    """The whole body: 413 past its route's limit, 408 past `seconds`, 503 while the budget is
    spent.

    A body without Content-Length may be at most SMALL_BODY_BYTES (GitHub always sends one).
    """
    limit = body_limit(request.path)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    if declared is not None and declared <= SMALL_BODY_BYTES and request.content.is_eof():
        # All of it arrived with the headers (as a webhook's nearly always does): take it as is.
        return request.content.read_nowait()
    cap = SMALL_BODY_BYTES if declared is None else declared
    reserved = max(0, cap - SMALL_BODY_BYTES)
    if not budget.reserve(reserved):
        raise web.HTTPServiceUnavailable(
            text="Too many large request bodies at once; try again later.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.content.iter_chunked(CHUNK_BYTES):
                size += len(chunk)
                if size > cap:
                    raise web.HTTPRequestEntityTooLarge(max_size=cap, actual_size=size)
                chunks.append(chunk)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"The body was not sent within {seconds:g} s.") from None
    finally:
        budget.release(reserved)
    return b"".join(chunks)
