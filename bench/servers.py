"""The servers a benchmark starts: `redis-server` and the server under test, as subprocesses.

They are `tests.support` server processes: the kernel stops them if the benchmark dies
(PR_SET_PDEATHSIG). Their logs stay in the temporary folder after the run.
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path
from typing import Final

from livebot.core.settings import Settings
from tests.support import SLUG, RedisServer, ServerProcess, free_port

ROOT: Final = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET: Final = "bench-webhook-secret"
BENCH_VIEWER_CAP: Final = 1_000_000


def raise_fd_limit() -> None:
    """Raise this process's open-file limit to its hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def bench_settings(redis_url: str, port: int) -> Settings:
    """The settings the server under test runs with (and the benchmark computes links with)."""
    return Settings(
        github_webhook_secret=WEBHOOK_SECRET,
        github_app_slug=SLUG,
        redis_url=redis_url,
        port=port,
        host="127.0.0.1",
        # Every viewer of a benchmark comes from loopback, by the thousand.
        max_viewers_per_address=BENCH_VIEWER_CAP,
        max_viewers_per_run=BENCH_VIEWER_CAP,
    )


def temp_folder(name: str) -> Path:
    """A new folder for a server's files and log, in the temporary folder, outliving the run."""
    return Path(tempfile.mkdtemp(prefix=f"livebot-bench-{name}-"))


def bench_redis() -> RedisServer:
    """A throw-away `redis-server` on a free port, for as many viewers as a benchmark opens."""
    return RedisServer(temp_folder("redis"), "--maxclients", "20000", "--loglevel", "warning")


def bench_server(variant: str, redis_url: str) -> ServerProcess:
    """`python -m bench._server --variant …`: livebot's app or the polling baseline."""
    port = free_port()
    command = [sys.executable, "-m", "bench._server", "--variant", variant]
    command += ["--redis-url", redis_url, "--port", str(port)]
    log_path = temp_folder(variant) / "server.log"
    return ServerProcess(variant, command, port=port, log_path=log_path, cwd=ROOT)
