"""The one place GitHub REST paths are built: every segment quoted, every query encoded.

Names in a path (owners, repositories, branches, file paths, codes) may come from outsiders. Raw,
a `%2e%2e/` in one of them is decoded by the HTTP client and climbs out of the repository, and a
`?` or `#` replaces the query; quoted whole, a segment stays one segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlencode

Segment = str | int
Query = Mapping[str, Segment]

# Segments the client or the server would resolve instead of passing on.
DOT_SEGMENTS: Final = frozenset({"", ".", ".."})


class UnsafeSegment(ValueError):
    """A path segment that cannot stand for itself (empty, `.` or `..`)."""


def api_path(*segments: Segment, query: Query | None = None) -> str:
    """`/seg/seg…?query`, each segment percent-encoded whole (`/` included)."""
    parts = []
    for segment in segments:
        text = str(segment)
        if text in DOT_SEGMENTS:
            raise UnsafeSegment(f"unsafe path segment {text!r}")
        parts.append(quote(text, safe=""))
    path = "/" + "/".join(parts)
    if query:
        path += "?" + urlencode(query, safe="", quote_via=quote)
    return path


def repo_path(repository: str, *segments: Segment, query: Query | None = None) -> str:
    """`/repos/{owner}/{repo}/seg…?query` for `owner/repo`."""
    owner, slash, name = repository.partition("/")
    if not slash:
        raise UnsafeSegment(f"not an owner/repo name: {repository!r}")
    return api_path("repos", owner, name, *segments, query=query)
