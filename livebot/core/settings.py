"""Settings read from the environment and a `.env` file: the table of them is `Settings` itself.

Each field made with `setting(...)` is one row: its variable, parser, default, one-line
description and the modes that need it. `load_settings`, `livebot check`, `livebot COMMAND
--help` and README.md's settings table (written by `python -m livebot.core.settings_doc`) all
read it; adding a setting is adding one such field.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar, cast, get_args

from dotenv import dotenv_values

from livebot.core import parsers
from livebot.core.parsers import Invalid, IPNetwork, Parser, PrivateRuns
from livebot.core.unknown_keys import UnknownKey, unknown_keys

T = TypeVar("T")
D = TypeVar("D")

ENV_FILE: Final = Path(".env")
# The longest stretch of a refused value an error repeats.
SHOWN_CHARS: Final = 60

Mode = Literal["serve", "web", "worker", "demo", "setup", "check", "redeliver"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
SERVE_WORKER: Final[tuple[Mode, ...]] = ("serve", "worker")
USES_APP: Final[tuple[Mode, ...]] = ("serve", "worker", "redeliver")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it (one line per problem)."""

    @classmethod
    def of(cls, problems: list[Problem]) -> SettingsError:
        """One error for every problem: one line, or a count and a line each."""
        if len(problems) == 1:
            return cls(problems[0].text)
        lines = "".join(f"\n  {problem.text}" for problem in problems)
        return cls(f"{len(problems)} settings need fixing:{lines}")


@dataclass(frozen=True)
class Problem:
    """One bad or missing setting: the variable at fault (`setting` is its row's) and why."""

    setting: str
    name: str
    text: str
    source: str = "the environment"


class BadValue(Exception):
    """A variable's value refused: `name` is the variable, the message says why."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One row of the table; the field it describes holds the parsed value."""

    env: str
    parser: Parser[T]
    # The parser's kind of value, or None (unset).
    default: T | None
    about: str
    needed_by: tuple[Mode, ...] = ()
    # After the default in README.md: what an unset value means, or an exception.
    default_note: str = ""
    # A variable naming a file that holds the value, read when `env` is unset.
    file_env: str = ""
    # The parenthesis of an error about it, when `about` is too long for one.
    hint: str = ""
    # What else meets the need, as "X (or ALTERNATIVE)", and how to tell it is met.
    alternative: str = ""
    met: Callable[[Settings], object] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The variables read for this setting."""
        return (self.env, self.file_env) if self.file_env else (self.env,)

    @property
    def need_text(self) -> str:
        """The setting as a need: `OPENAI_API_KEY (or OPENAI_BASE_URL for …)`."""
        alternative = self.alternative or self.file_env
        return f"{self.env} (or {alternative})" if alternative else self.env

    @property
    def why(self) -> str:
        """What the setting is, in a few plain words (an error's parenthesis)."""
        return (self.hint or self.about).replace("`", "")

    def read(self, env: Mapping[str, str]) -> T | None:
        """The value `env` gives, else the default; `BadValue` when it is refused."""
        name, raw = self.env, env.get(self.env, "")
        expects = self.parser.expects
        if not raw.strip() and self.file_env and env.get(self.file_env, "").strip():
            name, path = self.file_env, env[self.file_env].strip()
            expects = f"a file holding {expects}"
            try:
                raw = Path(path).expanduser().read_text()
            except OSError as exc:
                raise BadValue(
                    name,
                    f"{name} must name a file this user can read ({self.why}), got "
                    f"{path!r} ({exc.strerror or exc})",
                ) from None
        if not raw.strip():
            return self.default
        text = raw.strip() if self.parser.strip else raw
        try:
            return self.parser.convert(text)
        except ValueError as exc:
            got = exc.got if isinstance(exc, Invalid) and exc.got else self._shown(text)
            fix = f"; {exc.fix}" if isinstance(exc, Invalid) and exc.fix else ""
            text = f"{name} must be {expects} ({self.why}), got {got}{fix}"
            raise BadValue(name, text) from None

    def _shown(self, text: str) -> str:
        if self.parser.secret:
            return f"a value of {len(text)} characters (not shown)"
        if len(text) > SHOWN_CHARS:
            return repr(text[:SHOWN_CHARS]) + "…"
        return repr(text)

    def is_met(self, settings: Settings, field_name: str) -> bool:
        """Whether `settings` meets this need (the field set, or its alternative)."""
        return bool(self.met(settings) if self.met else getattr(settings, field_name))


KEY: Final = "livebot.setting"


def setting(
    env: str,
    parser: Parser[T],
    default: D,
    about: str,
    *,
    needed_by: tuple[Mode, ...] = (),
    default_note: str = "",
    file_env: str = "",
    hint: str = "",
    alternative: str = "",
    met: Callable[[Settings], object] | None = None,
) -> T | D:
    """A field of `Settings` read from `env`: one row of the settings table (`default` is the
    parser's kind of value, or None)."""
    row = Setting(
        env,
        parser,
        cast(T | None, default),
        about,
        needed_by,
        default_note,
        file_env,
        hint,
        alternative,
        met,
    )
    if isinstance(default, dict):
        # A dict is no field default: each Settings gets its own copy.
        copy = cast(Any, default).copy
        return cast(T, field(default_factory=copy, metadata={KEY: row}))
    return field(default=default, metadata={KEY: row})


@dataclass(frozen=True)
class Settings:
    """Everything livebot reads from its environment: each `setting(...)` is a row."""

    github_app_id: int | None = setting(
        "GITHUB_APP_ID",
        parsers.WHOLE,
        None,
        "the App ID on your app's settings page",
        needed_by=USES_APP,
    )
    github_private_key: str | None = setting(
        "GITHUB_PRIVATE_KEY",
        parsers.PEM_KEY,
        None,
        "the app's PEM key, inline (`\\n` allowed) or as a file (`GITHUB_PRIVATE_KEY_PATH`)",
        needed_by=USES_APP,
        file_env="GITHUB_PRIVATE_KEY_PATH",
        hint="the app's private key, generated on its settings page",
    )
    github_webhook_secret: str | None = setting(
        "GITHUB_WEBHOOK_SECRET",
        parsers.SECRET,
        None,
        "the webhook secret; unsigned deliveries are always refused",
        needed_by=("serve", "web"),
    )
    github_api_url: str = setting(
        "GITHUB_API_URL",
        parsers.WEB_URL,
        "https://api.github.com",
        "REST API base (GitHub Enterprise Server)",
    )
    github_app_slug: str | None = setting(
        "GITHUB_APP_SLUG",
        parsers.SLUG,
        None,
        "the name people mention",
        needed_by=("web",),
        default_note="asked of `GET /app` at start; `livebot web` starts even while GitHub is "
        "unreachable, asks again in the background, and keeps the deliveries that arrive "
        "meanwhile (202 `deferred`) in Redis to route them once it knows the name",
        alternative="GITHUB_APP_ID and GITHUB_PRIVATE_KEY to ask GitHub",
        met=lambda s: s.github_app_slug or (s.github_app_id and s.github_private_key),
    )
    openai_api_key: str | None = setting(
        "OPENAI_API_KEY",
        parsers.SECRET,
        None,
        "the model endpoint's API key",
        needed_by=SERVE_WORKER,
        alternative="OPENAI_BASE_URL for a server that needs no key",
        met=lambda s: s.openai_api_key or s.openai_base_url,
    )
    openai_base_url: str | None = setting(
        "OPENAI_BASE_URL",
        parsers.WEB_URL,
        None,
        "any OpenAI-compatible endpoint (OpenAI, Azure, Ollama, vLLM, llama.cpp, Gemini, "
        "Mistral, DeepSeek, …: a recipe for each in [docs/models.md](docs/models.md))",
        default_note="OpenAI's API",
        hint="the model endpoint's base URL",
    )
    model: str = setting("LIVEBOT_MODEL", parsers.TEXT, "gpt-4o-mini", "chat model")
    redis_url: str | None = setting(
        "REDIS_URL",
        parsers.REDIS_URL,
        None,
        "Redis or Redis Cluster (detected); workers share one with the web processes",
        needed_by=("worker",),
        default_note="an embedded Redis",
    )
    public_url: str | None = setting(
        "PUBLIC_URL",
        parsers.WEB_URL,
        None,
        "base of the links put in comments, where GitHub and viewers reach this server",
        default_note="`http://localhost:<PORT>`",
    )
    host: str = setting(
        "HOST",
        parsers.TEXT,
        "0.0.0.0",
        "where the web server listens",
        default_note="(`livebot setup`: `127.0.0.1`)",
    )
    host_given: bool = False  # HOST was set (else `livebot setup` listens on loopback only)
    port: int = setting("PORT", parsers.PORT, 3000, "the web server's port")
    data_dir: Path = setting(
        "LIVEBOT_DATA_DIR",
        parsers.FOLDER,
        Path(".livebot"),
        "the embedded Redis's socket and append-only file, the app's key written by `setup`, "
        "the demo's link secret",
        hint="a folder for the embedded Redis and the app's key",
    )
    run_ttl_seconds: int = setting(
        "LIVEBOT_RUN_TTL", parsers.DAYS, 7 * 86400, "days a finished run's log is kept"
    )
    link_secret_raw: str | None = setting(
        "LIVEBOT_LINK_SECRET",
        parsers.LINK_SECRET,
        None,
        "key of the run links' tokens, of the sign-in cookies and of the users' tokens kept in "
        "Redis (encrypted; changing it signs everyone out); `openssl rand -hex 32` makes one",
        needed_by=("worker",),
        default_note="derived from the webhook secret",
        hint="the key of run links and sign-in cookies",
        alternative="GITHUB_WEBHOOK_SECRET to derive it from",
        met=lambda s: s.link_secret_raw or s.github_webhook_secret,
    )
    metrics_token: str | None = setting(
        "LIVEBOT_METRICS_TOKEN",
        parsers.SECRET,
        None,
        "bearer token `/metrics` requires",
        default_note="`/metrics` only on loopback",
    )
    max_viewers_per_address: int = setting(
        "LIVEBOT_MAX_VIEWERS_PER_ADDRESS",
        parsers.WHOLE,
        256,
        "live viewers one client address may hold open (429 past them)",
    )
    max_viewers_per_run: int = setting(
        "LIVEBOT_MAX_VIEWERS_PER_RUN",
        parsers.WHOLE,
        2_000,
        "live viewers one run may have (429 past them)",
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "LIVEBOT_TRUSTED_PROXIES",
        parsers.NETWORKS,
        (),
        "reverse proxies whose `X-Forwarded-For` names the client: walked right to left past "
        "trusted hops; from any other peer the header is ignored (see "
        "[docs/deployment.md](docs/deployment.md#the-clients-address-behind-a-proxy))",
        default_note="the peer is the client",
        hint="reverse proxies whose X-Forwarded-For names the client",
    )
    metrics_port: int | None = setting(
        "LIVEBOT_METRICS_PORT",
        parsers.PORT,
        None,
        "port where `livebot worker` serves `/metrics` (job, token, cost, model-error and "
        "queue-age metrics; same token rule); the web processes serve it on `PORT`",
        default_note="a worker serves none",
    )
    max_connections: int | None = setting(
        "LIVEBOT_MAX_CONNECTIONS",
        parsers.WHOLE,
        None,
        "client connections the web server holds at once; never more than the open-file limit "
        "allows (see [docs/deployment.md](docs/deployment.md#connections-and-slow-clients))",
        default_note="the open-file limit less a reserve (half of it, at most 1,024)",
        hint="client connections the web server holds at once",
    )
    workers: int = setting("LIVEBOT_WORKERS", parsers.WHOLE, 4, "jobs one process runs at once")
    claim_timeout: float = setting(
        "LIVEBOT_CLAIM_TIMEOUT",
        parsers.SECONDS,
        60.0,
        "seconds before a dead worker's job is taken over",
    )
    shutdown_grace: float = setting(
        "LIVEBOT_SHUTDOWN_GRACE",
        parsers.SECONDS,
        30.0,
        "seconds running jobs get to finish on SIGTERM",
    )
    max_attempts: int = setting(
        "LIVEBOT_MAX_ATTEMPTS",
        parsers.WHOLE,
        3,
        "attempts before a job is set aside as failed",
    )
    finish_edit_seconds: float = setting(
        "LIVEBOT_FINISH_EDIT_SECONDS",
        parsers.SECONDS,
        900.0,
        "seconds a run's final comment is retried while GitHub fails",
    )
    finish_edit_backoff: float = setting(
        "LIVEBOT_FINISH_EDIT_BACKOFF",
        parsers.SECONDS,
        5.0,
        "first wait between those retries (it doubles, up to 2 min)",
    )
    llm_timeout: float = setting(
        "LIVEBOT_LLM_TIMEOUT",
        parsers.SECONDS,
        60.0,
        "seconds to wait for the model's first token, and between tokens",
    )
    llm_total_timeout: float = setting(
        "LIVEBOT_LLM_TOTAL_TIMEOUT",
        parsers.SECONDS,
        600.0,
        "seconds one model reply may take in all",
    )
    max_tool_calls: int = setting(
        "LIVEBOT_MAX_TOOL_CALLS",
        parsers.WHOLE,
        40,
        "tool calls one run may make (repositories may ask for fewer)",
    )
    max_tokens: int = setting(
        "LIVEBOT_MAX_TOKENS",
        parsers.WHOLE,
        200_000,
        "tokens one run may spend (repositories may ask for fewer)",
    )
    max_seconds: float = setting(
        "LIVEBOT_MAX_SECONDS",
        parsers.SECONDS,
        600.0,
        "seconds one run may take (repositories may ask for fewer)",
    )
    prices: dict[str, tuple[float, float]] = setting(
        "LIVEBOT_PRICES",
        parsers.PRICES,
        {},
        'prices of models the built-in table lacks: `{"my-model": [prompt, completion]}` in '
        "dollars per million tokens",
        default_note="(the built-in table only)",
        hint="dollars per million prompt and completion tokens",
    )
    daily_tokens: int | None = setting(
        "LIVEBOT_DAILY_TOKENS",
        parsers.WHOLE,
        None,
        "per-installation daily token budget; past it a polite reply instead of work",
        default_note="no budget",
    )
    log_format: str | None = setting(
        "LIVEBOT_LOG_FORMAT",
        parsers.LOG_FORMAT,
        None,
        "how logs are written",
        default_note="`text` on a terminal, else `json`",
    )
    env_file: Path = ENV_FILE
    database_url: str | None = setting(
        "DATABASE_URL",
        parsers.DATABASE_URL,
        None,
        "PostgreSQL for the run archive and the history pages; see "
        "[docs/archive.md](docs/archive.md)",
        default_note="no archive: a run is gone once its Redis log expires "
        '(`LIVEBOT_RUN_TTL`), its link answers "expired", and there is no history or usage page',
        hint="PostgreSQL for the run archive",
    )
    archive_days: int = setting(
        "LIVEBOT_ARCHIVE_DAYS",
        parsers.WHOLE_DAYS,
        365,
        "days the archive keeps a run (a daily clean-up)",
    )
    github_url: str = setting(
        "GITHUB_URL",
        parsers.WEB_URL,
        "https://github.com",
        "GitHub's web address, where people sign in (GitHub Enterprise Server)",
    )
    github_client_id: str | None = setting(
        "GITHUB_CLIENT_ID",
        parsers.TEXT,
        None,
        'the app\'s OAuth client, for "sign in with GitHub" (written by `livebot setup`)',
        default_note="nobody can sign in (no history pages; private runs per "
        "`LIVEBOT_PRIVATE_RUNS`)",
    )
    github_client_secret: str | None = setting(
        "GITHUB_CLIENT_SECRET",
        parsers.SECRET,
        None,
        "the app's OAuth client secret (written by `livebot setup`)",
        default_note="as for `GITHUB_CLIENT_ID`",
    )
    private_runs: PrivateRuns = setting(
        "LIVEBOT_PRIVATE_RUNS",
        parsers.PRIVATE_RUNS,
        "signin",
        "who may open a run of a private repository: `link` (anyone with its link) or `signin` "
        "(the link and a signed-in user who can read the repository, asked of GitHub again "
        "every 60 s; an open live stream is closed once the reader lost access)",
        hint="who may open a run of a private repository",
    )

    @property
    def limits(self) -> RunLimits:
        """The most one run may spend, as the operator set it."""
        return RunLimits(self.max_tool_calls, self.max_tokens, self.max_seconds)

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

    def missing(self, mode: Mode, *, besides: frozenset[str] = frozenset()) -> list[Problem]:
        """What `mode` needs that is unset, one problem each (those in `besides` left out)."""
        return [
            Problem(row.env, row.env, _missing_text(row, mode))
            for name, row in SETTINGS.items()
            if mode in row.needed_by and row.env not in besides and not row.is_met(self, name)
        ]

    def require_mode(self, mode: Mode) -> None:
        """Stop with every setting `mode` needs that is unset."""
        missing = self.missing(mode)
        if missing:
            raise SettingsError.of(missing)


@dataclass(frozen=True)
class RunLimits:
    """What one run may spend: tool calls, tokens, seconds (the operator's maxima)."""

    max_tool_calls: int = Settings.max_tool_calls
    max_tokens: int = Settings.max_tokens
    max_seconds: float = Settings.max_seconds


def _missing_text(row: Setting[Any], mode: Mode) -> str:
    alternative = row.alternative or row.file_env
    nor = f" (nor {alternative})" if alternative else ""
    return f"{row.env} is not set{nor}: `livebot {mode}` needs it ({row.why})"


# The table: each field of Settings made with `setting(...)`, by field name.
SETTINGS: Final[dict[str, Setting[Any]]] = {
    f.name: f.metadata[KEY] for f in fields(Settings) if KEY in f.metadata
}
# Every variable the table reads.
KNOWN_NAMES: Final = frozenset(name for row in SETTINGS.values() for name in row.names)
# What each mode of `livebot` needs, and how a need is written when something else meets it.
MODE_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    mode: tuple(row.env for row in SETTINGS.values() if mode in row.needed_by) for mode in MODES
}
NEED_HINTS: Final = {row.env: row.need_text for row in SETTINGS.values() if row.needed_by}


@dataclass(frozen=True)
class Reading:
    """Settings as read: bad values left at their defaults, each named in `problems`."""

    settings: Settings
    problems: list[Problem]
    # The variables whose values came from the `.env` file (the environment wins over it).
    from_file: frozenset[str]
    # Names with our prefixes that no setting reads (likely misspellings).
    unknown: list[UnknownKey]

    def bad(self, *names: str) -> list[str]:
        """Which of `names` (rows' variables) have a problem."""
        at_fault = {problem.setting for problem in self.problems}
        return [name for name in names if name in at_fault]

    def checked(self, mode: Mode | None = None) -> Settings:
        """The settings, or one error naming every bad one (and every one `mode` needs, unset)."""
        problems = list(self.problems)
        if mode is not None:
            at_fault = frozenset(problem.setting for problem in problems)
            problems += self.settings.missing(mode, besides=at_fault)
        if problems:
            raise SettingsError.of(problems)
        return self.settings


def read_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Reading:
    """Every setting, each bad one named: the process environment wins over `.env`."""
    env_file = env_file or ENV_FILE
    file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    process = os.environ if environ is None else environ
    env = {**file_values, **process}
    from_file = frozenset(name for name in file_values if name not in process)
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, row in SETTINGS.items():
        try:
            values[name] = row.read(env)
        except BadValue as exc:
            source = str(env_file) if exc.name in from_file else "the environment"
            text = f"{exc} (in {source})" if exc.name in from_file else str(exc)
            problems.append(Problem(row.env, exc.name, text, source))
    settings = Settings(**values, host_given=bool(env.get("HOST", "").strip()), env_file=env_file)
    unknown = unknown_keys(KNOWN_NAMES, file_values, str(env_file), process)
    return Reading(settings, problems, from_file, unknown)


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    *,
    mode: Mode | None = None,
) -> Settings:
    """The settings, or one error naming every bad one (and every one `mode` needs, unset)."""
    return read_settings(environ, env_file).checked(mode)
