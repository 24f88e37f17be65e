"""At start: links posted from a PUBLIC_URL on this machine are refused while GitHub's webhook
goes to another host (those links would open nowhere for the people GitHub shows them to)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from gidgethub import GitHubException

from livebot.core.settings import Settings, SettingsError
from livebot.github.paths import api_path
from livebot.services import github_app

log = logging.getLogger(__name__)

# GitHub may be far or away: start-up waits this long for it, then goes on without the check.
ASK_SECONDS: Final = 5.0
WEBHOOK_PATH: Final = "/webhook"


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url_of(webhook_url: str) -> str:
    """The PUBLIC_URL whose `/webhook` is `webhook_url`."""
    parts = urlsplit(webhook_url)
    path = parts.path.rstrip("/")
    path = path.removesuffix(WEBHOOK_PATH) if path.endswith(WEBHOOK_PATH) else ""
    return f"{parts.scheme}://{parts.netloc}{path}"


async def check_links(settings: Settings, session: aiohttp.ClientSession) -> None:
    """SettingsError when PUBLIC_URL is unset or on this machine while the app's webhook URL is
    on another host; one warning line when GitHub cannot be asked."""
    if settings.public_url and not is_loopback(settings.public_url):
        return
    if settings.github_app_id is None or settings.github_private_key is None:
        return
    app = github_app(settings, session, max_attempts=1)
    try:
        async with asyncio.timeout(ASK_SECONDS):
            config = await app.gh.getitem(api_path("app", "hook", "config"), jwt=app.jwt())
    except (GitHubException, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning(
            "could not read the app's webhook URL from GitHub (%s); PUBLIC_URL is not checked",
            str(exc) or type(exc).__name__,
        )
        return
    webhook_url = config.get("url") or ""
    if not webhook_url or is_loopback(webhook_url):
        return
    public = f"PUBLIC_URL={settings.public_url}" if settings.public_url else "PUBLIC_URL is unset"
    raise SettingsError(
        f"{public}, so the links Livebot posts point at this machine, but GitHub sends the "
        f"app's webhooks to {webhook_url}; set PUBLIC_URL={public_url_of(webhook_url)} "
        "(or, for a trial on this machine, run `livebot serve --forward`)"
    )
