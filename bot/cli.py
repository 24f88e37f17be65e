"""The `livebot` command: serve, web, worker, demo."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import secrets
import sys
from collections.abc import Sequence

from aiohttp import web

from bot import logs
from bot.demo import demo_context
from bot.redis_client import RedisUnavailable
from bot.settings import Settings, SettingsError, load_settings
from bot.worker import worker_main
from web.app import create_app, github_context

log = logging.getLogger(__name__)


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
    demo = commands.add_parser(
        "demo", help="serve the live page of a recorded demo run (no GitHub, no model)"
    )
    demo.add_argument("--speed", type=float, default=1.0, help="playback speed (default 1)")
    demo.add_argument(
        "--delay", type=float, default=5.0, help="seconds before the demo run starts (default 5)"
    )
    return parser


def _serve_web(settings: Settings, app: web.Application) -> None:
    async def announce(app: web.Application) -> None:
        # After every start-up context: Redis answers and the app knows its name.
        print(f"livebot: serving on http://{settings.host}:{settings.port}", file=sys.stderr)

    app.on_startup.append(announce)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "demo":
        if not settings.link_secret_raw and not settings.github_webhook_secret:
            settings = dataclasses.replace(settings, link_secret_raw=secrets.token_hex(32))

        def announce(url: str) -> None:
            print(f"livebot demo: open {url}  (the run starts in {args.delay:g} s)", flush=True)

        app = create_app(settings, contexts=(demo_context(args.speed, args.delay, announce),))
        _serve_web(settings, app)
    elif args.command == "serve":
        settings.require("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY")
        _serve_web(settings, create_app(settings, contexts=(github_context(with_workers=True),)))
    elif args.command == "web":
        settings.require("GITHUB_WEBHOOK_SECRET")
        _serve_web(settings, create_app(settings, contexts=(github_context(with_workers=False),)))
    else:
        asyncio.run(worker_main(settings))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `livebot` command."""
    args = _parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    try:
        settings = load_settings()
        _run(args, settings)
    except (SettingsError, RedisUnavailable) as exc:
        print(f"livebot: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
