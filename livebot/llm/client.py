"""Streaming Chat Completions with tools, timeouts, and retries that never repeat text."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import openai
from openai import AsyncStream
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from livebot.core.redact import redact
from livebot.llm.chunks import Assembler, ToolCall
from livebot.llm.errors import provider_message, refuses_stream_options, tool_refusal
from livebot.llm.usage import Usage

__all__ = [
    "LLMError",
    "LLMTimeouts",
    "ModelClient",
    "ToolCall",
    "Turn",
    "Usage",
    "make_client",
    "stream_turn",
]

# A client's default `retry_backoff`, in seconds: the n-th retry of a turn waits it n times.
RETRY_BACKOFF: Final = 0.5
# A server's retry-after is honoured up to this many seconds (still bounded by `total`).
MAX_RETRY_AFTER = 20.0
# Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key; the client needs one.
PLACEHOLDER_KEY = "not-needed"
# Characters per token, to estimate usage when the server reports none.
CHARS_PER_TOKEN = 4
OnText = Callable[[str], Awaitable[None]] | Callable[[str], None]


@dataclass(frozen=True)
class Turn:
    """One streamed reply of the model: its text, the tools it called, the tokens it cost, why
    it stopped, and the provider's fields to send back with it (`message_extra`)."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    finish_reason: str | None = None
    message_extra: Mapping[str, Any] = field(default_factory=dict)


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


class ModelClient(openai.AsyncOpenAI):
    """The openai client, with how `stream_turn` spaces its retries and what it learnt of the
    endpoint: the models that refused `stream_options` (Mistral: 422), never sent it again."""

    def __init__(
        self, *, api_key: str | None, base_url: str | None, retry_backoff: float = RETRY_BACKOFF
    ) -> None:
        # max_retries=0 because stream_turn retries itself.
        super().__init__(api_key=api_key, base_url=base_url, max_retries=0)
        self.retry_backoff = retry_backoff
        self.no_stream_options: set[str] = set()


def make_client(
    api_key: str | None, base_url: str | None, *, retry_backoff: float = RETRY_BACKOFF
) -> ModelClient:
    """One client per process (the n-th retry of a turn waits `retry_backoff` * n seconds)."""
    if not api_key and base_url:
        api_key = PLACEHOLDER_KEY
    return ModelClient(api_key=api_key, base_url=base_url, retry_backoff=retry_backoff)


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
        refusal = tool_refusal(status, exc.body)
        if refusal is not None:
            return LLMError(refusal, code="llm_error", recoverable=False)
        said = provider_message(exc.body) or "no message"
        err = LLMError(
            f"The model API answered {status}: {said}",
            code="llm_error",
            recoverable=status == 429 or status >= 500,
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


async def _open(
    client: ModelClient,
    model: str,
    messages: list[ChatCompletionMessageParam],
    tools: list[ChatCompletionToolParam],
) -> AsyncStream[ChatCompletionChunk]:
    """Start the stream; an endpoint that refuses `stream_options` is asked again at once
    without it, and never asked with it again by this client."""
    while True:
        learnt = model in client.no_stream_options
        try:
            return await client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options=openai.omit if learnt else {"include_usage": True},
                tools=tools or openai.omit,
            )
        except openai.APIStatusError as exc:
            if learnt or not refuses_stream_options(exc.status_code, exc.body):
                raise
            client.no_stream_options.add(model)


async def _emit(callback: OnText, text: str) -> None:
    result = callback(text)
    if inspect.isawaitable(result):
        await result


def _usage(raw: Mapping[str, Any] | None, estimate: Callable[[], Usage]) -> Usage:
    """The server's usage, with its reasoning tokens; estimated when it sent none."""
    if raw is None:
        return estimate()
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    return Usage(
        int(raw.get("prompt_tokens") or 0),
        int(raw.get("completion_tokens") or 0),
        int(reasoning or 0),
    )


def _estimate(messages: list[ChatCompletionMessageParam], reply: Assembler) -> Usage:
    """Tokens from characters, for a server whose stream carries no usage."""
    prompt = len(json.dumps(messages, default=str))
    written = sum(map(len, reply.text)) + sum(map(len, reply.reasoning))
    written += sum(len(call.arguments) + len(call.name) for call in reply.calls())
    return Usage(
        prompt // CHARS_PER_TOKEN,
        -(-written // CHARS_PER_TOKEN),
        -(-sum(map(len, reply.reasoning)) // CHARS_PER_TOKEN),
        estimated=True,
    )


async def _attempt(
    client: ModelClient,
    model: str,
    messages: list[ChatCompletionMessageParam],
    tools: list[ChatCompletionToolParam],
    on_token: OnText,
    on_thinking: OnText | None,
    timeouts: LLMTimeouts,
    delivered: list[bool],
) -> Turn:
    """Run one streaming request; `delivered[0]` turns True once a token reached on_token.

    Until the model shows life (text, thinking or a tool call) the first-token deadline holds;
    after, each chunk must come within `between_chunks`: a model that thinks for minutes but
    keeps streaming its thinking is alive.
    """
    loop = asyncio.get_running_loop()
    first_deadline = loop.time() + timeouts.first_token
    stream = None
    alive = False
    reply = Assembler()
    try:
        async with asyncio.timeout_at(first_deadline):
            stream = await _open(client, model, messages, tools)
        chunks = stream.__aiter__()
        while True:
            deadline = (loop.time() + timeouts.between_chunks) if alive else first_deadline
            async with asyncio.timeout_at(deadline):
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
            piece = reply.add(chunk.to_dict())
            alive = alive or piece.alive
            if piece.thinking and on_thinking is not None:
                await _emit(on_thinking, piece.thinking)
            if piece.text:
                delivered[0] = True
                await _emit(on_token, piece.text)
        if reply.finish_reason is None:
            # The openai client treats a body that just stops as a normal end of stream.
            raise LLMError(
                "The model stream ended before the answer was finished",
                code="llm_error",
                recoverable=True,
            )
        return Turn(
            "".join(reply.text),
            reply.calls(),
            _usage(reply.usage, lambda: _estimate(messages, reply)),
            reply.finish_reason,
            reply.message_extra(),
        )
    finally:
        if stream is not None:
            await stream.close()


async def stream_turn(
    client: ModelClient,
    *,
    model: str,
    messages: list[ChatCompletionMessageParam],
    on_token: OnText,
    on_thinking: OnText | None = None,
    tools: list[ChatCompletionToolParam] | None = None,
    timeouts: LLMTimeouts = LLMTimeouts(),
    attempts: int = 3,
    on_retry: Callable[[LLMError, int], Awaitable[None]] | None = None,
) -> Turn:
    """Stream one reply's text into on_token and its thinking into on_thinking (sync, or async
    and awaited) and collect its tool calls; retry only before any text.

    on_retry(error, n) is awaited before retry n (1-based, so also the number of the failed
    attempt). Raises LLMError; exceptions raised by on_token propagate unchanged.
    """
    delivered = [False]
    try:
        async with asyncio.timeout(timeouts.total):
            for attempt in range(1, max(1, attempts) + 1):
                try:
                    return await _attempt(
                        client,
                        model,
                        messages,
                        tools or [],
                        on_token,
                        on_thinking,
                        timeouts,
                        delivered,
                    )
                except (LLMError, openai.OpenAIError, TimeoutError) as exc:
                    err = _to_llm_error(exc, client.api_key)
                    if delivered[0] or not err.recoverable or attempt >= attempts:
                        raise err from exc
                if on_retry is not None:
                    await on_retry(err, attempt)
                delay = client.retry_backoff * attempt
                if err.retry_after is not None:
                    delay = max(delay, min(err.retry_after, MAX_RETRY_AFTER))
                await asyncio.sleep(delay)
    except TimeoutError as exc:
        # Only the total deadline gets here: per-chunk timeouts became LLMError above.
        raise LLMError(
            "The model took longer than the time allowed", code="llm_timeout", recoverable=True
        ) from exc
    raise AssertionError("unreachable")
