"""The `livebot` command, and the process's composition root: every mode is built here."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

from aiohttp import web

from bot import demo, logs
from bot.links import run_url
from bot.redis_client import RedisUnavailable
from bot.services import Services, open_services, worker_services
from bot.settings import Mode, Settings, SettingsError, load_settings
from bot.worker import running_workers
from web.app import create_app

log = logging.getLogger(__name__)

# Seconds the web server gives open connections to finish when it stops.
HTTP_SHUTDOWN_SECONDS: Final = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livebot",
        description="A GitHub App that answers mentions with an LLM and streams the answer live.",
        epilog="Settings come from the environment and from .env (see README.md).",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("serve", help="web server and workers in one process (the default way)")
    commands.add_parser("web", help="web server only: webhooks, live pages, SSE")
    commands.add_parser("worker", help="workers only: take jobs from Redis and run workflows")
    demo_command = commands.add_parser(
        "demo", help="serve the live page of a recorded demo run (no GitHub, no model)"
    )
    demo_command.add_argument("--speed", type=float, default=1.0, help="playback speed (default 1)")
    demo_command.add_argument(
        "--delay", type=float, default=5.0, help="seconds before the demo run starts (default 5)"
    )
    return parser


@asynccontextmanager
async def serving(services: Services) -> AsyncIterator[None]:
    """The web application, listening on HOST:PORT until the block ends."""
    settings = services.settings
    runner = web.AppRunner(
        create_app(services),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=HTTP_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise SettingsError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); "
            "set HOST and PORT to a free address"
        ) from None
    print(f"livebot: serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    try:
        yield
    finally:
        await runner.cleanup()


async def _until_stopped() -> None:
    """Wait for SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def run_mode(
    mode: Mode, settings: Settings, *, speed: float = 1.0, delay: float = 5.0
) -> None:
    """Build the services `mode` needs, run them until a signal, stop them in order."""
    async with open_services(settings, mode) as services, AsyncExitStack() as stack:
        if mode in ("serve", "worker"):
            await stack.enter_async_context(running_workers(worker_services(services)))
        if mode in ("serve", "web", "demo"):
            # Entered last, so stopped first: no new webhook arrives while workers wind down.
            await stack.enter_async_context(serving(services))
        if mode == "demo":
            run_id = await demo.create_demo_run(services.run_log)
            link = run_url(settings.base_url, settings.link_secret, run_id)
            print(f"livebot demo: open {link}  (the run starts in {delay:g} s)", flush=True)
            player = asyncio.create_task(demo.play_later(services.run_log, run_id, speed, delay))
            stack.callback(player.cancel)
        await _until_stopped()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `livebot` command."""
    args = _parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    try:
        settings = load_settings()
        demo_without_secret = not (settings.link_secret_raw or settings.github_webhook_secret)
        if args.command == "demo" and demo_without_secret:
            settings = dataclasses.replace(settings, link_secret_raw=secrets.token_hex(32))
        demo_options = {"speed": args.speed, "delay": args.delay} if args.command == "demo" else {}
        asyncio.run(run_mode(args.command, settings, **demo_options))
    except (SettingsError, RedisUnavailable) as exc:
        print(f"livebot: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
