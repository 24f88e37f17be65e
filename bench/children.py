"""Benchmark processes of Python's own: `multiprocessing` children (spawned) and their pipes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final

from livebot.cli import GC_THRESHOLDS

_SPAWN = multiprocessing.get_context("spawn")


def _run_child(target: Callable[..., None], *args: Any) -> None:
    """A child's entry: the collector tuned as the server's is (livebot.cli.GC_THRESHOLDS), so
    the load generator's own pauses do not count as the server's latency."""
    gc.set_threshold(*GC_THRESHOLDS)
    target(*args)


class Channel:
    """Messages over a multiprocessing pipe, received by the event loop without threads."""

    _EOF: Final = object()

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.loop.remove_reader(self.conn.fileno())
            self.queue.put_nowait(self._EOF)

    async def get(self, within: float | None = None) -> Any:
        """The next message; EOFError when the other side has gone."""
        message = await asyncio.wait_for(self.queue.get(), within)
        if message is self._EOF:
            raise EOFError("the other process has gone")
        return message

    async def expect(self, kind: str, within: float | None = None) -> Any:
        """The next message, which must be `(kind, payload)`; returns the payload."""
        message = await self.get(within)
        if message[0] != kind:
            raise RuntimeError(f"expected {kind!r} from a child process, got {message!r}")
        return message[1]

    def put(self, message: Any) -> None:
        """Send a message."""
        self.conn.send(message)

    def close(self) -> None:
        """Stop listening and close the pipe."""
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self.conn.fileno())
        self.conn.close()


class Child:
    """A `multiprocessing` child (spawned: no inherited event loop) and its channel."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        parent_end, child_end = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_run_child, args=(target, child_end, *args), daemon=True
        )
        self.process.start()
        child_end.close()
        self.channel = Channel(parent_end)

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process.pid is not None
        return self.process.pid

    async def stop(self) -> None:
        """Close the pipe and make sure the process is gone."""
        self.channel.close()
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join)
