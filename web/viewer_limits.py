"""Caps on live viewers per client address and per run: past them, 429 with Retry-After."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

EVENTS_ROUTE: Final = "/runs/{run_id}/events"
RETRY_AFTER_SECONDS: Final = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ViewerLimits:
    """Counts of open streams by client address and by run; a count at zero is forgotten."""

    def __init__(self, per_address: int, per_run: int) -> None:
        self.per_address = per_address
        self.per_run = per_run
        self.by_address: Counter[str] = Counter()
        self.by_run: Counter[str] = Counter()

    @contextmanager
    def admit(self, address: str, run_id: str) -> Iterator[None]:
        """Hold a place for one viewer; HTTPTooManyRequests when either cap is reached."""
        if self.by_address[address] >= self.per_address or self.by_run[run_id] >= self.per_run:
            raise web.HTTPTooManyRequests(
                text="Too many live viewers; try again later.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.by_address[address] += 1
        self.by_run[run_id] += 1
        try:
            yield
        finally:
            for counts, key in ((self.by_address, address), (self.by_run, run_id)):
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]


def viewer_limits(limits: ViewerLimits) -> Middleware:
    """A middleware holding a viewer's place for the life of its event stream."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is None or resource.canonical != EVENTS_ROUTE:
            return await handler(request)
        with limits.admit(request.remote or "", request.match_info["run_id"]):
            return await handler(request)

    return middleware
