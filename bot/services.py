"""What workers and the webhook endpoint share: GitHub client, LLM client, app identity."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import openai

from bot.github_app import GitHubApp
from bot.llm import make_client
from bot.run_log import RunLog
from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """The clients a workflow uses; one of each per process."""

    settings: Settings
    run_log: RunLog
    github: GitHubApp
    llm: openai.AsyncOpenAI
    slug: str


@asynccontextmanager
async def github_session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process's one HTTP session to GitHub."""
    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session


def github_app(settings: Settings, session: aiohttp.ClientSession) -> GitHubApp:
    """The GitHub App client for the configured app."""
    settings.require("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY")
    return GitHubApp(
        session,
        app_id=settings.github_app_id,  # type: ignore[arg-type]
        private_key=settings.github_private_key,  # type: ignore[arg-type]
        api_url=settings.github_api_url,
    )


async def app_slug(settings: Settings, github: GitHubApp | None) -> str:
    """GITHUB_APP_SLUG, else what GitHub says the app is called."""
    if settings.github_app_slug:
        return settings.github_app_slug
    if github is None:
        raise SettingsError("GITHUB_APP_SLUG is not set (nor GITHUB_APP_ID to ask GitHub)")
    try:
        info = await github.app_info()
    except Exception as exc:
        raise SettingsError(
            f"GITHUB_APP_SLUG is not set and GET /app failed ({exc}); check GITHUB_APP_ID, "
            "GITHUB_PRIVATE_KEY and GITHUB_API_URL"
        ) from None
    log.info("app slug from GitHub", extra={"slug": info["slug"]})
    return info["slug"]


def services(settings: Settings, run_log: RunLog, github: GitHubApp, slug: str) -> Services:
    """The workers' services."""
    if not settings.openai_api_key and not settings.openai_base_url:
        raise SettingsError(
            "OPENAI_API_KEY is required (or OPENAI_BASE_URL for a server that needs no key)"
        )
    return Services(
        settings=settings,
        run_log=run_log,
        github=github,
        llm=make_client(settings.openai_api_key, settings.openai_base_url),
        slug=slug,
    )
