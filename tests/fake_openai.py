"""A fake OpenAI Chat Completions API on loopback, speaking the real wire format.

Point the production `openai` client at `FakeOpenAI.url`. Each request consumes the next
scripted `Reply` (a request refused for its API key consumes none); when the queue is empty
the `responder` (if set) decides from the request body, else the default reply answers. A
reply carries text and/or tool calls, streamed as OpenAI streams them: the call's id and name
in its first delta, the arguments split across later ones, `finish_reason: "tool_calls"`.
Like a real model asked to continue an interrupted answer, a request whose messages hold an
assistant message that is a non-empty prefix of the reply's text gets only the rest of that
text (see `Reply`). A reply may instead replay a server's recorded stream verbatim (`recording`,
see tests/fixtures/llm-streams/), and `checks` refuse requests as a given server does (Gemini 3
without its thought signatures, DeepSeek without its reasoning, Mistral's `stream_options`).
Standalone:
`python -m tests.fake_openai --port 8001 --delay 0.02`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass
class ToolCall:
    """One function call the model makes; `arguments` (a dict is sent as its JSON) streams in
    pieces of `chunk_size` characters."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = field(default_factory=lambda: "call_" + secrets.token_urlsafe(18))
    chunk_size: int = 7

    @property
    def arguments_json(self) -> str:
        """The arguments as the wire carries them."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Reply:
    """One scripted answer.

    Continuation: when the request's messages contain an assistant message whose content is a
    non-empty prefix of `text` (an answer interrupted part-way, sent back to be continued), only
    the remainder of `text` is sent, as a real model continuing it would; the last such message
    wins. `chunk_size`, `delay`, `stall_after` and the token counts then apply to the remainder.
    """

    text: str = "Hello from the fake model."
    thinking: str = ""  # streamed first as `reasoning_content` deltas (DeepSeek, vLLM, llama.cpp)
    chunk_size: int = 4  # characters per content delta
    delay: float = 0.0  # seconds between chunks
    status: int = 200  # anything else: an OpenAI error JSON with that status
    error_message: str | None = None  # that error's message (None: OpenAI's usual one)
    first_delay: float = 0.0  # seconds before answering at all (time to first token)
    stall_after: int | None = None  # send this many content chunks, then hang until close()
    prompt_tokens: int = 0  # 0: estimated as the request's message characters // 4
    completion_tokens: int = 0  # 0: the number of content and argument chunks sent
    tool_calls: list[ToolCall] = field(default_factory=list)  # streamed after the text
    recording: bytes | None = None  # a server's whole SSE body, replayed as it was recorded
    error_json: Any = None  # with `status`: the body a server sends instead of OpenAI's

    @classmethod
    def calls(cls, *calls: ToolCall, text: str = "", **kw: Any) -> Reply:
        """A turn that calls tools (after `text`, none by default)."""
        return cls(text=text, tool_calls=list(calls), **kw)


Script = Reply | Callable[[dict[str, Any]], Reply]  # a queued reply, or one made from the body
# A server's rule about requests: the refusal (a reply with its status and body) or None.
Check = Callable[[dict[str, Any]], Reply | None]


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's error JSON for a status."""
    default_message, kind, code = ERRORS.get(
        status,
        ("Request failed.", "server_error" if status >= 500 else "invalid_request_error", None),
    )
    return {
        "error": {"message": message or default_message, "type": kind, "param": None, "code": code}
    }


@dataclass
class FakeOpenAI:
    """The fake server; `replies` is the queue of scripted answers, `requests` every body seen.

    `responder(body) -> Reply | None` answers when the queue is empty (None: the default), so a
    test can decide from the messages, e.g. answer once a `role: "tool"` message came back.
    """

    api_key: str = "test-openai-key"
    port: int = 0
    default: Reply = field(default_factory=Reply)
    replies: list[Script] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    responder: Callable[[dict[str, Any]], Reply | None] | None = None
    checks: list[Check] = field(default_factory=list)  # a refusal consumes no scripted reply
    first_token_delay: float = 0.0  # seconds added to every reply's `first_delay` (benchmarks)
    # GET /models lists these; None: the route is missing, as on some compatible servers.
    models: list[str] | None = field(default_factory=lambda: ["gpt-4o-mini", "gpt-4o"])
    url: str = ""

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    def script(self, *replies: Script) -> None:
        """Queue replies (or callables making one from the request body) for the next requests."""
        self.replies.extend(replies)

    def tools_offered(self, index: int = -1) -> list[str]:
        """The names of the tools request `index` offered the model."""
        tools = self.requests[index].get("tools") or []
        return [t["function"]["name"] for t in tools if t.get("type") == "function"]

    def tool_results(self, index: int = -1) -> dict[str, Any]:
        """The `role: "tool"` messages of request `index`, as {tool_call_id: content}."""
        return {
            m["tool_call_id"]: m.get("content")
            for m in self.requests[index].get("messages") or []
            if isinstance(m, dict) and m.get("role") == "tool"
        }

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self.replies:
            queued = self.replies.pop(0)
            return queued if isinstance(queued, Reply) else queued(body)
        if self.responder is not None:
            return self.responder(body) or self.default
        return self.default

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port unless `port` was given)."""
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def close(self) -> None:
        """Stop; stalled and slow responses are released first so this never hangs."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _pause(self, seconds: float | None) -> bool:
        """Sleep (forever when None) unless the server stops; True if it is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass
        return self._stopping.is_set()

    async def _models(self, request: web.Request) -> web.Response:
        if self.models is None:
            return web.json_response(error_body(404), status=404)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(error_body(401), status=401)
        data = [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
            for name in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response(
                error_body(400, "We could not parse the JSON body."), status=400
            )
        self.requests.append(body)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(error_body(401), status=401)
        refusal = next(filter(None, (check(body) for check in self.checks)), None)
        reply = refusal or self._next_reply(body)
        delay = reply.first_delay + self.first_token_delay
        if delay and await self._pause(delay):
            return web.json_response(error_body(503), status=503)
        if reply.status != 200:
            headers = {"retry-after": "0"} if reply.status == 429 else {}
            sent = reply.error_json
            if sent is None:
                sent = error_body(reply.status, reply.error_message)
            return web.json_response(sent, status=reply.status, headers=headers)
        if reply.recording is not None:
            return await self._replay(request, reply.recording)
        text = _remainder(reply.text, body.get("messages"))
        pieces = _pieces(text, reply.chunk_size)
        chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
        prompt_tokens = reply.prompt_tokens or max(1, chars // 4)
        base = {
            "id": "chatcmpl-" + secrets.token_urlsafe(21),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "service_tier": "default",
            "system_fingerprint": "fp_fake0openai",
        }
        if not body.get("stream"):
            arg_pieces = sum(len(_pieces(c.arguments_json, c.chunk_size)) for c in reply.tool_calls)
            completion_tokens = reply.completion_tokens or len(pieces) + arg_pieces
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text if text or not reply.tool_calls else None,
                "refusal": None,
                "annotations": [],
            }
            if reply.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments_json},
                    }
                    for c in reply.tool_calls
                ]
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                        }
                    ],
                    "usage": _usage(prompt_tokens, completion_tokens),
                }
            )
        return await self._stream(request, body, reply, pieces, base, prompt_tokens)

    async def _replay(self, request: web.Request, recording: bytes) -> web.StreamResponse:
        """Send a recorded SSE body as it is, in the pieces it was recorded in (one per line)."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        try:
            for line in recording.splitlines(keepends=True):
                await resp.write(line)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away
        return resp

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        reply: Reply,
        pieces: list[str],
        base: dict[str, Any],
        prompt_tokens: int,
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return data

        async def send(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
            await resp.write(f"data: {text}\n\n".encode())

        deltas: list[dict[str, Any]] = [
            {"content": None, "reasoning_content": piece}
            for piece in _pieces(reply.thinking, reply.chunk_size)
        ]
        deltas += [{"content": piece} for piece in pieces]
        for index, call in enumerate(reply.tool_calls):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                for piece in _pieces(call.arguments_json, call.chunk_size)
            ]
        # Like OpenAI: a reply that opens with a tool call carries it in the role delta.
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if not pieces and reply.tool_calls:
            first = {"role": "assistant", "content": None, **deltas.pop(0), "refusal": None}
        try:
            await send(chunk(first))
            sent = 0
            for delta in deltas:
                if reply.stall_after is not None and sent >= reply.stall_after:
                    break
                if sent and reply.delay and await self._pause(reply.delay):
                    return resp
                await send(chunk(delta))
                sent += 1
            if reply.stall_after is not None:
                await self._pause(None)  # hold the connection open until close()
                return resp
            await send(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
            if include_usage:
                await send(
                    {
                        **base,
                        "choices": [],
                        "usage": _usage(prompt_tokens, reply.completion_tokens or sent),
                    }
                )
            await send("[DONE]")
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away (it timed out or closed the stream)
        return resp


def _pieces(text: str, size: int) -> list[str]:
    """`text` cut into pieces of `size` characters (at least one)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _remainder(text: str, messages: Any) -> str:
    """What is left of `text` after the answer already given (see `Reply`), else all of it."""
    done = ""
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if (
            message.get("role") == "assistant"
            and isinstance(content, str)
            and content
            and text.startswith(content)
        ):
            done = content
    return text[len(done) :]


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The usage object as OpenAI sends it."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def _serve(args: argparse.Namespace) -> None:
    """Run until interrupted."""
    reply = Reply(text=args.text, chunk_size=args.chunk_size, delay=args.delay)
    fake = FakeOpenAI(api_key=args.api_key, port=args.port, default=reply)
    await fake.start()
    print(fake.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="A fake OpenAI Chat Completions server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-openai-key")
    parser.add_argument("--text", default=Reply.text)
    parser.add_argument("--chunk-size", type=int, default=Reply.chunk_size)
    parser.add_argument("--delay", type=float, default=0.0)
    try:
        asyncio.run(_serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
