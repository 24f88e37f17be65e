"""Stopping background tasks: `bot.tasks.cancel_and_wait`."""

from __future__ import annotations

import asyncio

from livebot.core.cancellation import cancel_and_wait


async def stubborn(lost: list[int]) -> None:
    """Loops on after its first cancellation, as a loop around Python 3.11's `wait_for` can."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(1)
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()


async def test_a_task_that_lost_its_cancellation_is_cancelled_again() -> None:
    lost: list[int] = []
    task = asyncio.create_task(stubborn(lost))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task]), 5)
    assert lost == [1]
    assert task.cancelled()


async def test_a_task_that_failed_is_not_raised_and_the_rest_are_stopped() -> None:
    async def fail() -> None:
        raise ValueError("broken")

    failed = asyncio.create_task(fail())
    sleeping = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await cancel_and_wait([failed, sleeping])
    assert sleeping.cancelled()
    assert isinstance(failed.exception(), ValueError)
