"""What the model endpoint can do, one small streamed request each: `livebot check`'s rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

import openai
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from livebot.core.redact import redact
from livebot.core.settings import Settings
from livebot.llm.client import make_client
from livebot.ops.check_lines import Line, failed, lacking, passed

# Seconds one probe may take: a thinking model on a small machine is slow even to say "OK".
PROBE_SECONDS: Final = 60.0
# The delta fields reasoning arrives in: DeepSeek and vLLM, OpenRouter and Ollama, OpenRouter.
REASONING_FIELDS: Final = ("reasoning_content", "reasoning", "reasoning_details")
ERROR_CHARS: Final = 300

WEATHER_TOOL: Final[ChatCompletionToolParam] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name"}},
            "required": ["city"],
        },
    },
}

# What to change when tools are refused, by the words of each server's refusal.
TOOL_REFUSALS: Final = (
    (
        "enable-auto-tool-choice",
        "vLLM: start it with `--enable-auto-tool-choice --tool-call-parser <parser>` (the "
        "parser of the model's family: hermes, llama3_json, mistral, …; see docs/models.md)",
    ),
    ("--jinja", "llama.cpp: start llama-server with `--jinja`"),
    (
        "does not support tools",
        "Ollama: this model's template has no tools; pull a tool-capable model (ollama.com "
        "lists them under Tools), e.g. qwen3 or llama3.1",
    ),
)
TOOLS_FIX: Final = (
    "the endpoint must accept `tools` (Livebot always sends them): vLLM needs "
    "`--enable-auto-tool-choice --tool-call-parser <parser>`, llama.cpp `--jinja`, Ollama a "
    "tool-capable model; see docs/models.md"
)


@dataclass
class Seen:
    """What one streamed reply carried."""

    chunks: int = 0
    text: str = ""
    calls: list[str] = field(default_factory=list)  # the names of the calls, in order
    usage: bool = False
    reasoning: str = ""  # the first delta field reasoning came in, if any


class Refused(Exception):
    """The endpoint answered the request with an error: its status and its own words."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reasoning_field(delta: Any) -> str:
    """The field of a delta that carries reasoning, or ""."""
    extra = getattr(delta, "model_extra", None) or {}
    return next((name for name in REASONING_FIELDS if extra.get(name)), "")


async def probe(client: openai.AsyncOpenAI, model: str, **request: Any) -> Seen:
    """Stream one request and note what came back; a refusal raises Refused."""
    seen = Seen()
    ids: set[str] = set()
    indexes: set[int] = set()
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            stream = await client.chat.completions.create(model=model, stream=True, **request)
            async for chunk in stream:
                seen.chunks += 1
                seen.usage = seen.usage or chunk.usage is not None
                for choice in chunk.choices or []:
                    # Azure's content-filter chunks have a choice without a delta.
                    delta = getattr(choice, "delta", None)
                    if delta is None:
                        continue
                    seen.text += delta.content or ""
                    seen.reasoning = seen.reasoning or _reasoning_field(delta)
                    for call in delta.tool_calls or []:
                        if _new_call(call, ids, indexes):
                            seen.calls.append(call.function.name if call.function else "")
    except openai.APIStatusError as exc:
        raise Refused(exc.status_code, _words(exc)) from None
    except TimeoutError:
        raise Refused(None, f"no answer within {PROBE_SECONDS:g} s") from None
    except (openai.APIError, OSError) as exc:
        raise Refused(None, str(exc) or type(exc).__name__) from None
    return seen


def _new_call(call: Any, ids: set[str], indexes: set[int]) -> bool:
    """Whether a tool-call delta starts a call: a new id, or a new index without one. Servers
    differ: some repeat the id on every delta (NIM), some send whole calls without `index`
    (Gemini, Ollama 0.4)."""
    index = getattr(call, "index", None)
    if call.id:
        if call.id in ids:
            return False
        ids.add(call.id)
    elif index is None or index in indexes:
        return False
    if index is not None:
        indexes.add(index)
    return True


def _words(exc: openai.APIStatusError) -> str:
    """The provider's own message (its body's `error.message` when there is one), cut short."""
    body = exc.body
    message: object = body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message", inner) if isinstance(inner, dict) else inner
    text = str(message) if message else str(exc)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


async def streaming_line(client: openai.AsyncOpenAI, model: str) -> tuple[Line, Seen | None]:
    """The reply streams: text arrives in chunks."""
    try:
        seen = await probe(client, model, messages=_user("Answer with the single word OK."))
    except Refused as exc:
        return failed(
            "streaming",
            f"a streamed request was refused: {exc.message}",
            "Livebot needs streamed Chat Completions (`stream: true`) at OPENAI_BASE_URL",
        ), None
    if not seen.text and not seen.reasoning:
        return failed(
            "streaming", "the stream carried no text", "check LIVEBOT_MODEL is a chat model"
        ), seen
    return passed("streaming", f"the reply came in {seen.chunks} chunks"), seen


async def tools_lines(client: openai.AsyncOpenAI, model: str) -> list[Line]:
    """One tool call, then two in one reply."""
    try:
        one = await probe(
            client,
            model,
            messages=_user("What is the weather in Paris? Use the get_weather tool."),
            tools=[WEATHER_TOOL],
        )
    except Refused as exc:
        fix = next((fix for words, fix in TOOL_REFUSALS if words in exc.message), TOOLS_FIX)
        return [
            failed("tools", f"a request with tools was refused: {exc.message}", fix),
            lacking("parallel tool calls", "not tried: tools are refused", "fix tools first"),
        ]
    if not one.calls:
        unparsed = " (its text looks like an unparsed call)" if "{" in one.text else ""
        return [
            failed(
                "tools",
                "the model answered without calling the tool" + unparsed,
                "vLLM: a `--tool-call-parser` that matches the model's family; llama.cpp: "
                "`--jinja`; Ollama: a tool-capable model; else a model trained for tool calls",
            ),
            lacking("parallel tool calls", "not tried: no tool call", "fix tools first"),
        ]
    lines = [passed("tools", f"the model called {one.calls[0]}")]
    try:
        two = await probe(
            client,
            model,
            messages=_user(
                "What is the weather in Paris and in Tokyo? Call get_weather for both cities "
                "at once, two calls in this one reply."
            ),
            tools=[WEATHER_TOOL],
        )
    except Refused as exc:
        two, refusal = None, exc.message
    if two is not None and len(two.calls) >= 2:
        lines.append(passed("parallel tool calls", f"{len(two.calls)} calls in one reply"))
    else:
        detail = f"refused: {refusal}" if two is None else f"{len(two.calls)} call(s) in one reply"
        lines.append(
            lacking(
                "parallel tool calls",
                detail,
                "nothing to do: Livebot makes the calls one reply at a time (reviews take more "
                "turns); a model that emits several calls per reply (on vLLM, with a parser "
                "that returns them) is quicker",
            )
        )
    return lines


async def usage_line(client: openai.AsyncOpenAI, model: str) -> Line:
    """Usage arrives in the stream when asked for with stream_options.include_usage."""
    try:
        seen = await probe(
            client,
            model,
            messages=_user("Answer with the single word OK."),
            stream_options={"include_usage": True},
        )
    except Refused as exc:
        if "stream_options" not in exc.message:
            return failed("usage in the stream", f"refused: {exc.message}", "see the row above")
        return lacking(
            "usage in the stream",
            f"the endpoint refuses stream_options (as Mistral's does): {exc.message}",
            "nothing to do: Livebot asks without it and estimates the tokens from the text "
            "when the stream counts none (the comment's footer says estimated)",
        )
    if not seen.usage:
        return lacking(
            "usage in the stream",
            "stream_options.include_usage is accepted, but no chunk carries usage",
            "nothing to do: Livebot estimates the tokens from the text (marked estimated); a "
            "newer server version may send it",
        )
    return passed("usage in the stream", "a chunk carries the token counts")


async def reasoning_line(client: openai.AsyncOpenAI, model: str, earlier: list[Seen]) -> Line:
    """A reasoning model's thinking arrives as its own deltas (seen in any probe)."""
    seen = next((s for s in earlier if s.reasoning), None)
    if seen is None:
        try:
            seen = await probe(
                client,
                model,
                messages=_user("Which is larger, 9.11 or 9.9? Think, then answer in one word."),
            )
        except Refused as exc:
            seen = Seen(text=exc.message)
    if seen.reasoning:
        return passed(
            "reasoning", f"thinking arrives as `{seen.reasoning}`: the run page shows it live"
        )
    hint = " (the text holds a <think> block)" if "<think>" in seen.text else ""
    return lacking(
        "reasoning",
        "no reasoning deltas" + hint,
        "nothing to do for an ordinary model; for a reasoning model, have the server split the "
        "thinking out (vLLM: `--reasoning-parser <parser>`; llama.cpp: `--reasoning-format "
        "deepseek`) and the run page shows it",
    )


async def lines(settings: Settings) -> list[Line]:
    """The capability rows, after the model row said the endpoint answers."""
    client = make_client(settings.openai_api_key, settings.openai_base_url)
    try:
        streaming, seen = await streaming_line(client, settings.model)
        if seen is None:
            return [streaming]
        tools, usage = await asyncio.gather(
            tools_lines(client, settings.model), usage_line(client, settings.model)
        )
        reasoning = await reasoning_line(client, settings.model, [seen])
        return [
            _redacted(line, settings.openai_api_key)
            for line in (streaming, *tools, usage, reasoning)
        ]
    finally:
        await client.close()


def _redacted(line: Line, key: str | None) -> Line:
    """A provider's message may echo the key."""
    return Line(line.ok, line.name, redact(line.detail, [key]), line.fix)
