"""Who may see a run: public only when its repository said so; whatever is not known is private."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

Visibility = Literal["public", "private"]
# The field of a run's metadata (and of a job) that says it.
FIELD: Final = "visibility"


def of_repository(repository: Mapping[str, Any]) -> Visibility:
    """A delivery's repository: public only when it says `"private": false` (GitHub always does)."""
    return "public" if repository.get("private") is False else "private"


def legacy(private: object, trigger: object) -> Visibility:
    """What a run or job written before `visibility` was: its `private` flag was right for
    mentions, but automatic reviews (they carry a `trigger`) wrote "not private" without knowing."""
    return "public" if private in (False, "0") and not trigger else "private"


def is_private(meta: Mapping[str, str]) -> bool:
    """Whether a run's metadata (in Redis or in the archive) keeps it from anyone with the link."""
    visibility = meta.get(FIELD)
    if visibility is None:
        visibility = legacy(meta.get("private"), meta.get("trigger"))
    return visibility != "public"
