"""The recorded streams of tests/fixtures/llm-streams/ and the refusals of their servers, for the
fake OpenAI server: what each server sends, and what it refuses in the requests that follow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

from tests.fake_openai import Check, Reply

FIXTURES: Final = Path(__file__).parent / "fixtures" / "llm-streams"
SERVERS: Final = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
# What every recording says: the answer, the thinking before it (reasoning servers), the calls.
ANSWER: Final = "`app/calc.py:2` divides by `count` without checking that it is not zero."
THINKING: Final = "The user asks about the crash. I should read both files first."
READS: Final = [{"path": "app/calc.py"}, {"path": "app/util.py"}]
# Servers whose recordings think, and the field they think in (sent back in the same field).
REASONING: Final = {
    "deepseek": "reasoning_content",
    "llama.cpp": "reasoning_content",
    "vllm": "reasoning_content",
    "openrouter": "reasoning",
}


def recorded(server: str, name: str) -> Reply:
    """A reply that replays `<server>/<name>.sse` byte for byte."""
    return Reply(recording=(FIXTURES / server / f"{name}.sse").read_bytes())


def refusal(server: str, name: str) -> Reply:
    """The server's recorded refusal `<server>/<name>.json`: its status and its own body."""
    data = json.loads((FIXTURES / server / f"{name}.json").read_text())
    return Reply(status=data["status"], error_json=data["body"])


def _assistant_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for m in body.get("messages") or []
        if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
    ]


def gemini_signature() -> str:
    """The thought signature Gemini 3 attached to the first call of its recorded turn."""
    text = (FIXTURES / "gemini-3" / "tool_calls.sse").read_text()
    found = re.search(r'"thought_signature":"([^"]+)"', text)
    assert found is not None
    return found.group(1)


def needs_thought_signature(body: dict[str, Any]) -> Reply | None:
    """Gemini 3: the first call of every earlier turn must come back with its signature."""
    signature = gemini_signature()
    for message in _assistant_calls(body):
        extra = message["tool_calls"][0].get("extra_content") or {}
        if (extra.get("google") or {}).get("thought_signature") != signature:
            return refusal("gemini-3", "missing_thought_signature")
    return None


def needs_reasoning_content(body: dict[str, Any]) -> Reply | None:
    """DeepSeek's thinking mode: a turn that called tools must come back with its reasoning."""
    for message in _assistant_calls(body):
        if message.get("reasoning_content") != THINKING:
            return refusal("deepseek", "reasoning_not_passed_back")
    return None


def refuses_stream_options(body: dict[str, Any]) -> Reply | None:
    """Mistral: `stream_options` is an extra input, refused with 422."""
    return refusal("mistral", "stream_options") if "stream_options" in body else None


def refuses_tools(server: str, name: str) -> Check:
    """A server started without tool support: any request with tools is refused."""

    def check(body: dict[str, Any]) -> Reply | None:
        return refusal(server, name) if body.get("tools") else None

    return check


# What each server refuses in every request, as it runs by default.
CHECKS: Final[dict[str, list[Check]]] = {
    "gemini-3": [needs_thought_signature],
    "deepseek": [needs_reasoning_content],
    "mistral": [refuses_stream_options],
}
# Servers started without what tools need, and the setting the failure must name.
TOOL_REFUSALS: Final = {
    "vllm": (refuses_tools("vllm", "no_tool_parser"), "--enable-auto-tool-choice"),
    "llama.cpp": (refuses_tools("llama.cpp", "no_jinja"), "--jinja"),
    "ollama": (refuses_tools("ollama", "no_tools"), "supports tools"),
}
