"""SSE viewers: one viewer's stream parsed as it arrives, on a raw HTTP client or aiohttp's."""

from __future__ import annotations

import asyncio
import time

import aiohttp


class Viewer:
    """One SSE viewer: parses its stream incrementally and records what it received.

    Every `token` event the benchmark appends carries its publish time (`t=<time_ns>;`);
    a sample is (publish ns, receive ns), the receive time taken once per network read.
    """

    __slots__ = (
        "buffer",
        "chunks",
        "closed",
        "complete",
        "error",
        "first_chunk",
        "ids",
        "live",
        "live_after",
        "path",
        "run_id",
        "samples",
        "status",
        "transport",
    )

    def __init__(self, run_id: str, path: str) -> None:
        self.run_id = run_id
        self.path = path
        self.buffer = b""
        self.chunks = 0
        self.status = 0
        self.ids: list[bytes] = []
        self.samples: list[tuple[int, int]] = []
        self.complete = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_chunk: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live_after: int | None = None
        self.error: str | None = None
        self.transport: asyncio.BaseTransport | None = None

    def headers(self, status: int) -> None:
        """The response's status arrived."""
        self.status = status
        if status != 200:
            self.fail(f"HTTP {status}")

    def feed(self, data: bytes, now: int) -> None:
        """Body bytes of the event stream, received at `now` (time_ns)."""
        self.chunks += 1
        if not self.first_chunk.done():
            self.first_chunk.set_result(None)
        elif self.live_after is not None and self.chunks > self.live_after:
            self.live_after = None
            self.live.set_result(None)
        buffer = self.buffer + data if self.buffer else data
        if b"\r" in buffer:  # aiohttp-sse's keep-alive comments end lines with CRLF
            buffer = buffer.replace(b"\r\n", b"\n")
        *messages, self.buffer = buffer.split(b"\n\n")
        for message in messages:
            self._message(message, now)

    def _message(self, message: bytes, now: int) -> None:
        event_id = event = data = None
        for line in message.split(b"\n"):
            if line.startswith(b"id: "):
                event_id = line[4:]
            elif line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data: "):
                data = line[6:]
        if event_id is None:
            return  # retry:, keep-alive comments
        self.ids.append(event_id)
        if event == b"token" and data is not None:
            # Tokens merged into one append each carry their own publish time.
            start = data.find(b"t=")
            while start >= 0:
                end = data.index(b";", start)
                self.samples.append((int(data[start + 2 : end]), now))
                start = data.find(b"t=", end)
        elif event == b"complete":
            self.complete = True

    def expect_live(self) -> None:
        """Resolve `live` at the next read: the first one after the history."""
        if not self.live.done():
            self.live_after = self.chunks

    def fail(self, error: str) -> None:
        """The connection failed or was refused."""
        self.error = self.error or error
        self.end()

    def end(self) -> None:
        """The stream is over (ended by the server, or the connection is gone)."""
        for future in (self.first_chunk, self.live, self.closed):
            if not future.done():
                future.set_result(None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class RawSseClient(asyncio.Protocol):
    """A minimal HTTP/1.1 client for one SSE stream: a GET, then chunked body decoding.

    Cheaper than a general client by an order of magnitude per event, so that on a 2-core
    machine the load generator takes as little CPU as possible from the server under test.
    """

    def __init__(self, viewer: Viewer, host: str) -> None:
        self.viewer = viewer
        self.request = (
            f"GET {viewer.path} HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        self.head: bytes | None = b""
        self.chunked = False
        self.pending = b""
        self.need = 0
        self.crlf = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.viewer.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            self.head, data = None, head[end + 4 :]
            lines = head[:end].split(b"\r\n")
            self.chunked = any(line.lower() == b"transfer-encoding: chunked" for line in lines[1:])
            self.viewer.headers(int(lines[0].split()[1]))
            if self.viewer.status != 200:
                return  # 204 and errors: the benchmark's viewers stop there
        if self.chunked:
            data = self._dechunk(data)
        if data:
            self.viewer.feed(data, now)

    def _dechunk(self, data: bytes) -> bytes:
        buffer = self.pending + data if self.pending else data
        out: list[bytes] = []
        pos, size = 0, len(buffer)
        while pos < size:
            if self.crlf:
                skip = min(self.crlf, size - pos)
                pos += skip
                self.crlf -= skip
            elif self.need:
                take = min(self.need, size - pos)
                out.append(buffer[pos : pos + take])
                pos += take
                self.need -= take
                if not self.need:
                    self.crlf = 2
            else:
                end = buffer.find(b"\r\n", pos)
                if end < 0:
                    break
                length = int(buffer[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                if length == 0:
                    # The last chunk: the server ended the stream.
                    pos = size
                    asyncio.get_running_loop().call_soon(self.viewer.end)
                    break
                self.need = length
        self.pending = buffer[pos:]
        return b"".join(out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.viewer.status == 0:
            self.viewer.fail(f"connection lost before the headers: {exc}")
        self.viewer.end()


async def open_raw(viewer: Viewer, port: int) -> None:
    """Connect a viewer with the raw client."""
    loop = asyncio.get_running_loop()
    try:
        await loop.create_connection(
            lambda: RawSseClient(viewer, f"127.0.0.1:{port}"), "127.0.0.1", port
        )
    except OSError as exc:
        viewer.fail(f"connect: {exc}")


async def run_aiohttp(viewer: Viewer, session: aiohttp.ClientSession, port: int) -> None:
    """A viewer on aiohttp's client (costlier per event; for comparison)."""
    try:
        async with session.get(f"http://127.0.0.1:{port}{viewer.path}") as resp:
            viewer.headers(resp.status)
            if resp.status == 200:
                async for chunk in resp.content.iter_any():
                    viewer.feed(chunk, time.time_ns())
    except (aiohttp.ClientError, OSError) as exc:
        viewer.fail(f"aiohttp: {exc}")
    finally:
        viewer.end()
