"""livebot.llm.chunks on shapes the recordings do not all show; livebot.llm.errors on bodies."""

from __future__ import annotations

from typing import Any

from livebot.core.redact import redact
from livebot.llm.chunks import Assembler
from livebot.llm.errors import provider_message


def chunk(delta: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0}
    if delta is not None:
        choice["delta"] = delta
    return {"choices": [choice], **top}


def test_indexless_whole_calls_without_ids_are_each_their_own_call() -> None:
    reply = Assembler()
    for path in ("a.py", "b.py"):
        call = {"type": "function", "function": {"name": "read_file", "arguments": path}}
        reply.add(chunk({"tool_calls": [call]}))
    assert [(c.name, c.arguments) for c in reply.calls()] == [
        ("read_file", "a.py"),
        ("read_file", "b.py"),
    ]


def test_indexless_argument_pieces_and_a_signature_alone_join_the_last_call() -> None:
    reply = Assembler()
    first = {"id": "f-1", "function": {"name": "read_file", "arguments": '{"path": '}}
    reply.add(chunk({"tool_calls": [first]}))
    reply.add(chunk({"tool_calls": [{"function": {"arguments": '"a.py"}'}}]}))
    signature = {"google": {"thought_signature": "c2ln"}}
    reply.add(chunk({"tool_calls": [{"extra_content": signature}]}))
    [call] = reply.calls()
    assert (call.id, call.arguments, dict(call.extra)) == (
        "f-1",
        '{"path": "a.py"}',
        {"extra_content": signature},
    )


def test_usage_on_every_chunk_keeps_the_last_and_no_delta_is_no_text() -> None:
    reply = Assembler()
    assert not reply.add(chunk(None, usage={"prompt_tokens": 1})).alive
    reply.add(chunk({"content": "hi"}, usage={"prompt_tokens": 5, "completion_tokens": 1}))
    assert reply.usage == {"prompt_tokens": 5, "completion_tokens": 1}
    assert reply.text == ["hi"]


def test_error_bodies_of_every_shape_give_the_providers_words() -> None:
    assert provider_message({"error": "model 'x' not found"}) == "model 'x' not found"
    assert provider_message([{"error": {"code": 400, "message": "Bad."}}]) == "Bad."
    detail = {"detail": [{"loc": ["body", "n"], "msg": "Extra inputs are not permitted"}]}
    assert provider_message(detail) == "body.n: Extra inputs are not permitted"
    assert provider_message({"object": "error", "message": "Too long."}) == "Too long."
    assert provider_message("<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert provider_message({}) is None


def test_credentials_in_urls_are_redacted() -> None:
    text = redact("at https://bob:hunter2@proxy.local/v1?key=AIzaSy&alt=sse failed")
    assert "hunter2" not in text and "AIzaSy" not in text and "alt=sse" in text
