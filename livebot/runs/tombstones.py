"""What a run leaves behind when its log expires: when that happened and where its comment is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, cast

from livebot.store import keys
from livebot.store.client import RedisClient

# How long after its log a run's page can still say when it expired.
TOMBSTONE_SECONDS: Final = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Tombstone:
    """An expired run: when its log expired (epoch seconds) and its GitHub comment, if known."""

    expired_at: float
    comment_url: str | None


async def record(
    redis: RedisClient, run_id: str, *, expires_at: float, ttl_seconds: int, comment_url: str | None
) -> None:
    """Note when a finished run's log will expire; the note outlives the log."""
    key = keys.run_tombstone(run_id)
    fields: keys.Fields = {"expired_at": expires_at}
    if comment_url:
        fields["comment_url"] = comment_url
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_seconds + TOMBSTONE_SECONDS)
        await pipe.execute()


async def read(redis: RedisClient, run_id: str) -> Tombstone | None:
    """The run's tombstone, or None when none was kept."""
    fields = cast(dict[str, str], await redis.hgetall(keys.run_tombstone(run_id)))
    if not fields.get("expired_at"):
        return None
    return Tombstone(float(fields["expired_at"]), fields.get("comment_url") or None)
