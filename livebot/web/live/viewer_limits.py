"""Caps on live viewers per client address and per run: past them, 429 with Retry-After."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from aiohttp import web

from livebot.core.parsers import IPNetwork
from livebot.web.client_address import client_address

RETRY_AFTER_SECONDS: Final = 30


class ViewerLimits:
    """Counts of open streams by client address and by run; a count at zero is forgotten.

    The event stream's handler admits and releases its viewer itself (no middleware and no
    context manager): a frame held for the life of every stream is memory per idle viewer."""

    def __init__(
        self, per_address: int, per_run: int, trusted_proxies: Sequence[IPNetwork] = ()
    ) -> None:
        self.per_address = per_address
        self.per_run = per_run
        self.trusted_proxies = tuple(trusted_proxies)
        self.by_address: Counter[str] = Counter()
        self.by_run: Counter[str] = Counter()

    def address(self, request: web.Request) -> str:
        """Whose viewer this is: the client's address (behind trusted proxies, theirs)."""
        return client_address(request, self.trusted_proxies)

    def admit(self, address: str, run_id: str) -> None:
        """Hold a place for one viewer; HTTPTooManyRequests when either cap is reached."""
        if self.by_address[address] >= self.per_address or self.by_run[run_id] >= self.per_run:
            raise web.HTTPTooManyRequests(
                text="Too many live viewers; try again later.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.by_address[address] += 1
        self.by_run[run_id] += 1

    def release(self, address: str, run_id: str) -> None:
        """Give back the place `admit` held."""
        for counts, key in ((self.by_address, address), (self.by_run, run_id)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
