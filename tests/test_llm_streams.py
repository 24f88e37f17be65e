"""livebot.llm.client against every server's recorded streams and refusals, as the fake replays."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livebot.llm.client import LLMError, LLMTimeouts, ModelClient, Turn, make_client, stream_turn
from tests.fake_openai import FakeOpenAI, Reply
from tests.llm_streams import (
    ANSWER,
    CHECKS,
    READS,
    REASONING,
    SERVERS,
    THINKING,
    TOOL_REFUSALS,
    gemini_signature,
    recorded,
    refusal,
)

FAST = LLMTimeouts(first_token=5, between_chunks=5, total=10)
MESSAGES = [{"role": "user", "content": "Why does calc crash?"}]
TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
# (prompt, completion, reasoning) tokens that answer.sse and tool_calls.sse report; Ollama 0.4
# reports none.
THINKING_USAGE = {"answer": (812, 40, 19), "tool_calls": (790, 64, 19)}
PLAIN_USAGE = {"answer": (812, 21, 0), "tool_calls": (790, 46, 0)}


def reported(server: str, name: str) -> tuple[int, int, int] | None:
    if server == "ollama":
        return None
    if server in ("vllm", "llama.cpp"):  # they count reasoning tokens in, without details
        return (*THINKING_USAGE[name][:2], 0)
    return (THINKING_USAGE if server in REASONING else PLAIN_USAGE)[name]


@pytest.fixture
async def client(fake_openai: FakeOpenAI) -> AsyncIterator[ModelClient]:
    c = make_client(fake_openai.api_key, fake_openai.url, retry_backoff=0)
    yield c
    await c.close()


class Seen:
    """What reached the callbacks."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.thinking: list[str] = []
        self.retries: list[LLMError] = []

    async def on_retry(self, err: LLMError, attempt: int) -> None:
        self.retries.append(err)


async def turn(client: ModelClient, seen: Seen, **kw: object) -> Turn:
    return await stream_turn(
        client,
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        on_token=seen.tokens.append,
        on_thinking=seen.thinking.append,
        on_retry=seen.on_retry,
        timeouts=FAST,
        **kw,  # type: ignore[arg-type]
    )


def assert_usage(result: Turn, server: str, name: str) -> None:
    usage = reported(server, name)
    got = result.usage
    if usage is None:
        assert got.estimated and got.completion_tokens > 0 and got.prompt_tokens > 0
    else:
        assert (got.prompt_tokens, got.completion_tokens, got.reasoning_tokens) == usage
        assert not got.estimated


@pytest.mark.parametrize("server", SERVERS)
async def test_an_answer_streams_its_text_and_its_thinking_apart(
    server: str, fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.checks = list(CHECKS.get(server, []))
    fake_openai.script(recorded(server, "answer"))
    seen = Seen()
    result = await turn(client, seen)
    assert (result.text, "".join(seen.tokens)) == (ANSWER, ANSWER)
    assert "".join(seen.thinking) == (THINKING if server in REASONING else "")
    assert (result.finish_reason, result.tool_calls, seen.retries) == ("stop", (), [])
    assert_usage(result, server, "answer")


@pytest.mark.parametrize("server", SERVERS)
async def test_two_parallel_calls_come_apart_whole_with_what_must_go_back(
    server: str, fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.script(recorded(server, "tool_calls"))
    seen = Seen()
    result = await turn(client, seen, tools=TOOLS)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("read_file", '{"path": "app/calc.py"}'),
        ("read_file", '{"path": "app/util.py"}'),
    ]
    assert [c.name for c in result.tool_calls] == ["read_file"] * len(READS)
    first, second = result.tool_calls
    assert first.id and second.id and first.id != second.id
    assert seen.tokens == [] and result.text == ""
    assert_usage(result, server, "tool_calls")
    if server == "gemini-3":
        signature = {"google": {"thought_signature": gemini_signature()}}
        assert (dict(first.extra), dict(second.extra)) == ({"extra_content": signature}, {})
    else:
        assert (dict(first.extra), dict(second.extra)) == ({}, {})
    field = REASONING.get(server)
    if field is None:
        assert dict(result.message_extra) == {}
    else:
        assert result.message_extra[field] == THINKING == "".join(seen.thinking)
    if server == "openrouter":
        assert result.message_extra["reasoning_details"] == [
            {"type": "reasoning.text", "text": THINKING, "format": "unknown", "index": 0}
        ]


async def test_an_endpoint_that_refuses_stream_options_is_asked_without_them_from_then_on(
    fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.checks = list(CHECKS["mistral"])
    fake_openai.script(recorded("mistral", "answer"), recorded("mistral", "answer"))
    seen = Seen()
    first = await turn(client, seen)
    second = await turn(client, seen)
    assert (first.text, second.text, seen.retries) == (ANSWER, ANSWER, [])
    # Refused once, asked again at once; the next turn never sends them.
    assert ["stream_options" in body for body in fake_openai.requests] == [True, False, False]
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (812, 21)


@pytest.mark.parametrize("server", sorted(TOOL_REFUSALS))
async def test_a_server_without_tools_fails_at_once_naming_its_setting(
    server: str, fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    check, setting = TOOL_REFUSALS[server]
    fake_openai.checks = [check]
    seen = Seen()
    with pytest.raises(LLMError) as info:
        await turn(client, seen, tools=TOOLS)
    assert setting in info.value.message and not info.value.recoverable
    assert "\n" not in info.value.message and info.value.message.endswith(".")
    assert len(fake_openai.requests) == 1 and seen.retries == []


@pytest.mark.parametrize(
    ("server", "name", "said"),
    [
        ("openai", "context_length", "The model API answered 400: This model's maximum context"),
        ("gemini-3", "missing_thought_signature", "400: Function call is missing a thought_sig"),
        ("deepseek", "reasoning_not_passed_back", "400: The `reasoning_content` in the thinking"),
        ("mistral", "stream_options", "422: body.stream_options.include_usage: Extra inputs"),
    ],
)
async def test_a_refusal_shows_the_providers_own_message(
    server: str, name: str, said: str, fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.script(refusal(server, name))
    if server == "mistral":
        client.no_stream_options.add("m")  # learnt: the 422 is final
    with pytest.raises(LLMError) as info:
        await turn(client, Seen())
    assert said in info.value.message and "Error code" not in info.value.message


async def test_an_error_inside_a_200_stream_is_retried_before_any_text(
    fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.script(recorded("openrouter", "stream_error"), recorded("openrouter", "answer"))
    seen = Seen()
    result = await turn(client, seen)
    [error] = seen.retries
    assert "Provider disconnected unexpectedly" in error.message and error.recoverable
    assert result.text == ANSWER == "".join(seen.tokens)


@pytest.mark.parametrize(
    ("server", "name", "reason"),
    [
        ("openai", "length", "length"),
        ("azure", "content_filter", "content_filter"),
    ],
)
async def test_a_cut_reply_says_why_it_stopped(
    server: str, name: str, reason: str, fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    fake_openai.script(recorded(server, name))
    result = await turn(client, Seen())
    assert result.finish_reason == reason and ANSWER.startswith(result.text) and result.text


async def test_thinking_is_life_for_the_first_token_deadline(
    fake_openai: FakeOpenAI, client: ModelClient
) -> None:
    # Thinking for longer than the first-token limit, but never silent for as long.
    fake_openai.script(Reply(thinking="hmm " * 8, text="Done.", chunk_size=4, delay=0.1))
    seen = Seen()
    result = await stream_turn(
        client,
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        on_token=seen.tokens.append,
        on_thinking=seen.thinking.append,
        on_retry=seen.on_retry,
        timeouts=LLMTimeouts(first_token=0.35, between_chunks=2, total=10),
    )
    assert (result.text, "".join(seen.thinking), seen.retries) == ("Done.", "hmm " * 8, [])
