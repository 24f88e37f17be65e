"""The Server-Sent Events wire format of run events."""

from __future__ import annotations

from bot.run_log import Event


def encode(event: Event) -> bytes:
    """One event as an SSE message: `id`, `event`, and its JSON data (which has no raw newline)."""
    return f"id: {event.id}\nevent: {event.event}\ndata: {event.data}\n\n".encode()
