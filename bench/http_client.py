"""A minimal keep-alive HTTP/1.1 client for load generation: pre-encoded requests, one at a time.

A general client (aiohttp's) spends about as much CPU per request as the server under test; on a
2-core machine that is CPU taken from the server. This one sends bytes prepared in advance and
reads a response with a Content-Length: a fraction of the cost, the same answer and timing.
"""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import urlsplit

HEAD_END: Final = b"\r\n\r\n"
MAX_HEAD_BYTES: Final = 64 * 1024


def encode_post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of a keep-alive POST of `body` to `url`."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends a request and waits for its whole response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed: BaseException | None = None

    @classmethod
    async def open(cls, url: str) -> Connection:
        """A connection to the host and port of `url`."""
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"no host and port in {url}")
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(cls, parts.hostname, parts.port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = exc or ConnectionResetError("the server closed the connection")
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(self.closed)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one encoded request; the status and body of its response."""
        if self.closed is not None or self.transport is None:
            raise ConnectionResetError("the connection is closed")
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.answer

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(HEAD_END)
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._fail(ValueError("response head too long"))
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in head
                if line.lower().startswith("content-length:")
            ),
            None,
        )
        if length is None:
            self._fail(ValueError("a response without Content-Length"))
            return
        body_start = end + len(HEAD_END)
        if len(self.buffer) < body_start + length:
            return
        body = self.buffer[body_start : body_start + length]
        self.buffer = self.buffer[body_start + length :]
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((int(head[0].split()[1]), body))

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.close()

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()
