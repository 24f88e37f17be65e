"""A small Server-Sent Events reader for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class SseEvent:
    """One parsed event."""

    id: str
    event: str
    data: dict[str, Any]


def parse_block(block: str) -> SseEvent | None:
    """Parse one event block; comments and `retry:` give None."""
    fields: dict[str, str] = {}
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    if "data" not in fields:
        return None
    return SseEvent(
        fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])
    )


async def read_events(
    response: aiohttp.ClientResponse, *, until_complete: bool = True
) -> list[SseEvent]:
    """Read events until `complete` (or the end of the stream)."""
    events: list[SseEvent] = []
    buffer = ""
    async for chunk in response.content.iter_any():
        buffer += chunk.decode()
        buffer = buffer.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            event = parse_block(block)
            if event is not None:
                events.append(event)
                if until_complete and event.event == "complete":
                    return events
    return events


def answer(events: list[SseEvent]) -> str:
    """The concatenation of every token's text."""
    return "".join(e.data["text"] for e in events if e.event == "token")
