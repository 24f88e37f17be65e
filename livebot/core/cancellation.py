"""Stopping background tasks, even those that lose a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

# How long a cancelled task gets before it is cancelled again.
RECANCEL_SECONDS: Final = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and return once every one has ended; what they raised is theirs to read.

    A task that runs on is cancelled again: Python 3.11's `asyncio.wait_for` (inside redis-py's
    socket writes) drops a cancellation that arrives as its call completes, and a loop around such
    a call would never end (seen as `livebot serve` hanging on SIGTERM under uvloop).
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
    for task in tasks:
        if not task.cancelled():
            # Read, so that asyncio does not log it as never retrieved.
            task.exception()
