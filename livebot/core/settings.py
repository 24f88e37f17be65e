"""Settings read from the environment and a `.env` file."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from dotenv import dotenv_values

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_RUN_TTL_DAYS = 7.0
ENV_FILE: Final = Path(".env")
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
LOG_FORMATS: Final = ("json", "text")
KEY_FIX: Final = (
    "GitHub Apps sign with RSA keys: download a new private key from the app's settings page"
)
DEFAULT_ARCHIVE_DAYS = 365
DEFAULT_GITHUB_URL = "https://github.com"
PrivateRuns = Literal["link", "signin"]
PRIVATE_RUNS_CHOICES: Final = ("link", "signin")
# Run links are HMACs under this secret: a short one could be guessed offline from one link.
MIN_LINK_SECRET_BYTES = 32
# Live viewers one client address, and one run, may hold open at once (429 past them).
DEFAULT_MAX_VIEWERS_PER_ADDRESS = 256
DEFAULT_MAX_VIEWERS_PER_RUN = 2_000

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Mode = Literal["serve", "web", "worker", "demo", "setup", "check", "redeliver"]
# What each mode of `livebot` needs, decided here and nowhere else.
MODE_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "serve": ("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "OPENAI_API_KEY"),
    "web": ("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_SLUG"),
    "worker": (
        "REDIS_URL",
        "GITHUB_APP_ID",
        "GITHUB_PRIVATE_KEY",
        "LIVEBOT_LINK_SECRET",
        "OPENAI_API_KEY",
    ),
    "demo": (),
    # Registering the app is what produces the GitHub settings: setup needs none of them.
    "setup": (),
    # `livebot check` reports every problem in its table, missing settings included.
    "check": (),
    "redeliver": ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY"),
}
# How a need is met, when more than one setting can meet it.
NEED_HINTS: Final = {
    "GITHUB_PRIVATE_KEY": "GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)",
    "GITHUB_APP_SLUG": "GITHUB_APP_SLUG (or GITHUB_APP_ID and GITHUB_PRIVATE_KEY to ask GitHub)",
    "LIVEBOT_LINK_SECRET": "LIVEBOT_LINK_SECRET (or GITHUB_WEBHOOK_SECRET to derive it from)",
    "OPENAI_API_KEY": "OPENAI_API_KEY (or OPENAI_BASE_URL for a server that needs no key)",
    "REDIS_URL": "REDIS_URL (workers share one Redis with the web tier)",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class RunLimits:
    """What one run may spend: tool calls, tokens, seconds (the operator's maxima)."""

    max_tool_calls: int = 40
    max_tokens: int = 200_000
    max_seconds: float = 600.0


@dataclass(frozen=True)
class Settings:
    """Everything livebot reads from its environment."""

    github_app_id: int | None = None
    github_private_key: str | None = None
    github_webhook_secret: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_app_slug: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    model: str = DEFAULT_MODEL
    redis_url: str | None = None
    public_url: str | None = None
    host: str = "0.0.0.0"
    host_given: bool = False  # HOST was set (else `livebot setup` listens on loopback only)
    port: int = 3000
    data_dir: Path = field(default_factory=lambda: Path(".livebot"))
    run_ttl_seconds: int = int(DEFAULT_RUN_TTL_DAYS * 86400)
    link_secret_raw: str | None = None
    metrics_token: str | None = None
    max_viewers_per_address: int = DEFAULT_MAX_VIEWERS_PER_ADDRESS
    max_viewers_per_run: int = DEFAULT_MAX_VIEWERS_PER_RUN
    # Reverse proxies whose X-Forwarded-For is believed (else the peer is the client).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # Where `livebot worker` serves /metrics; None: it serves none.
    metrics_port: int | None = None
    # Client connections at once; unset: derived from the open-file limit (never above it).
    max_connections: int | None = None
    workers: int = 4
    claim_timeout: float = 60.0
    shutdown_grace: float = 30.0
    max_attempts: int = 3
    # The final edit of a run is retried this long while GitHub fails, waiting ever longer.
    finish_edit_seconds: float = 900.0
    finish_edit_backoff: float = 5.0
    llm_timeout: float = 60.0
    llm_total_timeout: float = 600.0
    limits: RunLimits = field(default_factory=RunLimits)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    daily_tokens: int | None = None
    log_format: str | None = None
    env_file: Path = ENV_FILE
    database_url: str | None = None
    archive_days: int = DEFAULT_ARCHIVE_DAYS
    github_url: str = DEFAULT_GITHUB_URL
    github_client_id: str | None = None
    github_client_secret: str | None = None
    private_runs: PrivateRuns = "signin"

    @property
    def sign_in(self) -> bool:
        """Whether people can sign in with GitHub (the app's OAuth client is configured)."""
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when the public URL is https."""
        return self.base_url.startswith("https://")

    @property
    def base_url(self) -> str:
        """Base of the links put in comments."""
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @property
    def link_secret(self) -> bytes:
        """Key of the run-link HMAC: LIVEBOT_LINK_SECRET, else derived from the webhook secret."""
        if self.link_secret_raw:
            return self.link_secret_raw.encode()
        if self.github_webhook_secret:
            return hmac.new(
                self.github_webhook_secret.encode(), b"livebot run links", hashlib.sha256
            ).digest()
        raise SettingsError(
            "LIVEBOT_LINK_SECRET is not set (nor GITHUB_WEBHOOK_SECRET to derive it from)"
        )

    def _meets(self, need: str) -> bool:
        has_app = bool(self.github_app_id and self.github_private_key)
        return bool(
            {
                "GITHUB_APP_ID": self.github_app_id,
                "GITHUB_PRIVATE_KEY": self.github_private_key,
                "GITHUB_WEBHOOK_SECRET": self.github_webhook_secret,
                "GITHUB_APP_SLUG": self.github_app_slug or has_app,
                "LIVEBOT_LINK_SECRET": self.link_secret_raw or self.github_webhook_secret,
                "OPENAI_API_KEY": self.openai_api_key or self.openai_base_url,
                "REDIS_URL": self.redis_url,
            }[need]
        )

    def require_mode(self, mode: Mode) -> None:
        """Stop with one line naming every setting `mode` needs that is unset."""
        missing = [NEED_HINTS.get(need, need) for need in MODE_NEEDS[mode] if not self._meets(need)]
        if missing:
            raise SettingsError(
                f"`livebot {mode}` needs settings that are not set: " + "; ".join(missing)
            )


def _parse(env: Mapping[str, str], name: str, convert: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} is malformed: {raw!r} ({exc})") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _days_to_seconds(raw: str) -> int:
    days = float(raw)
    if days <= 0:
        raise ValueError("must be a positive number of days")
    return int(days * 86400)


def _database_url(raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("must start with postgresql:// or postgres://")
    return raw


def _private_runs(raw: str) -> PrivateRuns:
    if raw == "link":
        return "link"
    if raw == "signin":
        return "signin"
    raise ValueError("must be one of " + ", ".join(PRIVATE_RUNS_CHOICES))


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _redis_url(raw: str) -> str:
    if not raw.startswith(REDIS_SCHEMES):
        raise ValueError(
            "must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)"
        )
    return raw


def _link_secret(env: Mapping[str, str]) -> str | None:
    raw = env.get("LIVEBOT_LINK_SECRET") or None
    if raw is not None and len(raw.encode()) < MIN_LINK_SECRET_BYTES:
        # The value is a secret: its length is named, never the value itself.
        raise SettingsError(
            f"LIVEBOT_LINK_SECRET is too short ({len(raw.encode())} bytes): use at least "
            f"{MIN_LINK_SECRET_BYTES} random bytes, e.g. the output of `openssl rand -hex 32`"
        )
    return raw


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDRs (`10.0.0.0/8, ::1`)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


def _log_format(raw: str) -> str:
    if raw not in LOG_FORMATS:
        raise ValueError("must be json or text")
    return raw


def _check_rsa(name: str, key: str) -> None:
    """Refuse a key GitHub cannot have issued for an app: not PEM, encrypted, or not RSA."""
    try:
        loaded = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"{name} is malformed: the PEM key cannot be loaded ({exc}); {KEY_FIX}"
        ) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        kind = type(loaded).__name__.removeprefix("_").replace("PrivateKey", "")
        raise SettingsError(f"{name} is an unsupported {kind} key; {KEY_FIX}")


def _private_key(env: Mapping[str, str]) -> str | None:
    inline = env.get("GITHUB_PRIVATE_KEY", "").strip()
    path = env.get("GITHUB_PRIVATE_KEY_PATH", "").strip()
    if inline:
        key = inline.replace("\\n", "\n")
    elif path:
        try:
            key = Path(path).expanduser().read_text()
        except OSError as exc:
            raise SettingsError(f"GITHUB_PRIVATE_KEY_PATH cannot be read: {exc}") from None
    else:
        return None
    if "PRIVATE KEY-----" not in key:
        name = "GITHUB_PRIVATE_KEY" if inline else "GITHUB_PRIVATE_KEY_PATH"
        raise SettingsError(f"{name} is malformed: not a PEM private key")
    _check_rsa("GITHUB_PRIVATE_KEY" if inline else "GITHUB_PRIVATE_KEY_PATH", key)
    return key


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Read settings: the process environment wins over `.env` in the working directory."""
    env_file = env_file or ENV_FILE
    file_values = dotenv_values(env_file)
    env: dict[str, str] = {k: v for k, v in file_values.items() if v is not None}
    env.update(os.environ if environ is None else environ)
    return Settings(
        github_app_id=_parse(env, "GITHUB_APP_ID", _positive_int, None),
        github_private_key=_private_key(env),
        github_webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
        github_api_url=_parse(env, "GITHUB_API_URL", _url, DEFAULT_GITHUB_API_URL),
        github_app_slug=env.get("GITHUB_APP_SLUG", "").strip().lstrip("@") or None,
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_base_url=_parse(env, "OPENAI_BASE_URL", _url, None),
        model=env.get("LIVEBOT_MODEL", "").strip() or DEFAULT_MODEL,
        redis_url=_parse(env, "REDIS_URL", _redis_url, None),
        public_url=_parse(env, "PUBLIC_URL", _url, None),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        host_given=bool(env.get("HOST", "").strip()),
        port=_parse(env, "PORT", _port, 3000),
        data_dir=Path(env.get("LIVEBOT_DATA_DIR", "").strip() or ".livebot"),
        run_ttl_seconds=_parse(
            env, "LIVEBOT_RUN_TTL", _days_to_seconds, int(DEFAULT_RUN_TTL_DAYS * 86400)
        ),
        link_secret_raw=_link_secret(env),
        metrics_token=env.get("LIVEBOT_METRICS_TOKEN") or None,
        max_viewers_per_address=_parse(
            env,
            "LIVEBOT_MAX_VIEWERS_PER_ADDRESS",
            _positive_int,
            DEFAULT_MAX_VIEWERS_PER_ADDRESS,
        ),
        max_viewers_per_run=_parse(
            env, "LIVEBOT_MAX_VIEWERS_PER_RUN", _positive_int, DEFAULT_MAX_VIEWERS_PER_RUN
        ),
        trusted_proxies=_parse(env, "LIVEBOT_TRUSTED_PROXIES", _networks, ()),
        metrics_port=_parse(env, "LIVEBOT_METRICS_PORT", _port, None),
        max_connections=_parse(env, "LIVEBOT_MAX_CONNECTIONS", _positive_int, None),
        workers=_parse(env, "LIVEBOT_WORKERS", _positive_int, 4),
        claim_timeout=_parse(env, "LIVEBOT_CLAIM_TIMEOUT", _positive_float, 60.0),
        shutdown_grace=_parse(env, "LIVEBOT_SHUTDOWN_GRACE", _positive_float, 30.0),
        max_attempts=_parse(env, "LIVEBOT_MAX_ATTEMPTS", _positive_int, 3),
        finish_edit_seconds=_parse(env, "LIVEBOT_FINISH_EDIT_SECONDS", _positive_float, 900.0),
        finish_edit_backoff=_parse(env, "LIVEBOT_FINISH_EDIT_BACKOFF", _positive_float, 5.0),
        llm_timeout=_parse(env, "LIVEBOT_LLM_TIMEOUT", _positive_float, 60.0),
        llm_total_timeout=_parse(env, "LIVEBOT_LLM_TOTAL_TIMEOUT", _positive_float, 600.0),
        prices=_parse(env, "LIVEBOT_PRICES", parse_prices, {}),
        daily_tokens=_parse(env, "LIVEBOT_DAILY_TOKENS", _positive_int, None),
        limits=RunLimits(
            max_tool_calls=_parse(env, "LIVEBOT_MAX_TOOL_CALLS", _positive_int, 40),
            max_tokens=_parse(env, "LIVEBOT_MAX_TOKENS", _positive_int, 200_000),
            max_seconds=_parse(env, "LIVEBOT_MAX_SECONDS", _positive_float, 600.0),
        ),
        log_format=_parse(env, "LIVEBOT_LOG_FORMAT", _log_format, None),
        env_file=env_file,
        database_url=_parse(env, "DATABASE_URL", _database_url, None),
        archive_days=_parse(env, "LIVEBOT_ARCHIVE_DAYS", _positive_int, DEFAULT_ARCHIVE_DAYS),
        github_url=_parse(env, "GITHUB_URL", _url, DEFAULT_GITHUB_URL),
        github_client_id=env.get("GITHUB_CLIENT_ID", "").strip() or None,
        github_client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
        private_runs=_parse(env, "LIVEBOT_PRIVATE_RUNS", _private_runs, "signin"),
    )


def parse_prices(raw: str) -> dict[str, tuple[float, float]]:
    """LIVEBOT_PRICES: `{"model": [prompt, completion]}` in dollars per million tokens."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object such as {"my-model": [0.5, 1.5]}')
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in data.items():
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(p, int | float) and p >= 0 for p in pair)
        ):
            raise ValueError(f"{model}: needs [prompt, completion] dollars per million tokens")
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return prices
