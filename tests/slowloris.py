"""Slow clients (slowloris) against a server under `ulimit -n 1024`, and a /healthz prober.

Half the clients send a request head that never ends, a header line at a time; the other half
send a whole webhook head (signed, so that the body is read) and then its body a byte at a time.
A client the server closes connects again a second later, as slowloris does: the pressure holds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

from tests.support import ServerProcess, clean_env, free_port, healthz, livebot_command

DESCRIPTOR_LIMIT: Final = 1024
TRICKLE_SECONDS: Final = 1.0
PROBE_SECONDS: Final = 0.2
# A probe waits this long for its answer: "it answers" is asserted, not how fast.
PATIENCE_SECONDS: Final = 60.0
BODY_BYTES: Final = 100_000
HEAD_TRICKLE: Final = b"POST /webhook HTTP/1.1\r\nHost: livebot\r\nX-GitHub-Event: ping\r\n"
BODY_TRICKLE: Final = (
    b"POST /webhook HTTP/1.1\r\nHost: livebot\r\nX-GitHub-Event: ping\r\n"
    b"X-GitHub-Delivery: slow\r\nX-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % BODY_BYTES
)


def limited_web_server(
    tmp_path: Path, redis_url: str, secret: str, slug: str, *, limit: int = DESCRIPTOR_LIMIT
) -> ServerProcess:
    """`livebot web` started under `ulimit -n <limit>` (soft and hard: it cannot raise it)."""
    port = free_port()
    env = clean_env(
        GITHUB_WEBHOOK_SECRET=secret,
        GITHUB_APP_SLUG=slug,
        REDIS_URL=redis_url,
        HOST="127.0.0.1",
        PORT=str(port),
        LIVEBOT_LOG_FORMAT="json",
    )
    shell = f'ulimit -n {limit} && exec "$@"'
    command = ["bash", "-c", shell, "bash", *livebot_command(), "web"]
    return ServerProcess(
        "livebot web", command, port=port, log_path=tmp_path / "web.log", cwd=tmp_path, env=env
    )


async def slow_client(
    host: str, port: int, head: bytes, stop: asyncio.Event, seen: Counter[str]
) -> None:
    """Trickle `head`, then a header line or a body byte a second, until `stop`; reconnect."""
    piece = b"X-Slow: 1\r\n" if head == HEAD_TRICKLE else b" "
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            seen["connect failed"] += 1
            continue
        seen["connected"] += 1
        try:
            writer.write(head)
            while not stop.is_set():
                try:
                    answer = await asyncio.wait_for(reader.read(1024), TRICKLE_SECONDS)
                except TimeoutError:
                    writer.write(piece)
                    continue
                seen["answered" if answer else "closed by server"] += 1
                break
        except OSError:
            seen["reset by server"] += 1
        finally:
            writer.close()
        # As slowloris does: what the server closed is opened again, a moment later.
        await asyncio.sleep(TRICKLE_SECONDS)


def probe_health(url: str, seconds: float) -> list[tuple[int, float]]:
    """GET /healthz on a new connection every PROBE_SECONDS for `seconds`: (status or 0,
    milliseconds) each.

    Run in a process of its own: the slow clients' event loop (and its hold on the GIL) must not
    delay it.
    """
    results: list[tuple[int, float]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        status = healthz(url, timeout=PATIENCE_SECONDS)
        results.append((status, (time.perf_counter() - began) * 1000))
        time.sleep(PROBE_SECONDS)
    return results


async def attack(
    server: ServerProcess, connections: int, seconds: float
) -> tuple[list[tuple[int, float]], Counter[str], int]:
    """`connections` slow clients for `seconds`, /healthz probed meanwhile: the probes, what the
    clients saw, and the most descriptors the server held at once."""
    stop = asyncio.Event()
    seen: Counter[str] = Counter()
    heads: Sequence[bytes] = (HEAD_TRICKLE, BODY_TRICKLE)
    clients = [
        asyncio.create_task(slow_client("127.0.0.1", server.port, heads[n % 2], stop, seen))
        for n in range(connections)
    ]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        prober = asyncio.get_running_loop().run_in_executor(pool, probe_health, server.url, seconds)
        most = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            most = max(most, open_descriptors(server.pid))
            await asyncio.sleep(0.5)
        probes = await prober
    stop.set()
    await asyncio.gather(*clients)
    return probes, seen, most


def open_descriptors(pid: int) -> int:
    """How many descriptors a process holds now (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
