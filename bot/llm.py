"""Streaming Chat Completions with tools, timeouts, and retries that never repeat text."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from bot.redact import redact

# Seconds; the n-th retry waits RETRY_BACKOFF * n. Tests set it to 0.
RETRY_BACKOFF = 0.5
# A server's retry-after is honoured up to this many seconds (still bounded by `total`).
MAX_RETRY_AFTER = 20.0
# Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key; the client needs one.
PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class Usage:
    """Tokens counted by the server."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool by the model: `arguments` is the JSON text it wrote (maybe invalid)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Turn:
    """One streamed reply of the model: its text, the tools it called, the tokens it cost."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage


class _ToolCallParts:
    """Assembles the tool calls of a streamed reply from their deltas (split arguments)."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, str]] = {}

    def add(self, deltas: list[ChoiceDeltaToolCall]) -> None:
        for delta in deltas:
            part = self.parts.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                part["id"] = delta.id
            if delta.function is not None:
                if delta.function.name:
                    part["name"] += delta.function.name
                if delta.function.arguments:
                    part["arguments"] += delta.function.arguments

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(part["id"] or f"call_{index}", part["name"], part["arguments"])
            for index, part in sorted(self.parts.items())
        )


class LLMError(Exception):
    """The model failed; `code` is "llm_timeout" or "llm_error"; `recoverable`: may a retry help."""

    def __init__(self, message: str, *, code: str, recoverable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.recoverable = recoverable
        self.retry_after: float | None = None


@dataclass(frozen=True)
class LLMTimeouts:
    """Seconds allowed until the first content token, between chunks, and for the whole call."""

    first_token: float = 60.0
    between_chunks: float = 30.0
    total: float = 600.0


def make_client(api_key: str | None, base_url: str | None) -> openai.AsyncOpenAI:
    """One client per process; max_retries=0 because stream_turn retries itself."""
    if not api_key and base_url:
        api_key = PLACEHOLDER_KEY
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)


def _to_llm_error(exc: BaseException, api_key: str | None = None) -> LLMError:
    """Classify an exception from the openai client (or our own timeouts), fit to publish.

    The message reaches the comment, the page and the stream: a provider's text may echo the
    key (or another credential), so it is redacted and cut.
    """
    if isinstance(exc, LLMError):
        return exc
    err = _classify(exc)
    public = LLMError(redact(err.message, [api_key]), code=err.code, recoverable=err.recoverable)
    public.retry_after = err.retry_after
    return public


def _classify(exc: BaseException) -> LLMError:
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return LLMError("The model did not answer in time", code="llm_timeout", recoverable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status == 429 or status >= 500
        err = LLMError(
            f"The model API answered {status}: {exc.message}",
            code="llm_error",
            recoverable=retryable,
        )
        if status == 429:
            try:
                err.retry_after = float(exc.response.headers.get("retry-after", ""))
            except ValueError:
                pass
        return err
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"Could not reach the model API: {exc}", code="llm_error", recoverable=True)
    if isinstance(exc, openai.APIError):
        # An error event inside an otherwise good stream, or a malformed chunk.
        return LLMError(
            f"The model stream failed: {exc.message}", code="llm_error", recoverable=True
        )
    return LLMError(f"The model client failed: {exc}", code="llm_error", recoverable=False)


async def _attempt(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[ChatCompletionMessageParam],
    tools: list[ChatCompletionToolParam],
    on_token: Callable[[str], Any],
    timeouts: LLMTimeouts,
    delivered: list[bool],
) -> Turn:
    """Run one streaming request; `delivered[0]` turns True once a token reached on_token."""
    loop = asyncio.get_running_loop()
    first_deadline = loop.time() + timeouts.first_token
    stream = None
    usage = Usage()
    finished = False
    text: list[str] = []
    calls = _ToolCallParts()
    try:
        async with asyncio.timeout_at(first_deadline):
            stream = await client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                tools=tools or openai.omit,
            )
        chunks = stream.__aiter__()
        while True:
            deadline = (loop.time() + timeouts.between_chunks) if delivered[0] else first_deadline
            async with asyncio.timeout_at(deadline):
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
            # vLLM may send usage on every chunk; the last one is the total.
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
            # Azure sends chunks without choices (content filter results) before the answer.
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            finished = finished or bool(chunk.choices[0].finish_reason)
            if delta.tool_calls:
                calls.add(delta.tool_calls)
            if delta.content:
                delivered[0] = True
                text.append(delta.content)
                result = on_token(delta.content)
                if inspect.isawaitable(result):
                    await result
        if not finished:
            # The openai client treats a body that just stops as a normal end of stream.
            raise LLMError(
                "The model stream ended before the answer was finished",
                code="llm_error",
                recoverable=True,
            )
        return Turn("".join(text), calls.calls(), usage)
    finally:
        if stream is not None:
            await stream.close()


async def stream_turn(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: list[ChatCompletionMessageParam],
    on_token: Callable[[str], Awaitable[None]] | Callable[[str], None],
    tools: list[ChatCompletionToolParam] | None = None,
    timeouts: LLMTimeouts = LLMTimeouts(),
    attempts: int = 3,
    on_retry: Callable[[LLMError, int], Awaitable[None]] | None = None,
) -> Turn:
    """Stream one reply's text into on_token (sync, or async and awaited) and collect its tool
    calls; retry only before any text.

    on_retry(error, n) is awaited before retry n (1-based, so also the number of the failed
    attempt). Raises LLMError; exceptions raised by on_token propagate unchanged.
    """
    delivered = [False]
    try:
        async with asyncio.timeout(timeouts.total):
            for attempt in range(1, max(1, attempts) + 1):
                try:
                    return await _attempt(
                        client, model, messages, tools or [], on_token, timeouts, delivered
                    )
                except (LLMError, openai.OpenAIError, TimeoutError) as exc:
                    err = _to_llm_error(exc, client.api_key)
                    if delivered[0] or not err.recoverable or attempt >= attempts:
                        raise err from exc
                if on_retry is not None:
                    await on_retry(err, attempt)
                delay = RETRY_BACKOFF * attempt
                if err.retry_after is not None:
                    delay = max(delay, min(err.retry_after, MAX_RETRY_AFTER))
                await asyncio.sleep(delay)
    except TimeoutError as exc:
        # Only the total deadline gets here: per-chunk timeouts became LLMError above.
        raise LLMError(
            "The model took longer than the time allowed", code="llm_timeout", recoverable=True
        ) from exc
    raise AssertionError("unreachable")
