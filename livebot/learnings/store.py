"""A repository's learnings: the rules its maintainers taught, numbered, bounded, kept in Redis
(no expiry) or, with `DATABASE_URL`, in PostgreSQL (`livebot/archive/learnings.py`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from livebot.store import keys, scripts
from livebot.store.client import RedisClient

MAX_LEARNINGS: Final = 50
MAX_CHARS: Final = 500
MIN_CHARS: Final = 3
PROMPT_HEAD: Final = (
    "## What this repository's maintainers taught you\n\n"
    "Follow these rules of the repository (each was taught by a maintainer) unless the "
    "request in front of you says otherwise:\n"
)


class LearningRefused(ValueError):
    """A learning that cannot be kept; the message says why, to the person who taught it."""


@dataclass(frozen=True)
class Learning:
    """One rule, who taught it and where."""

    number: int
    text: str
    author: str
    source_url: str
    created_at: float


@dataclass(frozen=True)
class Added:
    """The learning, and whether it is new (the same text again keeps its number)."""

    learning: Learning
    created: bool


class Learnings(Protocol):
    """Where a repository's learnings are kept."""

    async def add(self, repository: str, text: str, author: str, source_url: str) -> Added: ...

    async def list(self, repository: str) -> list[Learning]: ...

    async def forget(self, repository: str, number: int) -> Learning | None: ...


def normalise(text: str) -> str:
    """The rule as kept: one line of single spaces; LearningRefused when empty or too long."""
    one_line = re.sub(r"\s+", " ", text).strip()
    if len(one_line) < MIN_CHARS:
        raise LearningRefused("There is no rule to learn: write it after `learn`.")
    if len(one_line) > MAX_CHARS:
        raise LearningRefused(
            f"That rule is {len(one_line):,} characters long; a learning may have at most "
            f"{MAX_CHARS}. Say it in fewer words."
        )
    return one_line


def full() -> LearningRefused:
    """The refusal when a repository keeps as many learnings as it may."""
    return LearningRefused(
        f"This repository already has {MAX_LEARNINGS} learnings, the most it may keep. "
        "Make room with `forget <number>` (`learnings` lists them)."
    )


def prompt_section(learnings: Sequence[Learning]) -> str:
    """The instructions' part that carries them ("" when there are none)."""
    if not learnings:
        return ""
    lines = [f"{n}. {item.text}" for n, item in enumerate(learnings, 1)]
    return PROMPT_HEAD + "\n".join(lines) + "\n"


class RedisLearnings:
    """Learnings in one Redis hash per repository; adding is one Lua script (bounded, once)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._add = redis.register_script(scripts.load("learning_add"))

    async def add(self, repository: str, text: str, author: str, source_url: str) -> Added:
        """Keep `text` for `repository`; LearningRefused when too long or the repository is full."""
        text = normalise(text)
        entry: dict[str, Any] = {
            "text": text,
            "author": author,
            "source_url": source_url,
            "created_at": time.time(),
        }
        number, created = await self._add(
            keys=[keys.learnings(repository)], args=[MAX_LEARNINGS, text, json.dumps(entry)]
        )
        if not number:
            raise full()
        if not created:
            found = await self.redis.hget(keys.learnings(repository), str(number))
            entry = json.loads(found) if found else entry
        return Added(Learning(number=int(number), **entry), bool(created))

    async def list(self, repository: str) -> list[Learning]:
        """Every learning, by number."""
        fields = await self.redis.hgetall(keys.learnings(repository))
        return sorted(
            (Learning(number=int(n), **json.loads(v)) for n, v in fields.items() if n != "next"),
            key=lambda item: item.number,
        )

    async def forget(self, repository: str, number: int) -> Learning | None:
        """Remove learning `number`; what it was, or None when there is no such learning."""
        key = keys.learnings(repository)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, str(number))
            pipe.hdel(key, str(number))
            found, _ = await pipe.execute()
        return Learning(number=number, **json.loads(found)) if found else None
