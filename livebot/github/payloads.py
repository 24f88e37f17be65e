"""Explicit checks of the payload fields livebot reads: a bad payload is a 400, never a 500.

Every id that reaches a URL is a positive integer within JSON's safe range, and every name matches
GitHub's own pattern, so a signed but hostile payload cannot steer a request elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

MAX_ID: Final = 2**53
LOGIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")
REPOSITORY: Final = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")
MAX_TEXT_CHARS: Final = 1_000_000
# The objects an event carries: where one is, it must be an object (handlers look inside).
OBJECTS: Final = ("issue", "pull_request", "comment", "repository", "sender", "installation")


class PayloadError(Exception):
    """A payload lacks a field an event needs, or has it in the wrong shape (the message says)."""


# What orjson refuses (Infinity and NaN, numbers beyond a double's range, nesting past 1,024
# levels, invalid UTF-8, lone surrogates) it refuses in time linear in the body, so a hostile
# payload costs little; an integer past 64 bits becomes a float, which no check takes for an id.


def parse(body: bytes) -> dict[str, Any]:
    """A delivery's JSON object; PayloadError for anything else, refused before it costs much."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    return checked(data)


def checked(data: Any) -> dict[str, Any]:
    """A parsed delivery as a payload the routers may read; PayloadError for anything else."""
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    # The router looks the action up among the handlers' actions: it must be a string.
    if not isinstance(data.get("action", ""), str):
        raise PayloadError("action is not a string")
    for name in OBJECTS:
        if name in data and not isinstance(data[name], dict):
            raise PayloadError(f"`{name}` is not an object")
    return data


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 < value < MAX_ID


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT_CHARS


def _is_optional_text(value: Any) -> bool:
    return value is None or _is_text(value)


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool)


def _is_login(value: Any) -> bool:
    return isinstance(value, str) and LOGIN.fullmatch(value) is not None


def _is_repository(value: Any) -> bool:
    return isinstance(value, str) and REPOSITORY.fullmatch(value) is not None


# What a field must be: (how a person says it, the test).
Check = tuple[str, Callable[[Any], bool]]
ID: Final[Check] = ("a positive integer id", _is_id)
TEXT: Final[Check] = ("a string", _is_text)
OPTIONAL_TEXT: Final[Check] = ("a string or null", _is_optional_text)
FLAG: Final[Check] = ("true or false", _is_flag)
USER: Final[Check] = ("a GitHub login", _is_login)
REPO: Final[Check] = ("owner/name", _is_repository)

# What every event that starts work carries.
COMMON: Final[dict[str, Check]] = {
    "installation.id": ID,
    "repository.full_name": REPO,
    "sender.login": USER,
    "sender.type": TEXT,
}


def field(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; PayloadError when a step is missing."""
    value: Any = data
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            raise PayloadError(f"the payload lacks `{path}`")
        value = value[step]
    return value


def check(data: dict[str, Any], checks: dict[str, Check], *, common: bool = True) -> None:
    """Raise PayloadError naming the first field that is missing or malformed (of `checks`, and
    of what every event that starts work carries unless `common` is false)."""
    for path, (expected, is_valid) in ((COMMON if common else {}) | checks).items():
        if not is_valid(field(data, path)):
            raise PayloadError(f"`{path}` must be {expected}")


def optional_id(data: dict[str, Any], path: str) -> int | None:
    """The id at a dotted path, None when it is absent or null; PayloadError when malformed."""
    try:
        value = field(data, path)
    except PayloadError:
        return None
    if value is None:
        return None
    if not _is_id(value):
        raise PayloadError(f"`{path}` must be {ID[0]} or absent")
    found: int = value
    return found
