"""How each setting's text becomes a value, and what a refused value is told in plain words."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PrivateRuns = Literal["link", "signin"]
PRIVATE_RUNS_CHOICES: Final = ("link", "signin")
LOG_FORMATS: Final = ("json", "text")
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
# Run links are HMACs under this secret: a short one could be guessed offline from one link.
MIN_LINK_SECRET_BYTES: Final = 32
KEY_FIX: Final = (
    "GitHub Apps sign with RSA keys: download a new private key from the app's settings page"
)


class Invalid(ValueError):
    """A refused value: `got` says what was found instead of the value itself, `fix` what to do."""

    def __init__(self, got: str = "", fix: str = "") -> None:
        super().__init__(got)
        self.got = got
        self.fix = fix


def _shown(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class Parser(Generic[T]):
    """Text to value; `expects` completes "X must be …"; a secret's value is never repeated."""

    expects: str
    convert: Callable[[str], T]
    secret: bool = False
    # Secrets are taken as written: a space may be part of one.
    strip: bool = True
    # A value as it is written in the variable (LIVEBOT_RUN_TTL is days, kept as seconds).
    show: Callable[[T], str] = _shown


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError
    return value


def _days_to_seconds(raw: str) -> int:
    return int(_positive_float(raw) * 86400)


def _starting_with(*prefixes: str) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if not raw.startswith(prefixes):
            raise ValueError
        return raw.rstrip("/") if raw.startswith(("http://", "https://")) else raw

    return convert


def _private_runs(raw: str) -> PrivateRuns:
    if raw == "link":
        return "link"
    if raw == "signin":
        return "signin"
    raise ValueError


def _log_format(raw: str) -> str:
    if raw not in LOG_FORMATS:
        raise ValueError
    return raw


def _link_secret(raw: str) -> str:
    size = len(raw.encode())
    if size < MIN_LINK_SECRET_BYTES:
        # The value is a secret: its length is named, never the value itself.
        raise Invalid(f"{size} bytes", "use e.g. the output of `openssl rand -hex 32`")
    return raw


def _pem_key(raw: str) -> str:
    """Refuse a key GitHub cannot have issued for an app: not PEM, encrypted, or not RSA."""
    key = raw.replace("\\n", "\n")
    if "PRIVATE KEY-----" not in key:
        raise Invalid("text that is not a PEM private key", KEY_FIX)
    try:
        loaded = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise Invalid(f"a PEM key that cannot be loaded ({exc})", KEY_FIX) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        kind = type(loaded).__name__.removeprefix("_").replace("PrivateKey", "")
        raise Invalid(f"an {kind} key", KEY_FIX)
    return key


def parse_prices(raw: str) -> dict[str, tuple[float, float]]:
    """LIVEBOT_PRICES: `{"model": [prompt, completion]}` in dollars per million tokens."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(f"{raw!r}, which is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in data.items():
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(p, int | float) and p >= 0 for p in pair)
        ):
            raise Invalid(f"{model!r}: {pair!r}, not [prompt, completion] dollars per million")
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return prices


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDRs (`10.0.0.0/8, ::1`)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


TEXT: Final = Parser("text", str)
SECRET: Final = Parser("text", str, secret=True, strip=False)
SLUG: Final = Parser("the app's name", lambda raw: raw.lstrip("@"))
FOLDER: Final = Parser("a folder", Path)
WHOLE: Final = Parser("a whole number above 0", _positive_int)
SECONDS: Final = Parser("a number of seconds above 0", _positive_float)
DAYS: Final = Parser(
    "a number of days above 0", _days_to_seconds, show=lambda seconds: _shown(seconds / 86400)
)
WHOLE_DAYS: Final = Parser("a whole number of days above 0", _positive_int)
PORT: Final = Parser("a port number from 0 to 65535", _port)
NETWORKS: Final = Parser(
    "comma-separated addresses or CIDRs (e.g. 172.29.80.80, 10.0.0.0/8)",
    _networks,
    show=lambda nets: ", ".join(str(n) for n in nets),
)
WEB_URL: Final = Parser(
    "a URL starting with http:// or https://", _starting_with("http://", "https://")
)
REDIS_URL: Final = Parser(
    "a URL starting with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)",
    _starting_with(*REDIS_SCHEMES),
)
DATABASE_URL: Final = Parser(
    "a URL starting with postgresql:// or postgres://",
    _starting_with("postgresql://", "postgres://"),
)
LOG_FORMAT: Final = Parser("json or text", _log_format)
PRIVATE_RUNS: Final = Parser("link or signin", _private_runs)
PRICES: Final = Parser('a JSON object such as {"my-model": [0.5, 1.5]}', parse_prices)
LINK_SECRET: Final = Parser(
    f"at least {MIN_LINK_SECRET_BYTES} bytes", _link_secret, secret=True, strip=False
)
PEM_KEY: Final = Parser("an RSA private key in PEM form", _pem_key, secret=True)
