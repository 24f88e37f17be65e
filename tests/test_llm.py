"""livebot.llm.client against a fake OpenAI server speaking the real streaming wire format."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam

from livebot.llm.client import LLMError, LLMTimeouts, ModelClient, make_client, stream_turn
from livebot.llm.usage import Usage
from tests.fake_openai import FakeOpenAI, Reply

FAST = LLMTimeouts(first_token=0.3, between_chunks=0.3, total=5.0)
SYSTEM = "Be brief."
QUESTION = "Why does this crash? " * 10
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
]
LONG = "The quick brown fox jumps over the lazy dog. Ünïcödé ✓ and `code`.\n" * 3


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The suite's fake OpenAI server, under a short name."""
    return fake_openai


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[ModelClient]:
    c = make_client(fake.api_key, fake.url, retry_backoff=0)
    yield c
    await c.close()


class Recorder:
    """Collects tokens and retries."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.retries: list[tuple[LLMError, int]] = []

    def on_token(self, text: str) -> None:
        self.tokens.append(text)

    async def on_retry(self, err: LLMError, attempt: int) -> None:
        self.retries.append((err, attempt))

    @property
    def text(self) -> str:
        return "".join(self.tokens)


async def ask(client: ModelClient, rec: Recorder, **kw: Any) -> Usage:
    turn = await stream_turn(
        client,
        model="gpt-test",
        messages=MESSAGES,
        on_token=rec.on_token,
        on_retry=rec.on_retry,
        **{"timeouts": FAST, **kw},
    )
    return turn.usage


async def test_tokens_concatenate_to_the_text_and_usage_comes_from_the_last_chunk(
    fake: FakeOpenAI, client: ModelClient
) -> None:
    fake.script(Reply(text=LONG, chunk_size=5, prompt_tokens=42, completion_tokens=17))
    rec = Recorder()
    usage = await ask(client, rec)
    assert rec.text == LONG
    assert len(rec.tokens) == -(-len(LONG) // 5)
    assert all(rec.tokens)  # the empty role delta is not a token
    assert usage == Usage(prompt_tokens=42, completion_tokens=17)
    assert rec.retries == []


async def test_request_asks_for_a_stream_with_usage(fake: FakeOpenAI, client: ModelClient) -> None:
    await ask(client, Recorder())
    [body] = fake.requests
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-test"
    assert body["messages"] == MESSAGES


async def test_async_on_token_is_awaited(fake: FakeOpenAI, client: ModelClient) -> None:
    seen: list[str] = []

    async def on_token(text: str) -> None:
        seen.append(text)

    await stream_turn(client, model="m", messages=MESSAGES, on_token=on_token, timeouts=FAST)
    assert "".join(seen) == Reply().text


async def test_default_usage_counts_chunks(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(text="abcdefghij", chunk_size=3))
    usage = await ask(client, Recorder())
    assert usage.completion_tokens == 4
    assert usage.prompt_tokens == (len(SYSTEM) + len(QUESTION)) // 4


async def test_500_then_success_is_retried_without_duplicating(
    fake: FakeOpenAI, client: ModelClient
) -> None:
    fake.script(Reply(status=500), Reply(text=LONG))
    rec = Recorder()
    await ask(client, rec)
    assert rec.text == LONG
    assert len(fake.requests) == 2
    [(err, attempt)] = rec.retries
    assert (err.code, err.recoverable, attempt) == ("llm_error", True, 1)
    assert "500" in str(err)


async def test_429_is_retried(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(status=429), Reply(status=429), Reply(text="ok then"))
    rec = Recorder()
    await ask(client, rec)
    assert rec.text == "ok then"
    assert len(fake.requests) == 3
    assert [a for _, a in rec.retries] == [1, 2]


async def test_retries_are_bounded_by_attempts(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(*[Reply(status=503)] * 5)
    rec = Recorder()
    with pytest.raises(LLMError) as info:
        await ask(client, rec, attempts=2)
    assert (info.value.code, info.value.recoverable) == ("llm_error", True)
    assert len(fake.requests) == 2
    assert rec.tokens == []


async def test_400_is_not_retried(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(status=400), Reply(text="never"))
    rec = Recorder()
    with pytest.raises(LLMError) as info:
        await ask(client, rec)
    assert (info.value.code, info.value.recoverable) == ("llm_error", False)
    assert len(fake.requests) == 1
    assert rec.retries == [] and rec.tokens == []


ECHOED_KEY = "sk-proj-" + "Zq7" * 16


async def test_an_error_that_echoes_the_key_is_published_without_it(fake: FakeOpenAI) -> None:
    fake.api_key = ECHOED_KEY
    echo = (
        f"Incorrect API key provided: {ECHOED_KEY}. Sent as Bearer {ECHOED_KEY}; "
        f"request {'0f' * 24} " + "and so on " * 100
    )
    fake.script(Reply(status=500, error_message=echo), Reply(status=401, error_message=echo))
    client = make_client(ECHOED_KEY, fake.url, retry_backoff=0)
    rec = Recorder()
    with pytest.raises(LLMError) as info:
        await ask(client, rec)
    await client.close()
    published = [info.value.message, str(info.value)] + [str(err) for err, _ in rec.retries]
    assert len(published) == 3 and "401" in published[0]
    for text in published:
        assert "Zq7Zq7" not in text and "0f0f0f" not in text and "Bearer" not in text
        assert "Incorrect API key provided" in text and len(text) <= 300


async def test_stall_before_first_token_times_out_after_retries(
    fake: FakeOpenAI, client: ModelClient
) -> None:
    fake.script(*[Reply(stall_after=0)] * 3)
    rec = Recorder()
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        await ask(client, rec, timeouts=LLMTimeouts(first_token=0.2, between_chunks=5, total=5))
    assert (info.value.code, info.value.recoverable) == ("llm_timeout", True)
    assert len(fake.requests) == 3
    assert [(e.code, a) for e, a in rec.retries] == [("llm_timeout", 1), ("llm_timeout", 2)]
    assert rec.tokens == []
    assert time.monotonic() - started < 2


async def test_stall_after_tokens_is_not_retried(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(text=LONG, chunk_size=4, stall_after=3), Reply(text="must not be used"))
    rec = Recorder()
    with pytest.raises(LLMError) as info:
        await ask(client, rec, timeouts=LLMTimeouts(first_token=5, between_chunks=0.2, total=5))
    assert (info.value.code, info.value.recoverable) == ("llm_timeout", True)
    assert len(fake.requests) == 1
    assert rec.retries == []
    assert rec.text == LONG[:12]
    assert LONG.startswith(rec.text)


async def test_slow_first_token_within_limit_is_fine(fake: FakeOpenAI, client: ModelClient) -> None:
    # Chunks 0.1 s apart with a 0.3 s chunk limit: slow but steady is not a timeout.
    fake.script(Reply(text="abcdefgh", chunk_size=2, delay=0.1))
    rec = Recorder()
    await ask(client, rec)
    assert rec.text == "abcdefgh"


async def test_total_timeout(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(text="x" * 100, chunk_size=1, delay=0.05))
    rec = Recorder()
    with pytest.raises(LLMError) as info:
        await ask(client, rec, timeouts=LLMTimeouts(first_token=1, between_chunks=1, total=0.5))
    assert info.value.code == "llm_timeout"
    assert 0 < len(rec.text) < 100
    assert len(fake.requests) == 1


async def test_wrong_api_key_is_not_recoverable(fake: FakeOpenAI) -> None:
    bad = make_client("wrong-key", fake.url, retry_backoff=0)
    try:
        rec = Recorder()
        with pytest.raises(LLMError) as info:
            await ask(bad, rec)
    finally:
        await bad.close()
    assert (info.value.code, info.value.recoverable) == ("llm_error", False)
    assert "401" in str(info.value)
    assert len(fake.requests) == 1


async def test_connection_refused_is_retried_then_fails(fake: FakeOpenAI) -> None:
    url = fake.url
    await fake.close()
    dead = make_client(fake.api_key, url, retry_backoff=0)
    try:
        rec = Recorder()
        with pytest.raises(LLMError) as info:
            await ask(dead, rec)
    finally:
        await dead.close()
    assert (info.value.code, info.value.recoverable) == ("llm_error", True)
    assert len(rec.retries) == 2


async def test_non_streaming_request_gets_a_completion(
    fake: FakeOpenAI, client: ModelClient
) -> None:
    fake.script(Reply(text="whole answer", prompt_tokens=3, completion_tokens=2))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "whole answer"
    assert completion.usage is not None and completion.usage.total_tokens == 5


async def test_stream_cut_short_is_an_error(fake: FakeOpenAI, client: ModelClient) -> None:
    fake.script(Reply(text=LONG, stall_after=2))
    rec = Recorder()

    def on_token(text: str) -> None:
        rec.on_token(text)
        if len(rec.tokens) == 2:
            # Closing the server ends the stalled body cleanly, without finish_reason or [DONE].
            asyncio.get_running_loop().create_task(fake.close())

    with pytest.raises(LLMError) as info:
        await stream_turn(
            client,
            model="m",
            messages=MESSAGES,
            on_token=on_token,
            timeouts=LLMTimeouts(first_token=5, between_chunks=5, total=5),
        )
    assert (info.value.code, info.value.recoverable) == ("llm_error", True)
    assert "ended" in str(info.value)
    assert rec.text == LONG[:8]
