"""The event stream's contract: event types, their payloads, and the statuses that end a run."""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

EventType = Literal["status", "token", "thinking", "tool_call", "tool_result", "error", "complete"]
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {"status", "token", "thinking", "tool_call", "tool_result", "error", "complete"}
)
# Written once here (and once in livebot/web/static/live.js): the run log's script is built from it.
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"succeeded", "failed", "cancelled"})


class StatusData(TypedDict):
    """`status`: what the run is doing."""

    state: Literal["queued", "running"]
    message: str


class TokenData(TypedDict):
    """`token`: the next piece of the answer."""

    text: str


class ThinkingData(TypedDict):
    """`thinking`: the next piece of a reasoning model's thinking (never in the answer)."""

    text: str


class ToolCallData(TypedDict):
    """`tool_call`: the model called a tool."""

    name: str
    arguments: dict[str, Any]


class ToolResultData(TypedDict):
    """`tool_result`: a one-line summary of what a tool returned (workflows may add fields)."""

    name: str
    summary: str


class ErrorData(TypedDict):
    """`error`: something went wrong; `recoverable` says whether the run goes on."""

    message: str
    code: str
    recoverable: bool
    retry_count: int


class UsageData(TypedDict):
    """Tokens the model counted."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: NotRequired[int]
    estimated: NotRequired[bool]


class CompleteData(TypedDict):
    """`complete`: always the last event of a run."""

    status: str
    comment_url: str | None
    usage: UsageData
    cost_usd: NotRequired[float]
