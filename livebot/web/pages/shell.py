"""The one shell of every page (setup, demo index, errors, history, usage, `/`, a run's live page)
in the live page's look: head, stylesheets, header, footer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from html import escape
from typing import Final, Literal

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
# The small quiet button of a header or a toolbar (sign out, filter, older runs).
SMALL_BUTTON: Final = "page-button page-button-quiet page-button-small"
SLOT: Final = re.compile(r"\{\{(\w+)\}\}")
# no-referrer everywhere, but a page with a same-origin POST form (sign-out) needs its Origin
# sent, which no-referrer turns into "null" (the CSRF check would refuse it).
Referrer = Literal["no-referrer", "same-origin"]


@cache
def _template() -> str:
    return PAGE_FILE.read_text()


def render(
    title: str,
    content: str,
    *,
    note: str = "",
    status: int = 200,
    form_action: str | None = None,
    heading: str | None = None,
    header: str = "",
    referrer: Referrer = "no-referrer",
    head: str = "",
    banner: str = "",
    footer: str = "",
    body_data: Mapping[str, str] | None = None,
) -> web.Response:
    """A page: `content`, `header` (after the note), `head` (before the stylesheets), `banner`
    (under the header) and `footer` (after its name) are trusted HTML; `heading` is the h1 (the
    title unless given; "" leaves it to the content); `body_data` the body's data-* attributes;
    `form_action` widens the CSP for this page only."""
    heading = title if heading is None else heading
    slots = {
        "title": escape(title),
        "heading": f'  <h1 class="page-title">{escape(heading)}</h1>\n' if heading else "",
        "note": escape(note),
        "header": header,
        "content": content,
        "referrer": referrer,
        "head": head,
        "banner": banner,
        "footer": footer,
        "body": "".join(
            f' data-{name}="{escape(value)}"' for name, value in (body_data or {}).items()
        ),
    }
    # One pass: a slot's name inside the content (a run's title, say) is left as it is.
    html = SLOT.sub(lambda match: slots[match[1]], _template())
    response = web.Response(text=html, content_type="text/html", status=status)
    if referrer != "no-referrer":
        response.headers["Referrer-Policy"] = referrer
    if form_action is not None:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action {form_action}"
        )
    return response
