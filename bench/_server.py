"""The server under test, in its own process: `python -m bench._server --variant livebot`.

`livebot` is what `livebot web` runs (the real `create_app`, default settings, one process);
`polling` is the baseline of bench/_polling_server.py, `pubsub` the Pub/Sub-per-viewer peer of
bench/_pubsub_server.py.
"""

from __future__ import annotations

import argparse
import gc

import uvloop
from aiohttp import web

from bench.servers import bench_settings, raise_fd_limit
from livebot.cli import GC_THRESHOLDS
from livebot.core import logs


def main() -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(prog="python -m bench._server")
    parser.add_argument("--variant", choices=("livebot", "polling", "pubsub"), required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    logs.configure("INFO")
    settings = bench_settings(args.redis_url, args.port)
    if args.variant == "livebot":
        from livebot.cli import run_mode

        uvloop.run(run_mode("web", settings))
    else:
        from bench._polling_server import create_polling_app
        from bench._pubsub_server import create_pubsub_app

        create = create_polling_app if args.variant == "polling" else create_pubsub_app
        app = create(settings)
        # The peers get livebot's collector settings, and asyncio's loop: on uvloop both were
        # several times slower (Pub/Sub p99 252 ms against 57 ms), and the comparison is of designs.
        gc.set_threshold(*GC_THRESHOLDS)
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
