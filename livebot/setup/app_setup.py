"""The end of GitHub's manifest flow: exchange the code for the app's credentials and keep them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from livebot.core.envfile import EnvUpdate, add_settings, write_private
from livebot.core.settings import Settings
from livebot.github.paths import api_path
from livebot.runs.links import same_secret
from livebot.setup.manifest import default_app_name

KEY_FILE_NAME: Final = "github-app.private-key.pem"
STATE_TTL_SECONDS: Final = 3600.0
MAX_PENDING_STATES: Final = 100
ACCEPT: Final = "application/vnd.github+json"


class SetupError(Exception):
    """The exchange failed; the message says what to do."""


@dataclass(frozen=True)
class Registered:
    """The app GitHub created, and what was written where."""

    slug: str
    html_url: str
    env: EnvUpdate
    key_path: str

    @property
    def install_url(self) -> str:
        """The page where the app is installed on repositories."""
        return f"{self.html_url.rstrip('/')}/installations/new"


class SetupStates:
    """One `livebot setup`: the secret of its printed link, the browsers that opened it, and the
    `state` of flows under way, each accepted once, within an hour, from its own browser."""

    def __init__(self) -> None:
        # Drawn for this run only: whoever has not seen the terminal cannot open the setup.
        self.link_token = secrets.token_urlsafe(24)
        self._browser_key = secrets.token_bytes(32)
        self._issued: dict[str, tuple[float, str]] = {}
        self.registered: str | None = None  # the slug, once an app was registered
        # The app's name on a personal account unless one is typed: GitHub App names are unique
        # across GitHub, so a bare "Livebot" is taken; drawn once, so the page and GitHub agree.
        self.personal_app_name = default_app_name(secrets.token_hex(3))

    def opens(self, token: str) -> bool:
        """Whether `token` is the printed link's secret."""
        return same_secret(token, self.link_token)

    def new_browser(self) -> str:
        """A signed id for a browser that opened the link (kept in its cookie, not here)."""
        browser_id = secrets.token_urlsafe(18)
        return f"{browser_id}.{self._sign(browser_id)}"

    def knows(self, browser: str) -> bool:
        """Whether `browser` is an id `new_browser` handed out."""
        browser_id, _, signature = browser.partition(".")
        return bool(browser_id) and same_secret(signature, self._sign(browser_id))

    def _sign(self, browser_id: str) -> str:
        return hmac.new(self._browser_key, browser_id.encode(), hashlib.sha256).hexdigest()

    def close(self, slug: str) -> None:
        """One app per `livebot setup`: no state is accepted after the first registration."""
        self.registered = slug
        self._issued.clear()

    def issue(self, browser: str) -> str:
        """A new state for one trip to GitHub from `browser` (the oldest are dropped past a
        bound)."""
        now = time.monotonic()
        self._issued = {
            s: (t, b) for s, (t, b) in self._issued.items() if now - t < STATE_TTL_SECONDS
        }
        while len(self._issued) >= MAX_PENDING_STATES:
            self._issued.pop(next(iter(self._issued)))
        state = secrets.token_urlsafe(24)
        self._issued[state] = (now, browser)
        return state

    def take(self, state: str, browser: str) -> bool:
        """Whether `state` was issued to `browser` and is still fresh; it cannot be taken again
        (another browser's attempt leaves it to its own)."""
        issued = self._issued.get(state) if self.registered is None else None
        if issued is None or not same_secret(browser, issued[1]):
            return False
        del self._issued[state]
        return time.monotonic() - issued[0] < STATE_TTL_SECONDS


async def convert(session: aiohttp.ClientSession, api_url: str, code: str) -> dict[str, Any]:
    """`POST /app-manifests/{code}/conversions` (no auth: the code is the credential)."""
    url = api_url.rstrip("/") + api_path("app-manifests", code, "conversions")
    try:
        async with session.post(url, headers={"Accept": ACCEPT}) as resp:
            body = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SetupError(f"GitHub could not be asked for the app's credentials ({exc})") from None
    if status != 201 or not isinstance(body, dict):
        message = body.get("message", "") if isinstance(body, dict) else ""
        raise SetupError(
            f"GitHub refused the code ({status} {message}); a code works once and for an hour: "
            "start the setup again"
        )
    return body


def save(settings: Settings, app: dict[str, Any]) -> Registered:
    """The key as a 0600 file in the data folder; the other credentials into `.env`, with
    PUBLIC_URL when it was set (else `livebot serve` would link to localhost)."""
    key_path = (settings.data_dir / KEY_FILE_NAME).resolve()
    if key_path.exists():
        key_path = key_path.with_name(f"github-app-{app['id']}.private-key.pem")
    write_private(key_path, app["pem"])
    env = add_settings(
        settings.env_file,
        {
            "GITHUB_APP_ID": str(app["id"]),
            "GITHUB_PRIVATE_KEY_PATH": str(key_path),
            "GITHUB_WEBHOOK_SECRET": app["webhook_secret"],
            "GITHUB_APP_SLUG": app["slug"],
            "GITHUB_CLIENT_ID": app["client_id"],
            "GITHUB_CLIENT_SECRET": app["client_secret"],
            **({"PUBLIC_URL": settings.public_url} if settings.public_url else {}),
        },
    )
    return Registered(slug=app["slug"], html_url=app["html_url"], env=env, key_path=str(key_path))
