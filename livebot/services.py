"""The process's services, built in one place for every mode: Redis, run log, queue, clients."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import aiohttp
from gidgethub import GitHubBroken

from livebot.core.envfile import write_private
from livebot.core.settings import Mode, Settings, SettingsError
from livebot.github.client import BACKOFF, GitHubApp
from livebot.ops import preflight
from livebot.queue.jobs import JobQueue
from livebot.runs.log import RunLog
from livebot.store.client import EmbeddedRedis, RedisClient, connect

if TYPE_CHECKING:
    from livebot.archive.store import Archive

log = logging.getLogger(__name__)

DEMO_SLUG: Final = "livebot"
LINK_SECRET_FILE: Final = "link-secret"
# Modes that run without a registered app: they need no slug from GitHub.
APPLESS_MODES: Final = frozenset({"demo", "setup", "check"})
# `livebot web` waits this long for GET /app at start; past it (or GitHub away), it starts with
# the name unknown and asks again in the background (livebot/web/app_name.py).
WEB_SLUG_SECONDS: Final = 10.0
GITHUB_AWAY: Final = (aiohttp.ClientError, OSError, GitHubBroken)


@dataclass(frozen=True)
class Services:
    """What every mode shares: settings, Redis, the run log, the job queue, the app's name."""

    settings: Settings
    mode: Mode
    redis: RedisClient
    redis_url: str
    run_log: RunLog
    queue: JobQueue
    slug: str  # empty in `livebot web` while GitHub has not answered GET /app
    session: aiohttp.ClientSession
    # None when DATABASE_URL is unset: finished runs are gone when their Redis log expires.
    archive: Archive | None


def github_app(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    max_attempts: int = 4,
    backoff: float = BACKOFF,
) -> GitHubApp:
    """The GitHub App client for the configured app (`max_attempts` per request, `backoff`:
    seconds before a first retry)."""
    if settings.github_app_id is None or settings.github_private_key is None:
        raise SettingsError("GITHUB_APP_ID and GITHUB_PRIVATE_KEY are required")
    return GitHubApp(
        session,
        app_id=settings.github_app_id,
        private_key=settings.github_private_key,
        api_url=settings.github_api_url,
        max_attempts=max_attempts,
        backoff=backoff,
    )


async def app_slug(settings: Settings, session: aiohttp.ClientSession, mode: Mode) -> str:
    """GITHUB_APP_SLUG, else what GitHub says the app is called (the demo needs neither)."""
    if settings.github_app_slug:
        return settings.github_app_slug
    if mode in APPLESS_MODES:
        return DEMO_SLUG
    try:
        async with asyncio.timeout(WEB_SLUG_SECONDS if mode == "web" else None):
            # A web process asks once: it need not wait for GitHub to serve pages.
            attempts = 1 if mode == "web" else 4
            info = await github_app(settings, session, max_attempts=attempts).app_info()
    except GITHUB_AWAY as exc:
        if mode != "web":
            raise SettingsError(
                f"GITHUB_APP_SLUG is not set and GitHub cannot be reached ({exc!r}); check "
                "GITHUB_API_URL and the network, or set GITHUB_APP_SLUG"
            ) from None
        # A web process takes deliveries and serves pages without GitHub: it learns the name later.
        log.warning(
            "GitHub cannot be reached; the app's name is asked again in the background",
            extra={"error": repr(exc)[:200]},
        )
        return ""
    except SettingsError:
        raise SettingsError(
            "GITHUB_APP_SLUG is not set (nor GITHUB_APP_ID to ask GitHub)"
        ) from None
    except Exception as exc:
        raise SettingsError(
            f"GITHUB_APP_SLUG is not set and GET /app failed ({exc}); check GITHUB_APP_ID, "
            "GITHUB_PRIVATE_KEY and GITHUB_API_URL"
        ) from None
    slug: str = info["slug"]
    log.info("app slug from GitHub", extra={"slug": slug})
    return slug


def with_link_secret(settings: Settings) -> Settings:
    """Settings with a link secret: the configured one, else one kept in the data folder.

    Kept, not drawn per start, so that run links (the demo's among them) survive a restart.
    """
    if settings.link_secret_raw or settings.github_webhook_secret:
        return settings
    path = settings.data_dir / LINK_SECRET_FILE
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return dataclasses.replace(settings, link_secret_raw=path.read_text().strip())


@asynccontextmanager
async def open_services(
    settings: Settings, mode: Mode, *, will_listen: bool = False
) -> AsyncIterator[Services]:
    """Every mode's services, checked and started; stopped in reverse order on exit.

    `will_listen`: the process binds HOST:PORT itself, so a busy port is said before anything
    starts (the in-process test server listens elsewhere and leaves it False).
    """
    settings.require_mode(mode)
    if will_listen and mode in preflight.SERVING_MODES:
        preflight.check_port(settings)
    if settings.redis_url is None or mode in APPLESS_MODES:
        preflight.check_data_dir(settings)
    settings = with_link_secret(settings)
    async with AsyncExitStack() as stack:
        url = settings.redis_url
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            stack.push_async_callback(embedded.stop)
            url = await embedded.start()
        redis = await connect(url)
        stack.push_async_callback(redis.aclose)
        timeout = aiohttp.ClientTimeout(total=60, connect=10)
        session = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        queue = JobQueue(redis)
        await queue.ensure_group()
        archive = None
        if settings.database_url:
            archive = await open_archive(settings.database_url)
            stack.push_async_callback(archive.close)
        yield Services(
            settings=settings,
            mode=mode,
            redis=redis,
            redis_url=url,
            run_log=RunLog(
                redis,
                ttl_seconds=settings.run_ttl_seconds,
                announce_finished=archive is not None,
            ),
            queue=queue,
            slug=await app_slug(settings, session, mode),
            session=session,
            archive=archive,
        )


async def open_archive(url: str) -> Archive:
    """The archive, its schema up to date; a clear error when PostgreSQL cannot be reached.

    psycopg is loaded here, only when DATABASE_URL is set: a process without it starts faster.
    """
    import psycopg
    from psycopg_pool import PoolTimeout

    from livebot.archive.store import Archive

    try:
        return await Archive.open(url)
    except (psycopg.Error, PoolTimeout, OSError) as exc:
        raise SettingsError(
            # psycopg's messages span lines; the start-up error is one.
            "DATABASE_URL: cannot reach PostgreSQL or migrate the archive ("
            + " ".join(str(exc).split())
            + ")"
        ) from None
