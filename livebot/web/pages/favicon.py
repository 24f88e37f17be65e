"""`/favicon.ico`: browsers ask for it on every page; it is the same mark as the page's icon."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from livebot.web.paths import STATIC_DIR

routes = web.RouteTableDef()
FAVICON: Final = STATIC_DIR / "favicon.svg"
# A day: the mark changes rarely and every page asks for it.
CACHE_CONTROL: Final = "public, max-age=86400"


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.FileResponse:
    """The favicon (SVG, which every current browser takes under this name too)."""
    return web.FileResponse(
        FAVICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": CACHE_CONTROL}
    )
