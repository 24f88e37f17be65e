"""The `livebot` command, and the process's composition root: every mode is built here."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, NoReturn

import aiohttp
import uvloop
from aiohttp import web
from gidgethub import GitHubException

from livebot.core import logs
from livebot.core.settings import (
    MODE_NEEDS,
    NEED_HINTS,
    Mode,
    Settings,
    SettingsError,
    read_settings,
)
from livebot.core.version import version
from livebot.demo.recordings import DemoPlayer
from livebot.github import redelivery
from livebot.intake import forward as forward_deliveries
from livebot.ops import links, preflight
from livebot.services import Services, github_app, open_services
from livebot.setup.app_setup import SetupStates
from livebot.store.client import RedisUnavailable
from livebot.web import connections
from livebot.web.app import create_app
from livebot.web.metrics_server import serving_metrics
from livebot.web.pages.demo import index_url
from livebot.web.pages.setup import setup_url

if TYPE_CHECKING:
    from livebot.queue.worker import WorkerPool

log = logging.getLogger(__name__)

# Seconds the web server gives open connections to finish when it stops.
HTTP_SHUTDOWN_SECONDS: Final = 5.0
# The collector's thresholds once started (Python's defaults: 700, 10, 10).
GC_THRESHOLDS: Final = (50_000, 20, 20)
# `livebot setup` listens here unless HOST is set: its page hands out a GitHub App's keys.
SETUP_HOST: Final = "127.0.0.1"


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line naming them and what to do, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


# What each command does: its line in `livebot --help`, and the start of its own `--help`.
COMMANDS: Final[dict[Mode, str]] = {
    "serve": "web server and workers in one process (the default way)",
    "web": "web server only: webhooks, live pages, SSE",
    "worker": "workers only: take jobs from Redis and run workflows",
    "demo": "serve the live page of a recorded demo run (no GitHub, no model)",
    "setup": "register the GitHub App from app.yml in your browser and save its settings",
    "check": "check every setting, GitHub, Redis and the model; ✓ or ✗",
    "redeliver": "ask GitHub to redeliver the webhook deliveries that failed lately",
}
# The modes that run the web server: they take --host and --port.
SERVING: Final = ("serve", "web", "demo", "setup")
# The modes where the links Livebot posts must open for the people GitHub shows them to.
LINKING: Final = ("serve", "web", "worker")


def needs_text(mode: Mode) -> str:
    """The settings `mode` needs, as MODE_NEEDS decides them."""
    needs = MODE_NEEDS[mode]
    if not needs:
        return "Needs no setting."
    return "Needs: " + "; ".join(NEED_HINTS.get(need, need) for need in needs) + "."


def _command(commands: Any, mode: Mode) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        mode,
        help=COMMANDS[mode],
        description=f"livebot {mode}: {COMMANDS[mode]}. {needs_text(mode)}",
        epilog="Settings come from the environment and from .env (see README.md).",
    )
    if mode in SERVING:
        parser.add_argument("--host", type=_host, help="address to listen on (overrides HOST)")
        parser.add_argument("--port", type=_port, help="port to listen on (overrides PORT)")
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="livebot",
        description="A GitHub App that answers mentions with an LLM and streams the answer live.",
        epilog="Settings come from the environment and from .env (see README.md). "
        "`livebot COMMAND --help` says what a command needs.",
    )
    parser.add_argument("--version", action="version", version=f"livebot {version()}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=_level,
        help="logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    built = {mode: _command(commands, mode) for mode in COMMANDS}
    built["demo"].add_argument(
        "--speed", type=_speed, default=1.0, help="playback speed (default 1)"
    )
    built["serve"].add_argument(
        "--forward",
        action="store_true",
        help="for a trial without a public URL: read the app's deliveries from GitHub's API "
        "every few seconds instead of waiting for GitHub to post them",
    )
    built["redeliver"].add_argument(
        "--since",
        type=_duration,
        required=True,
        metavar="DURATION",
        help="how far back to look, e.g. 30m, 2h, 1d (GitHub keeps 3 days)",
    )
    return parser


def _host(raw: str) -> str:
    if not raw.strip():
        raise argparse.ArgumentTypeError("--host must not be empty")
    return raw.strip()


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be a number from 0 to 65535: {raw!r}")
    return value


def _duration(text: str) -> float:
    try:
        return redelivery.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def redeliver_mode(settings: Settings, since_seconds: float) -> None:
    """Redeliver what failed within the last `since_seconds`; print what was done."""
    settings.require_mode("redeliver")
    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app = github_app(settings, session)
        now = time.time()
        try:
            results = await redelivery.redeliver_failed(app, now - since_seconds, now)
        except (GitHubException, aiohttp.ClientError, TimeoutError) as exc:
            raise SettingsError(
                f"GET /app/hook/deliveries failed ({exc!r}); check GITHUB_APP_ID, "
                "GITHUB_PRIVATE_KEY and GITHUB_API_URL"
            ) from None
    print(redelivery.table(results))
    print(f"{len(results)} failed deliveries redelivered", file=sys.stderr)


def _level(raw: str) -> str:
    if raw.upper() not in logs.LEVELS:
        raise argparse.ArgumentTypeError(
            f"--log-level {raw!r} is not a level; use one of {', '.join(logs.LEVELS)}"
        )
    return raw.upper()


def _speed(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"--speed must be a number above 0 and up to 100: {raw!r}")
    return value


@asynccontextmanager
async def serving(
    services: Services,
    demo_player: DemoPlayer | None = None,
    setup_states: SetupStates | None = None,
) -> AsyncIterator[None]:
    """The web application, listening on HOST:PORT until the block ends."""
    settings = services.settings
    cap = connections.connection_cap(connections.raise_descriptor_limit(), settings.max_connections)
    runner = web.AppRunner(
        create_app(services, demo_player=demo_player, setup_states=setup_states),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=HTTP_SHUTDOWN_SECONDS,
        **connections.server_options(),
    )
    await runner.setup()
    assert runner.server is not None
    guard = connections.ConnectionGuard(runner.server, cap)
    try:
        await connections.GuardedSite(runner, guard, settings.host, settings.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise preflight.listen_error(settings, exc) from None
    try:
        yield
    finally:
        await runner.cleanup()


async def _until_stopped(workers: WorkerPool | None = None) -> None:
    """Wait for SIGTERM or SIGINT; the first says what shutdown waits for, a second one (the
    handlers stay until the process ends) cuts the workers' grace period short."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopped() -> None:
        if stop.is_set():
            if workers is not None:
                workers.stop_now()
            return
        stop.set()
        if workers is not None and workers.running:
            print(workers.waiting_notice(), file=sys.stderr, flush=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped)
    await stop.wait()


def _announce(mode: Mode, services: Services, setup_states: SetupStates | None) -> None:
    """The link to open, printed once the port is bound (never a link to someone else's
    server), with the address listened on."""
    settings = services.settings
    where = f"listening on {settings.host}:{settings.port}"
    if mode == "demo":
        link = index_url(settings.base_url, settings.link_secret)
    elif setup_states is not None:
        link = setup_url(settings.base_url, setup_states.link_token)
        where = (
            f"listening on {settings.host}"
            if settings.host_given
            else f"listening on {SETUP_HOST} only; set HOST to listen on another address"
        )
    else:
        link = f"{settings.base_url}/"
    print(f"livebot {mode}: open {link} ({where})", flush=True)


def listen_settings(
    command: str, settings: Settings, host: str | None = None, port: int | None = None
) -> Settings:
    """--host and --port over HOST and PORT; `livebot setup` on loopback unless a host was
    given; every other mode as set."""
    if host is not None:
        settings = dataclasses.replace(settings, host=host, host_given=True)
    if port is not None:
        settings = dataclasses.replace(settings, port=port)
    if command == "setup" and not settings.host_given:
        return dataclasses.replace(settings, host=SETUP_HOST)
    return settings


async def run_mode(
    mode: Mode, settings: Settings, *, speed: float = 1.0, forward: bool = False
) -> None:
    """Build the services `mode` needs, run them until a signal, stop them in order."""
    workers: WorkerPool | None = None
    async with (
        open_services(settings, mode, will_listen=True) as services,
        AsyncExitStack() as stack,
    ):
        # Said once the settings passed: a start that fails says one line only.
        for warning in preflight.warnings(mode, settings):
            log.warning(warning)
        if mode in LINKING and not forward:
            await links.check_links(settings, services.session)
        if mode in ("serve", "worker"):
            if services.archive is not None:
                from livebot.archive.archiver import running_archiver

                await stack.enter_async_context(
                    running_archiver(
                        services.run_log, services.archive, archive_days=settings.archive_days
                    )
                )
            # Imported here: `livebot web` never loads the workflows and the model client.
            from livebot.queue.worker import running_workers
            from livebot.worker_services import worker_services

            clients = worker_services(services)
            # Closed after the workers stop (callbacks run last in, first out).
            stack.push_async_callback(clients.llm.close)
            workers = await stack.enter_async_context(running_workers(clients))
        if mode == "worker":
            # The web tier serves /metrics itself; a worker only on LIVEBOT_METRICS_PORT.
            await stack.enter_async_context(serving_metrics(settings))
        if mode in ("serve", "web", "demo", "setup"):
            player = DemoPlayer(services.run_log, speed) if mode == "demo" else None
            setup_states = SetupStates() if mode == "setup" else None
            # Entered last, so stopped first: no new webhook arrives while workers wind down.
            await stack.enter_async_context(serving(services, player, setup_states))
            _announce(mode, services, setup_states)
        if forward:
            print(forward_deliveries.NOTICE, file=sys.stderr, flush=True)
            forwarder = forward_deliveries.Forwarder(
                github_app(settings, services.session, max_attempts=1),
                services.redis,
                services.queue,
                services.slug,
            )
            await stack.enter_async_context(forward_deliveries.forwarding(forwarder))
        # What start-up built lives as long as the process: frozen out of the collector's sight,
        # a full collection no longer walks it (a stall of tens of milliseconds, every request
        # in flight waiting) and costs only what was made since.
        gc.collect()
        gc.freeze()
        # Young collections rarer: fewer short-lived objects (events in flight) survive one by
        # chance into the old generation, whose full collection walks every open stream's
        # objects (~100 ms with 2,000 streams, every request in flight waiting).
        gc.set_threshold(*GC_THRESHOLDS)
        await _until_stopped(workers)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `livebot` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return
    if args.command == "check":
        logs.configure("ERROR")
        from livebot.ops import check  # the model's client too: loaded only for `check`

        sys.exit(uvloop.run(check.main()))
    try:
        reading = read_settings()
        settings = listen_settings(
            args.command,
            reading.checked(args.command),
            getattr(args, "host", None),
            getattr(args, "port", None),
        )
        logs.configure(args.log_level, settings.log_format)
        for unknown in reading.unknown:
            log.warning(unknown.text)
        if args.command == "redeliver":
            uvloop.run(redeliver_mode(settings, args.since))
            return
        speed = {"speed": args.speed} if args.command == "demo" else {}
        forward = getattr(args, "forward", False)
        # libuv's loop: a connection costs a fraction of asyncio's, and leaves no reference cycle
        # behind (asyncio's socket transport holds its own bound method until collected).
        uvloop.run(run_mode(args.command, settings, **speed, forward=forward))
    except (SettingsError, RedisUnavailable) as exc:
        print(f"livebot: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers are in place (during start-up): no traceback.
        sys.exit(130)


if __name__ == "__main__":
    main()
