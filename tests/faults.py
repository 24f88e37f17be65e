"""A TCP proxy in front of Redis that can lose a reply: the command ran, the client never heard."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

CHUNK = 65536


class ReplyLosingProxy:
    """Forwards connections to Redis; once armed, the next reply is dropped with its connection."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.lose_next_reply = False
        self.replies_lost = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to instead of Redis's."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        upstream = asyncio.create_task(self._pipe(client_r, server_w))
        try:
            while data := await server_r.read(CHUNK):
                if self.lose_next_reply:
                    self.lose_next_reply = False
                    self.replies_lost += 1
                    break
                client_w.write(data)
                await client_w.drain()
        except ConnectionError:
            pass
        finally:
            upstream.cancel()
            for writer in (client_w, server_w):
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        writer.close()
