"""A streamed reply put back together from its chunks, in each dialect servers really speak.

OpenAI numbers tool calls with `index` and sends a call's id and name once; Gemini and Ollama 0.4
send whole calls without `index`; NVIDIA NIM repeats id, type and name on every delta; Azure sends
choices without `delta`; reasoning arrives as `reasoning_content`, `reasoning` or
`reasoning_details`. Fields a provider attaches to a call or to the message are kept to be sent
back unchanged (Gemini 3 refuses the next request without its thought signature).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Delta keys that are the message itself; any other key is the provider's, sent back as it came.
_MESSAGE_KEYS = frozenset(
    {"role", "content", "refusal", "tool_calls", "function_call", "audio", "reasoning_details"}
)
_TOOL_CALL_KEYS = frozenset({"index", "id", "type", "function"})
# Reasoning text, by the field its servers use: DeepSeek, vLLM, llama.cpp; OpenRouter, Ollama.
REASONING_FIELDS = ("reasoning_content", "reasoning")


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool by the model: `arguments` is the JSON text it wrote (maybe invalid);
    `extra` the provider's own fields on it (Gemini's `extra_content`), sent back unchanged."""

    id: str
    name: str
    arguments: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """What one chunk added: answer text, thinking text, and whether the model showed life."""

    text: str = ""
    thinking: str = ""
    alive: bool = False


class Assembler:
    """Collects a reply's text, thinking, tool calls, usage and finish reason, chunk by chunk."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.reasoning_field: str | None = None
        self.reasoning_details: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.usage: Mapping[str, Any] | None = None
        self.finish_reason: str | None = None
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}

    def add(self, chunk: Mapping[str, Any]) -> Piece:
        """Take one chunk (its JSON); usage may come on any chunk, the last one wins."""
        if isinstance(chunk.get("usage"), Mapping):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        # Chunks carry one choice (n=1); Azure's filter annotations come as choices without delta.
        choice = next((c for c in choices if isinstance(c, Mapping)), None)
        if choice is None:
            return Piece()
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return Piece()
        text = delta.get("content") if isinstance(delta.get("content"), str) else ""
        thinking = self._reasoning(delta)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                if isinstance(call, Mapping):
                    self._tool_call(call)
        for key, value in delta.items():
            if key not in _MESSAGE_KEYS and key not in REASONING_FIELDS and value is not None:
                self.extra[key] = value
        if text:
            self.text.append(text)
        return Piece(text or "", thinking, bool(text or thinking or calls))

    def calls(self) -> tuple[ToolCall, ...]:
        """The tool calls, in the order they started."""
        return tuple(
            ToolCall(c.id or f"call_{n}", c.name, c.arguments, c.extra)
            for n, c in enumerate(self._calls)
            if c.name or c.arguments
        )

    def message_extra(self) -> dict[str, Any]:
        """The provider's fields for the assistant message of this turn, to be sent back."""
        extra = dict(self.extra)
        if self.reasoning_field is not None:
            extra[self.reasoning_field] = "".join(self.reasoning)
        if self.reasoning_details:
            extra["reasoning_details"] = self.reasoning_details
        return extra

    def _reasoning(self, delta: Mapping[str, Any]) -> str:
        thinking = ""
        for name in REASONING_FIELDS:
            value = delta.get(name)
            if isinstance(value, str) and value:
                # OpenRouter sends `reasoning` and `reasoning_details` with the same text: once.
                thinking = value
                self.reasoning_field = self.reasoning_field or name
                break
        details = delta.get("reasoning_details")
        if isinstance(details, list):
            for detail in details:
                if isinstance(detail, Mapping):
                    text = self._detail(detail)
                    thinking = thinking or text
        if thinking:
            self.reasoning.append(thinking)
        return thinking

    def _detail(self, detail: Mapping[str, Any]) -> str:
        """Merge a streamed `reasoning_details` piece into the one it continues; its text."""
        text = detail.get("text") or detail.get("summary") or ""
        text = text if isinstance(text, str) else ""
        last = self.reasoning_details[-1] if self.reasoning_details else None
        same = last is not None and all(
            last.get(k) == detail.get(k) for k in ("type", "index", "id", "format")
        )
        key = "text" if "text" in detail else "summary"
        if same and last is not None and isinstance(last.get(key), str) and text:
            last[key] += text
            for k, v in detail.items():
                last.setdefault(k, v)
        else:
            self.reasoning_details.append(dict(detail))
        return text

    def _tool_call(self, delta: Mapping[str, Any]) -> None:
        function = delta.get("function")
        function = function if isinstance(function, Mapping) else {}
        call_id = delta.get("id") if isinstance(delta.get("id"), str) else ""
        name = function.get("name") if isinstance(function.get("name"), str) else ""
        arguments = function.get("arguments")
        if isinstance(arguments, Mapping):
            arguments = json.dumps(arguments)  # some servers send the object, not its text
        arguments = arguments if isinstance(arguments, str) else ""
        call = self._call_for(delta.get("index"), call_id, name)
        call.id = call.id or call_id or ""
        # A name repeated on every delta (NIM) is the same name; a name in pieces is appended.
        if not call.name:
            call.name = name or ""
        elif name and name != call.name:
            call.name += name
        call.arguments += arguments
        for key, value in delta.items():
            if key not in _TOOL_CALL_KEYS and value is not None:
                call.extra[key] = value

    def _call_for(self, index: Any, call_id: str | None, name: str | None) -> _Call:
        """The call a delta belongs to: by `index` when the server numbers them, else the last
        call, unless a new id, or a name after the last call's arguments, starts another."""
        if isinstance(index, int) and not isinstance(index, bool):
            call = self._by_index.get(index)
            if call is None or (call_id and call.id and call_id != call.id):
                call = self._by_index[index] = self._new()
            return call
        last = self._calls[-1] if self._calls else None
        if (
            last is None
            or (call_id and last.id and call_id != last.id)
            or (not call_id and name and last.name and last.arguments)
        ):
            return self._new()
        return last

    def _new(self) -> _Call:
        call = _Call()
        self._calls.append(call)
        return call
