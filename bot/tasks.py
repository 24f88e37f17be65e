"""Stopping background tasks, even those that lose a cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Final

log = logging.getLogger(__name__)

# How long a cancelled task gets before it is cancelled again.
RECANCEL_SECONDS: Final = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and return once every one has ended; a failure is logged, not raised.

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
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("task failed while stopping", extra={"task": task.get_name()}, exc_info=error)
