"""`livebot check`: every setting and every service livebot depends on, ✓ or ✗ with the fix."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final, TextIO

import aiohttp
import openai
from gidgethub import GitHubException

from livebot.core.settings import Reading, Settings, SettingsError, read_settings
from livebot.github.client import GitHubApp
from livebot.github.paths import api_path
from livebot.llm.client import make_client
from livebot.ops import capabilities, preflight
from livebot.ops.check_lines import Line, failed, lacking, passed, skipped
from livebot.services import github_app
from livebot.setup import manifest
from livebot.store.client import EmbeddedRedis, RedisUnavailable, connect, redis_server_binary

# Seconds one check may take: the table must come back even when a service hangs.
CHECK_SECONDS: Final = 15.0
MAX_INSTALLATIONS: Final = 20
RECENT_DELIVERIES: Final = 50
PERMISSION_RANK: Final = {"none": 0, "read": 1, "write": 2, "admin": 3}
APP_FIX: Final = "run `livebot setup`, or set GITHUB_APP_ID and GITHUB_PRIVATE_KEY_PATH"
# The settings each check reads: a bad one skips the check.
REDIS_NEEDS: Final = ("REDIS_URL", "LIVEBOT_DATA_DIR")
MODEL_NEEDS: Final = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LIVEBOT_MODEL")


def settings_lines(reading: Reading) -> list[Line]:
    """A ✗ row for each bad setting and each unknown name, else one ✓ row."""
    lines = [
        failed(
            problem.name,
            problem.text.removeprefix(f"{problem.name} "),
            f"correct or unset {problem.name} in {problem.source}",
        )
        for problem in reading.problems
    ]
    for unknown in reading.unknown:
        fix = f"rename it {unknown.meant}" if unknown.meant else f"remove it from {unknown.source}"
        lines.append(failed(unknown.name, f"(in {unknown.source}) is not a setting", fix))
    return lines or [passed("settings", "every setting parses")]


def unread(settings: Settings) -> Reading:
    """`settings` as if read without a problem (made in code, as tests do)."""
    return Reading(settings, [], frozenset(), [])


def offline(settings: Settings, reading: Reading | None = None) -> list[Line]:
    """The checks that need nothing outside this machine (`livebot serve` runs them at start)."""
    reading = reading or unread(settings)
    lines = settings_lines(reading)
    missing = settings.missing("serve", besides=frozenset(p.setting for p in reading.problems))
    if missing:
        detail = "; ".join(problem.text for problem in missing)
        lines.append(failed("settings for serve", detail, "set them in .env or the environment"))
    else:
        lines.append(passed("settings for serve", "all set"))
    probes = (
        ("data folder", preflight.check_data_dir, ("LIVEBOT_DATA_DIR",)),
        ("HOST", preflight.check_host, ("HOST", "PORT")),
    )
    for name, probe, needs in probes:
        if bad := reading.bad(*needs):
            lines.append(skipped(name, " and ".join(bad)))
            continue
        try:
            probe(settings)
            detail = (
                f"{settings.data_dir} is writable"
                if name == "data folder"
                else f"{settings.host} resolves"
            )
            lines.append(passed(name, detail))
        except SettingsError as exc:
            detail, _, fix = str(exc).partition("; ")
            lines.append(failed(name, detail, fix))
    return lines


def _github_error(exc: Exception) -> str:
    if isinstance(exc, GitHubException) and exc.args:
        return f"{getattr(exc, 'status_code', '')} {exc.args[0]}".strip()
    return str(exc) or type(exc).__name__


def _github_failure(settings: Settings, name: str, request: str, exc: Exception) -> Line:
    """A failed request to GitHub: unreachable, refused credentials, or GitHub's own error."""
    if not isinstance(exc, GitHubException):
        return failed(
            name,
            f"{settings.github_api_url} cannot be reached ({_github_error(exc)})",
            f"check GITHUB_API_URL ({settings.github_api_url}) and that this machine reaches it "
            "(DNS, proxy, firewall)",
        )
    if getattr(exc, "status_code", None) == HTTPStatus.UNAUTHORIZED:
        return failed(
            name,
            f"{request} with a JWT signed by the key was refused: {_github_error(exc)}",
            "check that GITHUB_APP_ID and the private key belong to the same app",
        )
    return failed(
        name,
        f"{request}: {_github_error(exc)}",
        f"check GITHUB_API_URL ({settings.github_api_url}), or retry later",
    )


# The rows after "GitHub App", which need its answer.
APP_ROWS: Final = ("webhook URL", "deliveries", "installations", "permissions")
GITHUB_ERRORS: Final = (GitHubException, aiohttp.ClientError, TimeoutError, OSError)


async def github_lines(
    settings: Settings, session: aiohttp.ClientSession, reading: Reading | None = None
) -> list[Line]:
    """GET /app with the key, the webhook URL, failed deliveries, installations, permissions."""
    reading = reading or unread(settings)
    first: Line | None = None
    if bad := reading.bad("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_API_URL"):
        first = skipped("GitHub App", " and ".join(bad))
    elif settings.github_app_id is None or settings.github_private_key is None:
        first = failed("GitHub App", "GITHUB_APP_ID or the private key is not set", APP_FIX)
    else:
        app = github_app(settings, session, max_attempts=1)
        try:
            info: dict[str, Any] = await app.app_info()
        except GITHUB_ERRORS as exc:
            first = _github_failure(settings, "GitHub App", "GET /app", exc)
    if first is not None:
        return [first, *(skipped(name, "GitHub App") for name in APP_ROWS)]
    lines = [
        passed("GitHub App", f"{info['slug']} (id {info['id']}): the key signs a JWT it accepts")
    ]
    if bad := reading.bad("PUBLIC_URL"):
        lines.append(skipped("webhook URL", bad[0]))
    else:
        lines.append(await _webhook_url(settings, app, info))
    for probe in (_deliveries, _installations, installed_on):
        lines.append(await probe(settings, app, info))
    lines.append(_permissions(info))
    return lines


async def _webhook_url(settings: Settings, app: GitHubApp, info: dict[str, Any]) -> Line:
    expected = f"{settings.base_url}/webhook"
    try:
        config = await app.gh.getitem(api_path("app", "hook", "config"), jwt=app.jwt())
    except GITHUB_ERRORS as exc:
        return _github_failure(settings, "webhook URL", "GET /app/hook/config", exc)
    if config.get("url") != expected:
        return failed(
            "webhook URL",
            f"GitHub sends webhooks to {config.get('url')!r}, not {expected}",
            f"set the webhook URL in {info.get('html_url', 'the app')}'s settings to {expected}, "
            "or PUBLIC_URL to where it points",
        )
    return passed("webhook URL", expected)


async def _deliveries(settings: Settings, app: GitHubApp, info: dict[str, Any]) -> Line:
    try:
        recent = await app.gh.getitem(
            api_path("app", "hook", "deliveries", query={"per_page": RECENT_DELIVERIES}),
            jwt=app.jwt(),
        )
    except GITHUB_ERRORS as exc:
        return _github_failure(settings, "deliveries", "GET /app/hook/deliveries", exc)
    bad = [d for d in recent if not 200 <= int(d.get("status_code") or 0) < 300]
    if bad:
        codes = Counter(str(d.get("status_code") or "no answer") for d in bad)
        summary = ", ".join(f"{n}× {code}" for code, n in codes.most_common())
        return failed(
            "deliveries",
            f"{len(bad)} of the last {len(recent)} failed ({summary})",
            "make PUBLIC_URL/webhook reachable with `livebot serve` running and the same "
            "GITHUB_WEBHOOK_SECRET, then redeliver them from the app's Advanced tab",
        )
    return passed("deliveries", f"the last {len(recent)} were accepted")


async def _installations(settings: Settings, app: GitHubApp, info: dict[str, Any]) -> Line:
    install_url = f"{info.get('html_url', '')}/installations/new"
    try:
        installations = [
            inst async for inst in app.gh.getiter(api_path("app", "installations"), jwt=app.jwt())
        ]
        repositories = 0
        for inst in installations[:MAX_INSTALLATIONS]:
            listing = await app.api(inst["id"]).getitem(
                api_path("installation", "repositories", query={"per_page": 1})
            )
            repositories += int(listing.get("total_count", 0))
    except GITHUB_ERRORS as exc:
        return _github_failure(settings, "installations", "GET /app/installations", exc)
    if not installations:
        return failed("installations", "the app is installed nowhere", f"install it: {install_url}")
    return passed("installations", f"{len(installations)}, reaching {repositories} repositories")


async def installed_on(settings: Settings, app: GitHubApp, info: dict[str, Any]) -> Line:
    """Each installation's account and repository selection, from GET /app/installations."""
    try:
        installations = [
            inst async for inst in app.gh.getiter(api_path("app", "installations"), jwt=app.jwt())
        ]
    except GitHubException as exc:
        return failed("installed on", _github_error(exc), "retry later")
    if not installations:
        return lacking(
            "installed on", "no account yet", f"{info.get('html_url', '')}/installations/new"
        )
    shown = [
        f"{inst['account']['login']} ({inst.get('repository_selection', '?')} repositories)"
        for inst in installations[:MAX_INSTALLATIONS]
    ]
    more = len(installations) - len(shown)
    return passed("installed on", ", ".join(shown) + (f" and {more} more" if more > 0 else ""))


def _permissions(info: dict[str, Any]) -> Line:
    granted: dict[str, str] = info.get("permissions") or {}
    short = [
        f"{name}: {level}"
        for name, level in manifest.wanted_permissions().items()
        if PERMISSION_RANK.get(granted.get(name, "none"), 0) < PERMISSION_RANK[level]
    ]
    events = set(info.get("events") or [])
    missing_events = [e for e in manifest.wanted_events() if e not in events]
    if short or missing_events:
        lacking = ", ".join(short + [f"event {e}" for e in missing_events])
        return failed(
            "permissions",
            f"app.yml asks for what the app lacks: {lacking}",
            f"grant them in {info.get('html_url', 'the app')}'s Permissions & events, then "
            "accept the new permissions on each installation",
        )
    return passed("permissions", "the permissions and events app.yml asks for")


async def _redis_server_version() -> str:
    process = await asyncio.create_subprocess_exec(
        redis_server_binary(), "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode().split()[2]


async def redis_line(settings: Settings) -> Line:
    """Redis's version, persistence and mode; the embedded one when no REDIS_URL is set."""
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        if not embedded.socket_path.exists():
            try:
                version = await _redis_server_version()
            except (RedisUnavailable, OSError, IndexError) as exc:
                return failed(
                    "Redis", f"no redis-server to embed ({exc})", "apt install redis-server"
                )
            return passed("Redis", f"embedded ({version}), append-only, started by livebot serve")
        url = embedded.url
    try:
        client = await connect(url)
    except RedisUnavailable as exc:
        return failed("Redis", exc.problem, exc.fix or "start Redis, or fix REDIS_URL")
    try:
        info = await client.info()
        saves = str((await client.config_get("save")).get("save", "")).strip()
    finally:
        await client.aclose()
    version = info.get("redis_version", "?")
    cluster = "a cluster" if info.get("cluster_enabled") else "not a cluster"
    if not info.get("aof_enabled") and not saves:
        return failed(
            "Redis",
            f"{version}, {cluster}, persistence off: runs are lost when Redis restarts",
            "turn on append-only persistence (appendonly yes)",
        )
    persistence = "append-only" if info.get("aof_enabled") else f"snapshots ({saves})"
    return passed("Redis", f"{version}, {persistence}, {cluster}")


async def model_line(settings: Settings) -> Line:
    """The model endpoint answers with these credentials, and LIVEBOT_MODEL is one of its models."""
    if not (settings.openai_api_key or settings.openai_base_url):
        return failed(
            "model", "OPENAI_API_KEY is not set", "set OPENAI_API_KEY (or OPENAI_BASE_URL)"
        )
    client = make_client(settings.openai_api_key, settings.openai_base_url)
    where = settings.openai_base_url or "api.openai.com"
    try:
        ids = [model.id async for model in client.models.list()]
    except openai.AuthenticationError as exc:
        return failed("model", f"{where} refused the key ({exc.status_code})", "fix OPENAI_API_KEY")
    except openai.NotFoundError:
        ids = await _tiny_completion(client, settings.model)
    except (openai.APIError, OSError) as exc:
        return failed("model", f"{where}: {exc}", "check OPENAI_BASE_URL and the network")
    finally:
        await client.close()
    if settings.model not in ids:
        choices = ", ".join(sorted(ids)[:8]) or "none listed"
        return failed(
            "model",
            f"{where} has no model {settings.model!r}",
            f"set LIVEBOT_MODEL to one of: {choices}",
        )
    return passed("model", f"{settings.model} at {where}")


async def _tiny_completion(client: openai.AsyncOpenAI, model: str) -> list[str]:
    """For servers without a model list: the model exists when one token comes back."""
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1, stream=True
        )
        async for _ in stream:
            break
        await stream.close()
    except (openai.APIError, OSError):
        return []
    return [model]


async def public_url_line(settings: Settings, session: aiohttp.ClientSession) -> Line:
    """PUBLIC_URL/healthz answers: GitHub and viewers can reach this server."""
    if settings.public_url is None:
        return failed(
            "public URL",
            "PUBLIC_URL is not set: links and webhooks point at localhost",
            "set PUBLIC_URL to the address GitHub and viewers reach this server at",
        )
    url = f"{settings.public_url}/healthz"
    try:
        async with session.get(url, allow_redirects=False) as resp:
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status, reason = 0, str(exc) or type(exc).__name__
    if status != 200:
        reason = reason if status == 0 else f"status {status}"
        return failed(
            "public URL",
            f"{url} did not answer 200 ({reason})",
            "start livebot serve (or web), and point PUBLIC_URL's host at it",
        )
    return passed("public URL", f"{url} answers")


async def _bounded(name: str, probe: Awaitable[list[Line]]) -> list[Line]:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await probe
    except TimeoutError:
        return [failed(name, f"no answer within {CHECK_SECONDS:g} s", "check the network")]


async def run(settings: Settings, reading: Reading | None = None) -> list[Line]:
    """Every check, in the table's order; one whose settings are bad is skipped, not the rest."""
    reading = reading or unread(settings)
    lines = offline(settings, reading)
    timeout = aiohttp.ClientTimeout(total=CHECK_SECONDS, connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(
            name: str, needs: tuple[str, ...], probe: Callable[[], Awaitable[Line]]
        ) -> list[Line]:
            if bad := reading.bad(*needs):
                return [skipped(name, " and ".join(bad))]
            return await _bounded(name, _listed(probe()))

        lines += await _bounded("GitHub App", github_lines(settings, session, reading))
        lines += await one("Redis", REDIS_NEEDS, lambda: redis_line(settings))
        model = await one("model", MODEL_NEEDS, lambda: model_line(settings))
        lines += model
        if model[0].ok:
            # What the endpoint can do: only worth asking once it answers for this model.
            lines += await capabilities.lines(settings)
        else:
            lines.append(skipped("capabilities", "model"))
        lines += await one(
            "public URL", ("PUBLIC_URL",), lambda: public_url_line(settings, session)
        )
    return lines


async def _listed(line: Awaitable[Line]) -> list[Line]:
    return [await line]


def render(lines: list[Line], out: TextIO) -> None:
    """The table: one row per check, the fix under each ✗ and each –."""
    width = max(len(line.name) for line in lines)
    for line in lines:
        print(f"{line.mark} {line.name:<{width}}  {line.detail}", file=out)
        if line.fix:
            print(f"  {'':<{width}}  fix: {line.fix}", file=out)


async def main() -> int:
    """Print the table; 0 when no row is ✗, else 1."""
    reading = read_settings()
    lines = await run(reading.settings, reading)
    render(lines, sys.stdout)
    return 0 if all(line.ok for line in lines) else 1
