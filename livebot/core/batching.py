"""Calls made in the same moment, sent as one: a burst of webhooks is one Redis round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Past this many items a batch is sent and the next one starts: a script over thousands of keys
# would hold Redis (and every other client) for as long as it runs.
MAX_BATCH_ITEMS: Final = 128


class Batcher(Generic[Item, Result]):
    """Sends the items submitted while the event loop is busy in one call of `send`.

    The first item of a batch schedules its sending for the loop's next turn; whatever is
    submitted before then joins it. Nobody waits for a batch to fill: an item submitted alone is
    sent alone, one loop turn later. Each caller gets its own item's result, or the call's error;
    a caller that stops waiting (a timeout) leaves its item in the batch. Batches do not wait
    for each other: two may reach the other end in either order.
    """

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[list[Result]]],
        max_items: int = MAX_BATCH_ITEMS,
    ) -> None:
        self._send = send
        self._max_items = max_items
        self._open: list[tuple[Item, asyncio.Future[Result]]] | None = None
        # The sending tasks, held so the garbage collector does not end one midway.
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """Send `item` with the others of its moment; its result."""
        waiter: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        if self._open is None or len(self._open) >= self._max_items:
            self._open = []
            task = asyncio.create_task(self._flush(self._open))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._open.append((item, waiter))
        return await waiter

    async def _flush(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        if self._open is batch:
            self._open = None  # later items start the next batch
        try:
            results = await self._send([item for item, _ in batch])
            answered = list(zip(batch, results, strict=True))
        except asyncio.CancelledError:
            for _, waiter in batch:
                waiter.cancel()
            raise
        except Exception as exc:
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for (_, waiter), result in answered:
            if not waiter.done():
                waiter.set_result(result)
