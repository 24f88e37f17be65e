"""The branches Livebot created, per repository: the only ones a `resolve` follow-up pushes to.

A name is claimed (`pending:<run>:<epoch>`, per attempt) before the branch is created, and
marked made (`made:<run>`) once GitHub holds a commit of the run there. A claim is released only
by the attempt that holds it (compare-and-delete in one script), so an attempt that paused past
its lease never removes a record another attempt or run made; a claim left by a crash is never
read as a made branch.
"""

from __future__ import annotations

from typing import Final

from livebot.store import keys, scripts
from livebot.store.client import RedisClient

PENDING: Final = "pending:"
MADE: Final = "made:"


def _pending(run_id: str, epoch: int) -> str:
    return f"{PENDING}{run_id}:{epoch}"


async def claim(redis: RedisClient, repository: str, branch: str, run_id: str, epoch: int) -> bool:
    """Reserve a name for this attempt before creating it: True when it was free or another
    attempt of this run holds it (both would put this run's change there)."""
    key = keys.own_branches(repository)
    if await redis.hsetnx(key, branch, _pending(run_id, epoch)):
        return True
    holder = await redis.hget(key, branch)
    return holder == MADE + run_id or str(holder).startswith(f"{PENDING}{run_id}:")


async def release(
    redis: RedisClient, repository: str, branch: str, run_id: str, epoch: int
) -> None:
    """Give a claimed name back (someone else's branch has it), if this attempt still holds it."""
    await redis.eval(
        scripts.load("own_branch_release"),
        1,
        keys.own_branches(repository),
        branch,
        _pending(run_id, epoch),
    )


async def made(redis: RedisClient, repository: str, branch: str, run_id: str) -> None:
    """Record that Livebot created the branch (it now holds a commit this run made)."""
    await redis.hset(keys.own_branches(repository), branch, MADE + run_id)


async def is_own(redis: RedisClient, repository: str, branch: str) -> bool:
    """Whether Livebot created this branch of the repository."""
    value = await redis.hget(keys.own_branches(repository), branch)
    return isinstance(value, str) and value.startswith(MADE)
