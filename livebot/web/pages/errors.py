"""Error pages in the live page's look: a run that is not there, a run whose log has expired."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Final

from aiohttp import web

from livebot.runs.tombstones import Tombstone
from livebot.web.pages import shell

NOTE: Final = "Live run"
# One answer for an unknown run, a wrong token and a missing one: nothing tells them apart.
NOT_FOUND_TITLE: Final = "No such run"
NOT_FOUND_MESSAGE: Final = (
    "<strong>There is no run at this address.</strong> "
    "<span>Check that the link is the one in the comment on GitHub, token included.</span>"
)
EXPIRED_TITLE: Final = "This run's log has expired"
EXPIRED_WHEN: Final = "<strong>This run's log expired on {when}.</strong> "
EXPIRED_GONE: Final = "<strong>This run's log is gone.</strong> "
EXPIRED_WHY: Final = (
    "<span>Livebot keeps the log of a finished run for a limited time. "
    "The answer itself is still in the comment on GitHub.</span>"
)
COMMENT_LINK: Final = ' <a class="error-link" href="{url}">View the comment on GitHub</a>'
BOX: Final = '<div id="error-message" class="flash flash-warn flash-box error-box">{message}</div>'
TIME_FORMAT: Final = "%B %-d, %Y at %H:%M UTC"


def not_found() -> web.HTTPNotFound:
    """The 404 page of a run that is unknown to whoever asks (raise it)."""
    page = shell.render(NOT_FOUND_TITLE, BOX.format(message=NOT_FOUND_MESSAGE), note=NOTE)
    return web.HTTPNotFound(text=page.text, content_type="text/html")


def _web_url(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def expired(tombstone: Tombstone | None) -> web.Response:
    """The 410 page of a run whose log has expired: when, and its comment if known."""
    if tombstone is None:
        message = EXPIRED_GONE + EXPIRED_WHY
    else:
        when = datetime.fromtimestamp(tombstone.expired_at, UTC)
        stamp = f'<time datetime="{when.isoformat()}">{escape(when.strftime(TIME_FORMAT))}</time>'
        message = EXPIRED_WHEN.format(when=stamp) + EXPIRED_WHY
        url = _web_url(tombstone.comment_url)
        if url:
            message += COMMENT_LINK.format(url=escape(url))
    return shell.render(EXPIRED_TITLE, BOX.format(message=message), note=NOTE, status=410)
