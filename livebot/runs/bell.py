"""The bell frame: what the run log's append script publishes on a run's bell channel.

`livebot/store/lua/run_append.lua` writes it (`offset\\nid\\nevent\\ndata`) and the live fan-out
(`livebot.web.live.fanout`) reads it with `BellFrame.decode`; `encode` writes the same bytes in
Python, for tests and as the format's documentation. The data (JSON) may hold newlines: it is
the last field, so only the first three newlines separate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BellFrame:
    """One event as its bell carries it: the run's offset after it, its stream id, type, data."""

    offset: int
    id: str
    event: str
    data: str

    def encode(self) -> bytes:
        """The frame as the append script publishes it."""
        return f"{self.offset}\n{self.id}\n{self.event}\n{self.data}".encode()

    @classmethod
    def decode(cls, message: bytes | str) -> BellFrame:
        """Read a published frame; ValueError when it is not one."""
        text = message.decode() if isinstance(message, bytes) else message
        offset, event_id, event, data = text.split("\n", 3)
        return cls(int(offset), event_id, event, data)
