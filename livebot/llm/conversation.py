"""The tool loop: stream the model's text to the run, run the tools it calls, until it is done.

Text streams to the page as `token` events; each call appears as `tool_call`, then `tool_result`.
A run is bounded by its limits (tool calls, tokens, seconds); when one is hit it ends cleanly
with what it has and says which limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, cast

from openai.types.chat import ChatCompletionMessageParam

from livebot.llm import prompts
from livebot.llm.client import LLMError, ToolCall, Turn, stream_turn
from livebot.llm.session import Page, Session
from livebot.llm.tools import Tool, ToolError, ToolResult
from livebot.llm.usage import Usage

log = logging.getLogger(__name__)

MAX_TOOL_OUTPUT_CHARS: Final = 50_000
LIMIT_NOTES: Final = {
    "tool_calls": "I stopped after {value} tool calls, the limit for one run.",
    "tokens": "I stopped after using {value:,} tokens, the limit for one run.",
    "seconds": "I stopped after {value:.0f} seconds, the time limit for one run.",
}
ACTIVITIES: Final = {
    "list_files": "Listing the files",
    "read_file": "Reading {path}",
    "search_code": "Searching the code for `{query}`",
    "submit_review": "Posting the review",
    "write_file": "Writing {path}",
    "delete_file": "Deleting {path}",
    "finish": "Committing the change",
}
# A reply the server cut (its finish_reason) ends the run with the text so far and says why.
CUT_NOTES: Final = {
    "length": "The answer stops here: the model reached its limit of output tokens.",
    "content_filter": "The answer stops here: the model provider's content filter stopped it.",
}
NOT_RUN: Final = "error: not run: the run's limit of tool calls is reached"
WRAP_UP: Final = (
    "You have used every tool call this run allows. Answer now with what you know, and say what "
    "you could not check."
)


@dataclass
class Outcome:
    """How a conversation ended: the text written, tokens used, the closing call, a limit hit."""

    text: str
    usage: Usage
    closing: ToolResult | None = None
    limit_note: str | None = None
    tool_calls: int = 0


def activity(name: str, arguments: dict[str, Any]) -> str:
    """A tool call as a person would say it: "Reading livebot/intake/router.py"."""
    template = ACTIVITIES.get(name, "Calling `{name}`")
    try:
        return template.format(name=name, **{k: str(v)[:80] for k, v in arguments.items()})
    except (KeyError, IndexError, ValueError):
        return f"Calling `{name}`"


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        parsed = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ToolError(f"the arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise ToolError("the arguments must be a JSON object")
    return parsed


async def _run_tool(run: Session, tools: dict[str, Tool], call: ToolCall) -> ToolResult:
    """Run one call and show it on the page; a failing tool answers the model with its error."""
    writer = run.writer
    try:
        arguments = _arguments(call)
    except ToolError as exc:
        await writer.emit("tool_call", {"name": call.name, "arguments": {}})
        return await _failed(run, call.name, str(exc))
    await writer.emit("tool_call", {"name": call.name, "arguments": arguments})
    run.activity = activity(call.name, arguments)
    tool = tools.get(call.name)
    if tool is None:
        return await _failed(run, call.name, f"there is no tool `{call.name}`")
    try:
        result = await tool.run(arguments)
    except ToolError as exc:
        return await _failed(run, call.name, str(exc))
    except Exception:
        log.exception("tool crashed", extra={**run.log_extra, "tool": call.name})
        return await _failed(run, call.name, "the tool failed unexpectedly")
    await writer.emit(
        "tool_result", {**result.details, "name": call.name, "summary": result.summary}
    )
    return result


async def _failed(run: Session, name: str, message: str) -> ToolResult:
    await run.writer.emit("tool_result", {"name": name, "summary": f"error: {message}"})
    return ToolResult(f"error: {message}", f"error: {message}")


class _Transcript:
    """The text of every turn, streamed to the run; a new turn's text is set apart."""

    def __init__(self, page: Page, written: str) -> None:
        self.page = page
        self.pieces = [written]
        self.tail = written[-1:]
        self.new_turn = False

    def token(self, text: str) -> None:
        if self.new_turn and self.tail and self.tail != "\n":
            self._add("\n\n")
        self.new_turn = False
        self._add(text)

    def _add(self, text: str) -> None:
        self.pieces.append(text)
        self.tail = text[-1:]
        self.page.token(text)


async def converse(
    run: Session,
    messages: list[ChatCompletionMessageParam],
    tools: list[Tool],
    *,
    written: str = "",
) -> Outcome:
    """Talk with the model until it answers without calling a tool, or a closing tool is called.

    `written` is text an earlier attempt already streamed: new text follows it on the page.
    """
    limits = run.limits
    chat = list(messages)
    by_name = {tool.name: tool for tool in tools}
    schemas = [tool.schema() for tool in tools]
    transcript = _Transcript(run.writer, written)
    outcome = Outcome(text="", usage=Usage())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.max_seconds

    async def on_retry(error: LLMError, attempt: int) -> None:
        await run.writer.error(
            f"{error}; retrying", error.code, recoverable=True, retry_count=attempt
        )

    offer_tools = True
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            outcome.limit_note = LIMIT_NOTES["seconds"].format(value=limits.max_seconds)
            break
        try:
            async with asyncio.timeout(remaining):
                turn = await stream_turn(
                    run.llm,
                    model=run.model,
                    messages=chat,
                    tools=schemas if offer_tools else None,
                    on_token=transcript.token,
                    on_thinking=run.writer.thinking,
                    timeouts=run.timeouts,
                    on_retry=on_retry,
                )
        except TimeoutError:
            outcome.limit_note = LIMIT_NOTES["seconds"].format(value=limits.max_seconds)
            break
        outcome.usage += turn.usage
        cut = CUT_NOTES.get(turn.finish_reason or "")
        if cut is not None:
            # A cut call's arguments are cut too: nothing is run.
            outcome.limit_note = cut
            break
        if not turn.tool_calls or not offer_tools:
            break
        chat.append(_assistant_message(turn))
        closing = None
        for call in turn.tool_calls:
            if outcome.tool_calls >= limits.max_tool_calls:
                # Every call needs an answer; past the limit, none is run (one turn may ask many).
                chat.append({"role": "tool", "tool_call_id": call.id, "content": NOT_RUN})
                continue
            outcome.tool_calls += 1
            result = await _run_tool(run, by_name, call)
            chat.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result.content[:MAX_TOOL_OUTPUT_CHARS],
                }
            )
            if result.ends:
                closing = result
        if closing is not None:
            outcome.closing = closing
            break
        # The next turn's text is set apart from this one's (a continuation's first is not).
        transcript.new_turn = True
        if outcome.usage.total >= limits.max_tokens:
            outcome.limit_note = LIMIT_NOTES["tokens"].format(value=limits.max_tokens)
            break
        if outcome.tool_calls >= limits.max_tool_calls:
            outcome.limit_note = LIMIT_NOTES["tool_calls"].format(value=limits.max_tool_calls)
            # One last turn without tools, so the reader gets an answer, not a dangling search.
            chat.append({"role": "user", "content": WRAP_UP})
            offer_tools = False
    if outcome.limit_note:
        transcript.new_turn = True
        transcript.token(f"*{outcome.limit_note}*")
    await run.writer.flush()
    outcome.text = "".join(transcript.pieces)
    return outcome


async def write(run: Session, system: str, data: dict[str, Any], tools: list[Tool]) -> Outcome:
    """The model's answer to `data` under `system` (plus the repository's instructions), with
    `tools`; an answer an earlier attempt left unfinished is continued, never repeated."""
    partial = await run.written()
    system += run.instructions
    return await converse(run, prompts.chat(system, data, partial), tools, written=partial)


def _assistant_message(turn: Turn) -> ChatCompletionMessageParam:
    """The turn as the model wrote it, with whatever its provider attached (reasoning that
    DeepSeek wants back, Gemini's thought signatures) sent back unchanged."""
    tool_calls = [
        {
            **call.extra,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in turn.tool_calls
    ]
    message = {
        **turn.message_extra,
        "role": "assistant",
        "content": turn.text or None,
        "tool_calls": tool_calls,
    }
    # Provider fields are not in the client's TypedDict; it sends them as they are.
    return cast(ChatCompletionMessageParam, message)
