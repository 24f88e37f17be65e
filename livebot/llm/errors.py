"""What a model server said when it refused: its own message, and the refusals we act on."""

from __future__ import annotations

import json
from typing import Any, Final

# A server refusing tools, by what it says, and the one setting that fixes it.
TOOL_REFUSALS: Final = (
    (
        "--enable-auto-tool-choice",
        "The model server refuses tools: start vLLM with --enable-auto-tool-choice and the "
        "--tool-call-parser of your model's family.",
    ),
    (
        "--jinja",
        "The model server refuses tools: start llama-server with --jinja.",
    ),
    (
        "does not support tools",
        "The model refuses tools: choose a model that supports tools (Ollama lists them under "
        "Tools at ollama.com/search?c=tools) in LIVEBOT_MODEL or the repository's `model`.",
    ),
)


def provider_message(body: Any) -> str | None:
    """The provider's own words in an error body, whatever its shape: OpenAI's
    {"error": {"message"}}, Gemini's list of those, Ollama's {"error": "…"}, Mistral's
    {"detail": […]} or {"message": …}, vLLM's {"object": "error", "message"}."""
    if isinstance(body, list):
        return next((m for m in map(provider_message, body) if m), None)
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip() or None
        return provider_message(parsed) if isinstance(parsed, dict | list) else body.strip()
    if not isinstance(body, dict):
        return None
    for key in ("error", "message", "detail", "msg"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return provider_message(value) if value.lstrip()[:1] in "{[" else value.strip()
        if isinstance(value, dict | list):
            found = _details(value) if key == "detail" else provider_message(value)
            if found:
                return found
    return None


def _details(detail: dict[str, Any] | list[Any]) -> str | None:
    """FastAPI's validation errors (Mistral's 422): "body.stream_options: Extra inputs…"."""
    items = detail if isinstance(detail, list) else [detail]
    parts = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("msg"), str):
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
            parts.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts) or None


def refuses_stream_options(status: int, body: Any) -> bool:
    """Whether a refusal names `stream_options`, which the server does not accept."""
    return status in (400, 422) and "stream_options" in json.dumps(body, default=str)


def tool_refusal(status: int, body: Any) -> str | None:
    """The sentence to show when the server refused the request for its tools, else None."""
    if status < 400:
        return None
    text = json.dumps(body, default=str)
    return next((fix for needle, fix in TOOL_REFUSALS if needle in text), None)
