"""Plain server-rendered pages (setup, demo index) in the live page's look."""

from __future__ import annotations

from functools import cache
from html import escape
from typing import Final

from aiohttp import web

from livebot.web.paths import STATIC_DIR

PAGE_FILE: Final = STATIC_DIR / "page.html"
# Images load from GitHub's avatar host only: any other host, GitHub's image proxy (camo, which
# fetches any URL) among them, would learn who reads a run and could carry an answer's text out.
# livebot/web/static/markdown.js shows every other image in an answer as a link.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' https://avatars.githubusercontent.com; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@cache
def _template() -> str:
    return PAGE_FILE.read_text()


def render(
    title: str, content: str, *, note: str = "", status: int = 200, form_action: str | None = None
) -> web.Response:
    """A page: `content` is trusted HTML; `form_action` widens the CSP for this page only."""
    html = (
        _template()
        .replace("{{title}}", escape(title))
        .replace("{{note}}", escape(note))
        .replace("{{content}}", content)
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    if form_action is not None:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action {form_action}"
        )
    return response
