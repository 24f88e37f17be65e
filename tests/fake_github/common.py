"""What every part of the fake GitHub shares: errors, timestamps, pagination."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

DOCS = "https://docs.github.com/rest"


def iso(ts: float | None = None) -> str:
    """GitHub's timestamp format: ISO 8601, seconds, Z."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


class Reply(Exception):
    """Raised by a handler to answer at once with a GitHub error."""

    def __init__(self, http_status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = web.json_response(
            {"message": message, "documentation_url": DOCS, **extra, "status": str(http_status)},
            status=http_status,
        )


def not_found(message: str = "Not Found") -> Reply:
    """GitHub's 404."""
    return Reply(404, message)


def validation_failed(resource: str, code: str, field: str | None = None, **kw: str) -> Reply:
    """GitHub's 422 Validation Failed with one `errors` entry."""
    error: dict[str, str] = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    return Reply(422, "Validation Failed", errors=[{**error, **kw}])


def forbidden_integration() -> Reply:
    """What GitHub answers an installation lacking the permission an endpoint needs."""
    return Reply(403, "Resource not accessible by integration")


def page_params(request: web.Request, default: int = 30) -> tuple[int, int]:
    """(per_page, page) from the query, bounded as GitHub bounds them."""
    try:
        per_page = min(100, max(1, int(request.query.get("per_page", str(default)))))
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        raise Reply(422, "Invalid request.") from None
    return per_page, page


def paginate(
    request: web.Request, base_url: str, items: list[Any], cap: int | None = None
) -> web.Response:
    """One page of `items` with GitHub's `Link` header (prev, next, last, first)."""
    if cap is not None:
        items = items[:cap]
    per_page, page = page_params(request)
    last = max(1, -(-len(items) // per_page))
    links = []

    def link(p: int, rel: str) -> str:
        query = urlencode({**request.query, "per_page": per_page, "page": p})
        return f'<{base_url}{request.path}?{query}>; rel="{rel}"'

    if page > 1:
        links += [link(page - 1, "prev")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first")]
    resp = web.json_response(items[(page - 1) * per_page : page * per_page])
    if links:
        resp.headers["Link"] = ", ".join(links)
    return resp


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; 400 as GitHub answers otherwise."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Reply(400, "Problems parsing JSON")
    return data
