"""What the benchmarks share: Redis, the server under test, SSE viewers, the producer, statistics.

Every process the benchmarks start is a child of the benchmark: `redis-server` and the web
server are subprocesses that the kernel stops if the benchmark dies (PR_SET_PDEATHSIG); the
viewer fleets and the producer are `multiprocessing` children talking over pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import aiohttp

from bot.links import run_token
from bot.redis_client import RedisUnavailable, connect, die_with_parent, redis_server_binary
from bot.run_log import RunLog
from bot.settings import Settings

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS_DIR: Final = ROOT / "bench" / "results"
WEBHOOK_SECRET: Final = "bench-webhook-secret"
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
_SPAWN = multiprocessing.get_context("spawn")


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        github_app_slug="livebot-test",
        redis_url=redis_url,
        port=port,
        host="127.0.0.1",
    )


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, such as VmRSS or VmHWM."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, of which interrupts) CPU seconds of the whole machine, summed over every core.

    Interrupt time (`irq` + `softirq`) is mostly the kernel moving loopback TCP packets: no
    process is charged for it.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, (irq + softirq) / CLK_TCK


class CpuMeter:
    """CPU used by a set of processes (and the whole machine) between `start` and `stop`."""

    def __init__(self, pids: dict[str, Sequence[int]]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._machine: tuple[float, float] = (0.0, 0.0)
        self._wall = 0.0

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}

    def start(self) -> None:
        """Take the first sample."""
        self._start = self._sample()
        self._machine = machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Per group: % of one core used since `start`; also kernel interrupts, the rest of the
        machine (other processes), and how busy the whole machine was (% of all cores)."""
        wall = time.monotonic() - self._wall
        end = self._sample()
        busy, irq = machine_busy_seconds()
        busy -= self._machine[0]
        irq -= self._machine[1]
        ours = sum(end[name] - self._start[name] for name in end)
        percent = {name: round(100 * (end[name] - self._start[name]) / wall, 1) for name in end}
        percent["irq"] = round(100 * irq / wall, 1)
        # Whatever else runs on the machine meanwhile (other test suites…) disturbs the numbers.
        percent["others"] = round(max(0.0, 100 * (busy - irq - ours) / wall), 1)
        percent["machine"] = round(100 * busy / (wall * (os.cpu_count() or 1)), 1)
        return percent


class ServerProcess:
    """A server under test in a subprocess of its own, its output in a log file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        log_path: Path,
        *,
        cwd: Path = ROOT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        """Resident memory now."""
        return proc_status_kb(self.pid, "VmRSS")

    def peak_rss_kb(self) -> int:
        """Peak resident memory so far (VmHWM)."""
        return proc_status_kb(self.pid, "VmHWM")

    async def ready(self, session: aiohttp.ClientSession) -> bool:
        """Whether /healthz answers 200."""
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(f"{self.url}/healthz") as resp:
                return resp.status == 200
        return False

    async def start(self, within: float = 30.0) -> None:
        """Start the server and wait until it is ready; fail early if it exits."""
        with self.log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"the {self.name} server exited; see {self.log_path}")
                if await self.ready(session):
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(
            f"the {self.name} server did not answer within {within:.0f} s; see {self.log_path}"
        )

    async def stop(self, grace: float = 10) -> None:
        """Terminate the server, then kill it if it does not go."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()


def temp_log(name: str, port: int) -> Path:
    """Where a server started by a benchmark logs: the temporary folder, outliving the run."""
    return Path(tempfile.gettempdir()) / f"livebot-bench-{name}-{port}.log"


class RedisServer(ServerProcess):
    """A throw-away `redis-server` on a free TCP port, without persistence."""

    def __init__(self) -> None:
        port = free_port()
        command = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        command += ["--maxclients", "20000", "--loglevel", "warning"]
        super().__init__("redis", command, port, temp_log("redis", port))

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def ready(self, session: aiohttp.ClientSession) -> bool:
        """Whether it answers (`session` is for HTTP servers)."""
        try:
            client = await connect(self.url)
        except RedisUnavailable:
            return False
        await client.aclose()
        return True


def bench_server(variant: str, redis_url: str) -> ServerProcess:
    """`python -m bench._server --variant …`: livebot's app or the polling baseline."""
    port = free_port()
    command = [sys.executable, "-m", "bench._server", "--variant", variant]
    command += ["--redis-url", redis_url, "--port", str(port)]
    return ServerProcess(variant, command, port, temp_log(variant, port))


# --- talking to child processes ----------------------------------------------------------------


class Channel:
    """Messages over a multiprocessing pipe, received by the event loop without threads."""

    _EOF: Final = object()

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.loop.remove_reader(self.conn.fileno())
            self.queue.put_nowait(self._EOF)

    async def get(self, within: float | None = None) -> Any:
        """The next message; EOFError when the other side has gone."""
        message = await asyncio.wait_for(self.queue.get(), within)
        if message is self._EOF:
            raise EOFError("the other process has gone")
        return message

    async def expect(self, kind: str, within: float | None = None) -> Any:
        """The next message, which must be `(kind, payload)`; returns the payload."""
        message = await self.get(within)
        if message[0] != kind:
            raise RuntimeError(f"expected {kind!r} from a child process, got {message!r}")
        return message[1]

    def put(self, message: Any) -> None:
        """Send a message."""
        self.conn.send(message)

    def close(self) -> None:
        """Stop listening and close the pipe."""
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self.conn.fileno())
        self.conn.close()


class Child:
    """A `multiprocessing` child (spawned: no inherited event loop) and its channel."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        parent_end, child_end = _SPAWN.Pipe()
        self.process = _SPAWN.Process(target=target, args=(child_end, *args), daemon=True)
        self.process.start()
        child_end.close()
        self.channel = Channel(parent_end)

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process.pid is not None
        return self.process.pid

    async def stop(self) -> None:
        """Close the pipe and make sure the process is gone."""
        self.channel.close()
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join)


# --- SSE viewers -------------------------------------------------------------------------------


class Viewer:
    """One SSE viewer: parses its stream incrementally and records what it received.

    Every `token` event the benchmark appends carries its publish time (`t=<time_ns>;`);
    a sample is (publish ns, receive ns), the receive time taken once per network read.
    """

    __slots__ = (
        "buffer",
        "chunks",
        "closed",
        "complete",
        "error",
        "first_chunk",
        "ids",
        "live",
        "live_after",
        "path",
        "run_id",
        "samples",
        "status",
        "transport",
    )

    def __init__(self, run_id: str, path: str) -> None:
        self.run_id = run_id
        self.path = path
        self.buffer = b""
        self.chunks = 0
        self.status = 0
        self.ids: list[bytes] = []
        self.samples: list[tuple[int, int]] = []
        self.complete = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_chunk: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live_after: int | None = None
        self.error: str | None = None
        self.transport: asyncio.BaseTransport | None = None

    def headers(self, status: int) -> None:
        """The response's status arrived."""
        self.status = status
        if status != 200:
            self.fail(f"HTTP {status}")

    def feed(self, data: bytes, now: int) -> None:
        """Body bytes of the event stream, received at `now` (time_ns)."""
        self.chunks += 1
        if not self.first_chunk.done():
            self.first_chunk.set_result(None)
        elif self.live_after is not None and self.chunks > self.live_after:
            self.live_after = None
            self.live.set_result(None)
        buffer = self.buffer + data if self.buffer else data
        if b"\r" in buffer:  # aiohttp-sse's keep-alive comments end lines with CRLF
            buffer = buffer.replace(b"\r\n", b"\n")
        *messages, self.buffer = buffer.split(b"\n\n")
        for message in messages:
            self._message(message, now)

    def _message(self, message: bytes, now: int) -> None:
        event_id = event = data = None
        for line in message.split(b"\n"):
            if line.startswith(b"id: "):
                event_id = line[4:]
            elif line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data: "):
                data = line[6:]
        if event_id is None:
            return  # retry:, keep-alive comments
        self.ids.append(event_id)
        if event == b"token" and data is not None:
            start = data.find(b'"t=')
            if start >= 0:
                self.samples.append((int(data[start + 3 : data.index(b";", start)]), now))
        elif event == b"complete":
            self.complete = True

    def expect_live(self) -> None:
        """Resolve `live` at the next read: the first one after the history."""
        if not self.live.done():
            self.live_after = self.chunks

    def fail(self, error: str) -> None:
        """The connection failed or was refused."""
        self.error = self.error or error
        self.end()

    def end(self) -> None:
        """The stream is over (ended by the server, or the connection is gone)."""
        for future in (self.first_chunk, self.live, self.closed):
            if not future.done():
                future.set_result(None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class RawSseClient(asyncio.Protocol):
    """A minimal HTTP/1.1 client for one SSE stream: a GET, then chunked body decoding.

    Cheaper than a general client by an order of magnitude per event, so that on a 2-core
    machine the load generator takes as little CPU as possible from the server under test.
    """

    def __init__(self, viewer: Viewer, host: str) -> None:
        self.viewer = viewer
        self.request = (
            f"GET {viewer.path} HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        self.head: bytes | None = b""
        self.chunked = False
        self.pending = b""
        self.need = 0
        self.crlf = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.viewer.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            self.head, data = None, head[end + 4 :]
            lines = head[:end].split(b"\r\n")
            self.chunked = any(line.lower() == b"transfer-encoding: chunked" for line in lines[1:])
            self.viewer.headers(int(lines[0].split()[1]))
            if self.viewer.status != 200:
                return  # 204 and errors: the benchmark's viewers stop there
        if self.chunked:
            data = self._dechunk(data)
        if data:
            self.viewer.feed(data, now)

    def _dechunk(self, data: bytes) -> bytes:
        buffer = self.pending + data if self.pending else data
        out: list[bytes] = []
        pos, size = 0, len(buffer)
        while pos < size:
            if self.crlf:
                skip = min(self.crlf, size - pos)
                pos += skip
                self.crlf -= skip
            elif self.need:
                take = min(self.need, size - pos)
                out.append(buffer[pos : pos + take])
                pos += take
                self.need -= take
                if not self.need:
                    self.crlf = 2
            else:
                end = buffer.find(b"\r\n", pos)
                if end < 0:
                    break
                length = int(buffer[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                if length == 0:
                    # The last chunk: the server ended the stream.
                    pos = size
                    asyncio.get_running_loop().call_soon(self.viewer.end)
                    break
                self.need = length
        self.pending = buffer[pos:]
        return b"".join(out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.viewer.status == 0:
            self.viewer.fail(f"connection lost before the headers: {exc}")
        self.viewer.end()


async def open_raw(viewer: Viewer, port: int) -> None:
    """Connect a viewer with the raw client."""
    loop = asyncio.get_running_loop()
    try:
        await loop.create_connection(
            lambda: RawSseClient(viewer, f"127.0.0.1:{port}"), "127.0.0.1", port
        )
    except OSError as exc:
        viewer.fail(f"connect: {exc}")


async def run_aiohttp(viewer: Viewer, session: aiohttp.ClientSession, port: int) -> None:
    """A viewer on aiohttp's client (costlier per event; for comparison)."""
    try:
        async with session.get(f"http://127.0.0.1:{port}{viewer.path}") as resp:
            viewer.headers(resp.status)
            if resp.status == 200:
                async for chunk in resp.content.iter_any():
                    viewer.feed(chunk, time.time_ns())
    except (aiohttp.ClientError, OSError) as exc:
        viewer.fail(f"aiohttp: {exc}")
    finally:
        viewer.end()


@dataclass(frozen=True)
class FleetSpec:
    """What one viewer process connects to."""

    port: int
    paths: tuple[tuple[str, str], ...]  # (run id, path with token)
    client: str = "raw"  # or "aiohttp"
    connect_concurrency: int = 50
    wait_live: bool = True  # report ready only once every viewer has had a live read


def fleet_main(conn: Connection, spec: FleetSpec) -> None:
    """Entry point of a viewer process."""
    raise_fd_limit()
    asyncio.run(_fleet(conn, spec))


async def _fleet(conn: Connection, spec: FleetSpec) -> None:
    channel = Channel(conn)
    viewers = [Viewer(run_id, path) for run_id, path in spec.paths]
    session = None
    if spec.client == "aiohttp":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(spec.connect_concurrency)

    async def connect_one(viewer: Viewer) -> None:
        async with gate:
            if session is None:
                await open_raw(viewer, spec.port)
            else:
                tasks.append(asyncio.create_task(run_aiohttp(viewer, session, spec.port)))
            await viewer.first_chunk

    started = time.monotonic()
    await asyncio.gather(*(connect_one(v) for v in viewers))
    connected = time.monotonic() - started
    if spec.wait_live:
        for viewer in viewers:
            viewer.expect_live()
        await asyncio.gather(*(v.live for v in viewers))
    failed = [v.error for v in viewers if v.error]
    channel.put(
        (
            "ready",
            {
                "viewers": len(viewers),
                "failed": len(failed),
                "errors": sorted(set(failed))[:5],
                "connect_seconds": connected,
            },
        )
    )
    window_start, window_end, expected, timeout = await channel.expect("finish")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(v.closed for v in viewers)), timeout)
    channel.put(("result", _fleet_result(viewers, window_start, window_end, expected)))
    for viewer in viewers:
        viewer.end()
    if session is not None:
        await session.close()
    for task in tasks:
        task.cancel()
    await channel.get()  # the parent's goodbye (or EOF)


def _fleet_result(
    viewers: list[Viewer], window_start: int, window_end: int, expected: dict[str, list[str]]
) -> dict[str, Any]:
    expected_sets = {run: {i.encode() for i in ids} for run, ids in expected.items()}
    latencies = array("q")
    lost = duplicated = unexpected = disordered = mismatched = incomplete = exact = 0
    for viewer in viewers:
        for published, received in viewer.samples:
            if window_start <= published < window_end:
                latencies.append((received - published) // 1000)
        if viewer.error:
            continue
        id_set = expected_sets[viewer.run_id]
        got = set(viewer.ids)
        missing = len(id_set - got)
        extra = len(got - id_set)
        twice = len(viewer.ids) - len(got)
        out_of_order = viewer.ids != sorted(viewer.ids, key=_id_key)
        lost += missing
        unexpected += extra
        duplicated += twice
        disordered += out_of_order
        incomplete += not viewer.complete
        mismatched += bool(missing or extra or twice or out_of_order)
        exact += viewer.complete and not (missing or extra or twice or out_of_order)
    return {
        "latencies_us": latencies.tobytes(),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "out_of_order_viewers": disordered,
        "mismatched_viewers": mismatched,
        "incomplete_viewers": incomplete,
        "exact_viewers": exact,
        "failed_viewers": sum(1 for v in viewers if v.error),
    }


def _id_key(event_id: bytes) -> tuple[int, int]:
    ms, _, seq = event_id.partition(b"-")
    return int(ms), int(seq or 0)


class Fleet:
    """Viewer processes, each holding its share of the viewers."""

    def __init__(self, specs: Iterable[FleetSpec]) -> None:
        self.children = [Child(fleet_main, spec) for spec in specs]

    @property
    def pids(self) -> list[int]:
        """The viewer processes' ids."""
        return [child.pid for child in self.children]

    async def ready(self, within: float) -> dict[str, Any]:
        """Wait until every viewer is connected, has its history and (if asked) a live read."""
        reports = await asyncio.gather(*(c.channel.expect("ready", within) for c in self.children))
        return {
            "viewers": sum(r["viewers"] for r in reports),
            "failed": sum(r["failed"] for r in reports),
            "errors": sorted({e for r in reports for e in r["errors"]})[:5],
            "connect_seconds": max(r["connect_seconds"] for r in reports),
        }

    async def finish(
        self, window: tuple[int, int], expected: dict[str, list[str]], within: float
    ) -> dict[str, Any]:
        """Wait for every stream to end; check delivery against `expected`; merge the results."""
        for child in self.children:
            child.channel.put(("finish", (*window, expected, within)))
        results = await asyncio.gather(
            *(c.channel.expect("result", within + 60) for c in self.children)
        )
        merged: dict[str, Any] = {"latencies_us": array("q")}
        for result in results:
            merged["latencies_us"].frombytes(result.pop("latencies_us"))
            for key, value in result.items():
                merged[key] = merged.get(key, 0) + value
        return merged

    async def stop(self) -> None:
        """Say goodbye and wait for the processes to end."""
        for child in self.children:
            with contextlib.suppress(OSError, ValueError):
                child.channel.put(("bye", None))
        await asyncio.gather(*(c.stop() for c in self.children))


def split_viewers(
    port: int, paths: Sequence[tuple[str, str]], processes: int, **options: Any
) -> list[FleetSpec]:
    """Deal the viewers round-robin over `processes` viewer processes."""
    return [
        FleetSpec(port=port, paths=tuple(paths[i::processes]), **options)
        for i in range(processes)
        if paths[i::processes]
    ]


# --- runs and the producer ---------------------------------------------------------------------


async def create_runs(run_log: RunLog, count: int) -> list[str]:
    """`count` running runs, each with one status event in its history."""
    run_ids = []
    for i in range(count):
        run_id = await run_log.create(workflow="bench", repository="bench/bench", number=i + 1)
        await run_log.append(run_id, "status", {"state": "running", "message": "benchmark"})
        run_ids.append(run_id)
    return run_ids


def viewer_paths(settings: Settings, run_ids: Sequence[str], viewers: int) -> list[tuple[str, str]]:
    """The event-stream paths of `viewers` viewers spread evenly over the runs."""
    paths = []
    for i in range(viewers):
        run_id = run_ids[i % len(run_ids)]
        token = run_token(settings.link_secret, run_id)
        paths.append((run_id, f"/runs/{run_id}/events?token={token}"))
    return paths


def token_text(length: int) -> str:
    """A token's text carrying its publish time, padded to `length` characters."""
    return f"t={time.time_ns()};".ljust(length, "x")


async def complete_runs(run_log: RunLog, run_ids: Iterable[str]) -> None:
    """End every run."""
    await asyncio.gather(
        *(
            run_log.append(
                run_id,
                "complete",
                {"status": "succeeded", "comment_url": None, "usage": {}},
            )
            for run_id in run_ids
        )
    )


async def expected_ids(run_log: RunLog, run_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every event id of every run: what each of its viewers must have received, once."""
    return {run_id: [e.id for e in await run_log.history(run_id)] for run_id in run_ids}


def producer_main(
    conn: Connection, redis_url: str, run_ids: list[str], rate: float, text_length: int
) -> None:
    """Entry point of the producer process: `rate` token events per second per run."""
    asyncio.run(_produce(conn, redis_url, run_ids, rate, text_length))


async def _produce(
    conn: Connection, redis_url: str, run_ids: list[str], rate: float, text_length: int
) -> None:
    channel = Channel(conn)
    # One append in flight per run at most: the pool must hold that many connections.
    redis = await connect(redis_url, max_connections=len(run_ids) + 10)
    run_log = RunLog(redis, ttl_seconds=3600)
    await redis.ping()
    channel.put(("ready", None))
    await channel.expect("start")
    loop = asyncio.get_running_loop()
    running = True
    counts = dict.fromkeys(run_ids, 0)
    late = [0.0]
    period = 1 / rate
    begin = loop.time()

    async def one_run(index: int, run_id: str) -> None:
        # Runs are staggered evenly over one period: a steady stream, not bursts.
        due = begin + period * index / len(run_ids)
        while running:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late[0] = max(late[0], -delay)
            if not running:
                break
            # One append is one event: the benchmark's rate is events per second.
            await run_log.append(run_id, "token", {"text": token_text(text_length)})
            counts[run_id] += 1
            due += period

    tasks = [asyncio.create_task(one_run(i, r)) for i, r in enumerate(run_ids)]
    stop = asyncio.create_task(channel.expect("stop"))
    done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
    running = False
    if stop not in done:
        failed = next(t for t in done if t.exception() is not None)
        channel.put(("failed", repr(failed.exception())))
        stop.cancel()
        for task in tasks:
            task.cancel()
        return
    await asyncio.gather(*tasks)
    elapsed = loop.time() - begin
    channel.put(
        (
            "stopped",
            {
                "appended": sum(counts.values()),
                "seconds": elapsed,
                "rate": sum(counts.values()) / elapsed,
                "max_late_ms": late[0] * 1000,
            },
        )
    )
    await redis.aclose()
    with contextlib.suppress(EOFError):
        await channel.get()


class Producer:
    """The producer process."""

    def __init__(self, redis_url: str, run_ids: list[str], rate: float, text_length: int) -> None:
        self.child = Child(producer_main, redis_url, run_ids, rate, text_length)

    @property
    def pid(self) -> int:
        """The producer's process id."""
        return self.child.pid

    async def start(self) -> None:
        """Start appending once the producer is connected."""
        await self.child.channel.expect("ready", 30)
        self.child.channel.put(("start", None))

    async def stop(self) -> dict[str, Any]:
        """Stop appending; what it appended."""
        self.child.channel.put(("stop", None))
        report = await self.child.channel.expect("stopped", 30)
        self.child.channel.put(("bye", None))
        await self.child.stop()
        return report


# --- statistics and output ---------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of sorted values."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(latencies_us: Iterable[int]) -> dict[str, float | None]:
    """p50/p90/p99/max of microsecond latencies, in milliseconds."""
    values = sorted(latencies_us)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v / 1000, 2)

    return {
        "count": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1] if values else None),
    }


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with aligned columns."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    cells = [list(header)] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append(" | ".join(parts))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write the results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
