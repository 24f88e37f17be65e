"""The client's address: the peer's, or what trusted reverse proxies say in X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

from aiohttp import web

from livebot.core.parsers import IPNetwork

FORWARDED_FOR: Final = "X-Forwarded-For"


def _trusted(address: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: web.Request, proxies: Sequence[IPNetwork]) -> str:
    """The peer, unless it is a trusted proxy: then X-Forwarded-For walked right to left, each
    trusted hop skipped; the first other hop is the client (anyone may write the hops left of
    it). A malformed hop ends the walk at the trusted hop that reported it."""
    peer = request.remote or ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = ",".join(request.headers.getall(FORWARDED_FOR, ())).split(",")
    client = peer
    for hop in reversed(hops):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = hop
        if not _trusted(hop, proxies):
            return client
    return client
