"""The GitHub App manifest (livebot/setup/app.yml) with the real PUBLIC_URL; GitHub's pages."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import yaml

MANIFEST_FILE: Final = Path(__file__).with_name("app.yml")
PLACEHOLDER_URL: Final = "https://livebot.example.com"
PUBLIC_API_HOST: Final = "api.github.com"
PUBLIC_WEB_URL: Final = "https://github.com"
GHES_API_SUFFIX: Final = "/api/v3"
# GitHub's rule for account and organisation logins.
LOGIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
# GitHub App names: at most 34 characters, unique across all of GitHub (the slug comes from it).
MAX_APP_NAME: Final = 34
APP_NAME: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9 ._-]{{0,{MAX_APP_NAME - 1}}}")
APP_NAME_PREFIX: Final = "Livebot-"


@cache
def _template() -> str:
    return MANIFEST_FILE.read_text()


def manifest(public_url: str, name: str | None = None) -> dict[str, Any]:
    """The manifest with every URL under `public_url` (and the app named `name`, if given)."""
    data: dict[str, Any] = yaml.safe_load(_template().replace(PLACEHOLDER_URL, public_url))
    if name is not None:
        data["name"] = name
    return data


def wanted_permissions() -> dict[str, str]:
    """The permissions app.yml asks for."""
    permissions: dict[str, str] = manifest(PLACEHOLDER_URL)["default_permissions"]
    return permissions


def wanted_events() -> list[str]:
    """The events app.yml subscribes to."""
    events: list[str] = manifest(PLACEHOLDER_URL)["default_events"]
    return events


def web_url(api_url: str) -> str:
    """GitHub's web address: api.github.com → github.com; GHES `host/api/v3` → `host`."""
    parts = urlsplit(api_url)
    if parts.hostname == PUBLIC_API_HOST:
        return PUBLIC_WEB_URL
    path = parts.path.rstrip("/").removesuffix(GHES_API_SUFFIX)
    return f"{parts.scheme}://{parts.netloc}{path}"


def new_app_url(api_url: str, state: str, organization: str | None = None) -> str:
    """Where the manifest is posted: the account's or the organisation's new-app page."""
    base = web_url(api_url)
    owner = f"/organizations/{quote(organization)}" if organization else ""
    return f"{base}{owner}/settings/apps/new?state={quote(state)}"


def is_login(name: str) -> bool:
    """Whether `name` can be a GitHub account or organisation login."""
    return bool(LOGIN.fullmatch(name))


def is_app_name(name: str) -> bool:
    """Whether `name` can be a GitHub App's name."""
    return bool(APP_NAME.fullmatch(name))


def default_app_name(owner: str) -> str:
    """ "Livebot-<owner>", cut to GitHub's length (`owner`: a login, or a random suffix)."""
    return (APP_NAME_PREFIX + owner)[:MAX_APP_NAME].rstrip("-")
