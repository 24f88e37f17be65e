"""The fake GitHub and OpenAI servers, exercised through the production clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from tests.fake_openai import FakeOpenAI, Reply, ToolCall

READ_ARGS = {"path": "bot/router.py", "start_line": 1, "end_line": 40}
SEARCH_ARGS = {"query": "def route\\(", "path": "bot/**"}


@pytest.fixture
async def ai(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=fake_openai.api_key, base_url=fake_openai.url)
    yield client
    await client.close()


async def stream_turn(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]], str | None, Any, int]:
    """One streamed turn: text, assembled tool calls, finish reason, usage, chunk count."""
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
        tools=[
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in ("read_file", "search_code")
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, calls, finish, usage, chunks = "", {}, None, None, 0
    async for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    assert call["id"] is None, "the id comes once, in the call's first delta"
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
            finish = choice.finish_reason or finish
    return text, [calls[i] for i in sorted(calls)], finish, usage, chunks


async def test_openai_streams_several_tool_calls_in_one_turn(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(
        Reply(
            text="Let me look.",
            tool_calls=[ToolCall("read_file", READ_ARGS), ToolCall("search_code", SEARCH_ARGS)],
        )
    )
    text, calls, finish, usage, chunks = await stream_turn(
        ai, [{"role": "user", "content": "Where is routing?"}]
    )
    assert text == "Let me look."
    assert finish == "tool_calls"
    assert [c["name"] for c in calls] == ["read_file", "search_code"]
    assert [json.loads(c["arguments"]) for c in calls] == [READ_ARGS, SEARCH_ARGS]
    assert all(c["id"].startswith("call_") for c in calls) and calls[0]["id"] != calls[1]["id"]
    assert usage.completion_tokens > 4 and usage.total_tokens > usage.completion_tokens
    assert chunks > 10  # the arguments came in pieces
    assert fake_openai.tools_offered() == ["read_file", "search_code"]


async def test_openai_tool_call_only_turn_opens_with_the_call(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(Reply(text="", tool_calls=[ToolCall("read_file", READ_ARGS, id="call_1")]))
    text, calls, finish, _, _ = await stream_turn(ai, [{"role": "user", "content": "Read it"}])
    assert (text, finish) == ("", "tool_calls")
    assert calls == [{"id": "call_1", "name": "read_file", "arguments": json.dumps(READ_ARGS)}]


async def test_openai_responder_answers_after_the_tool_result(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    def respond(body: dict[str, Any]) -> Reply:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply(text="It is in bot/router.py.")
        return Reply(text="", tool_calls=[ToolCall("read_file", READ_ARGS)])

    fake_openai.responder = respond
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Where is routing?"}]
    _, calls, finish, _, _ = await stream_turn(ai, messages)
    assert finish == "tool_calls"
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": calls[0]["name"], "arguments": calls[0]["arguments"]},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "1 def route"})
    text, calls2, finish, _, _ = await stream_turn(ai, messages)
    assert (text, calls2, finish) == ("It is in bot/router.py.", [], "stop")
    assert fake_openai.tool_results() == {calls[0]["id"]: "1 def route"}
    assert fake_openai.tool_results(0) == {}
    assert len(fake_openai.requests) == 2


async def test_openai_queue_takes_callables_and_non_streamed_tool_calls(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(
        lambda body: Reply(tool_calls=[ToolCall("read_file", {"path": body["model"]})], text="")
    )
    done = await ai.chat.completions.create(
        model="m-1", messages=[{"role": "user", "content": "x"}]
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"path": "m-1"}  # type: ignore[union-attr]
    assert fake_openai.replies == []
