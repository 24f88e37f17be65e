"""What the tool loop needs of a run: where its text goes, what it may spend, which model it asks.

A protocol, not the run itself: `livebot.llm` knows nothing of how runs are kept or resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from livebot.core.settings import RunLimits
from livebot.llm.client import LLMTimeouts, ModelClient


class Page(Protocol):
    """The run's live page: the answer's text, the model's thinking, tool calls and errors."""

    def token(self, text: str) -> None:
        """Add a piece of the answer."""

    def thinking(self, text: str) -> None:
        """Add a piece of the model's thinking."""

    async def emit(self, event: str, data: Mapping[str, Any]) -> object:
        """Add an event (a tool call, its result)."""

    async def error(
        self, message: str, code: str, *, recoverable: bool, retry_count: int = 0
    ) -> object:
        """Say what went wrong."""

    async def flush(self) -> None:
        """Write every buffered piece now."""


class Session(Protocol):
    """A run as the tool loop sees it."""

    # What the run is doing, in words (the placeholder of a long run shows it).
    activity: str

    @property
    def writer(self) -> Page:
        """Where the conversation streams."""

    @property
    def llm(self) -> ModelClient:
        """The model provider's client."""

    @property
    def model(self) -> str:
        """The model to ask."""

    @property
    def timeouts(self) -> LLMTimeouts:
        """How long one model call may stall."""

    @property
    def limits(self) -> RunLimits:
        """What the conversation may spend."""

    @property
    def instructions(self) -> str:
        """The repository's own instructions for the model, as a system prompt's tail."""

    @property
    def log_extra(self) -> dict[str, Any]:
        """Fields every log line of the run carries."""

    async def written(self) -> str:
        """The text earlier attempts of the run already streamed."""
