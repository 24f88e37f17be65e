"""What a run costs: tokens priced per model, and each installation's daily token budget."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from livebot.llm.usage import Usage
from livebot.store import keys, scripts
from livebot.store.client import RedisClient

# US dollars per million prompt and completion tokens (list prices; LIVEBOT_PRICES overrides).
PRICES: Final[Mapping[str, tuple[float, float]]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}
BUDGET_TTL_SECONDS: Final = 2 * 86400


def cost_usd(
    model: str, usage: Usage, overrides: Mapping[str, tuple[float, float]] | None = None
) -> float | None:
    """The estimated cost of `usage` on `model`, or None when its price is unknown; reasoning
    tokens are part of the completion tokens (as OpenAI and DeepSeek count them), priced so."""
    price = (overrides or {}).get(model) or PRICES.get(model)
    if price is None:
        return None
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


async def tokens_used_today(redis: RedisClient, installation_id: int) -> int:
    """Tokens the installation's runs used today (UTC)."""
    used = await redis.get(keys.daily_tokens(installation_id, _today()))
    return int(used or 0)


async def add_tokens(redis: RedisClient, installation_id: int, tokens: int, attempt: str) -> None:
    """Count an attempt's tokens against its installation's day, once however often retried."""
    await redis.eval(
        scripts.load("tokens_add_once"),
        2,
        keys.daily_tokens(installation_id, _today()),
        keys.tokens_counted(attempt),
        tokens,
        BUDGET_TTL_SECONDS,
    )
