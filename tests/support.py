"""What tests and benchmarks share: free ports, server processes, `eventually`, signed deliveries.

A server runs in a subprocess of its own, its output in a log file, and gets SIGTERM from the
kernel if the process that started it dies (PR_SET_PDEATHSIG): no orphan after a crash.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from livebot.runs import visibility
from livebot.store.client import die_with_parent, redis_server_binary

if TYPE_CHECKING:
    from tests.fake_github import FakeGitHub
    from tests.fake_openai import FakeOpenAI

FIXTURES: Final = Path(__file__).resolve().parent / "fixtures" / "github-webhooks"
WEBHOOK_SECRET: Final = "test-webhook-secret"
OWNER, REPO, ISSUE = "octo-org", "hello-world", 1
SLUG: Final = "livebot-test"
# The fields of a run the tests make up: no delivery says who may see it, so they say so.
PUBLIC: Final = {visibility.FIELD: "public"}
# The developer's own livebot, GitHub, OpenAI and Redis settings must not reach a test server.
FOREIGN_PREFIXES: Final = ("LIVEBOT_", "GITHUB_", "OPENAI_", "REDIS_")
FOREIGN_NAMES: Final = ("HOST", "PORT", "PUBLIC_URL", "DATABASE_URL")
START_SECONDS: Final = 30.0
PROBE_SECONDS: Final = 2.0
POLL_SECONDS: Final = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(predicate: Callable[[], Any], what: str, seconds: float = 10.0) -> Any:
    """Poll until predicate() (awaited if it is a coroutine) is truthy; its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# --- server processes --------------------------------------------------------------------------


class ServerFailed(RuntimeError):
    """A server exited at start or never became healthy."""


def healthz(url: str, timeout: float = PROBE_SECONDS) -> int:
    """The status of GET <url>/healthz, or 0 when nothing answers within `timeout`."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class ServerProcess:
    """A server in a subprocess of its own, its output in a log file; it may be started again."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        port: int,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs (or before it started)."""
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the process wrote, over all its starts."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def healthy(self) -> bool:
        """Whether GET /healthz answers 200."""
        return healthz(self.url) == 200

    def spawn(self) -> None:
        """Start the process without waiting; a restart appends to the log."""
        assert not self.running(), f"{self.name} is already running"
        self.starts += 1
        # Spawned from the caller's thread: the death signal follows the thread that forks.
        with self.log_path.open("ab" if self.starts > 1 else "wb") as log_file:
            if self.starts > 1:
                log_file.write(f"===== {self.name}, start {self.starts}\n".encode())
                log_file.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def wait_healthy(self, within: float = START_SECONDS) -> None:
        """Block until `healthy()`; ServerFailed if the process exits or time runs out."""
        deadline = time.monotonic() + within
        while not self.healthy():
            if self.returncode is not None:
                raise ServerFailed(
                    f"{self.name} exited with {self.returncode} at start; "
                    f"its log ({self.log_path}):\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{self.name} not healthy after {within:g} s; "
                    f"its log ({self.log_path}):\n{self.log()}"
                )
            time.sleep(POLL_SECONDS)

    def start_blocking(self, within: float = START_SECONDS) -> None:
        """Start and wait until healthy, blocking this thread."""
        self.spawn()
        self.wait_healthy(within)

    async def start(self, within: float = START_SECONDS) -> None:
        """Start and wait until healthy; the event loop goes on meanwhile (the fakes live in it)."""
        self.spawn()
        await asyncio.to_thread(self.wait_healthy, within)

    def stop_blocking(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it is still there after `grace` seconds; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.poll()

    async def stop(self, grace: float = 10.0) -> int | None:
        """`stop_blocking` without blocking the event loop."""
        return await asyncio.to_thread(self.stop_blocking, grace)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no hand-back."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


class RedisServer(ServerProcess):
    """A throw-away `redis-server` on a loopback port: nothing saved, its files in `folder`."""

    def __init__(self, folder: Path, *extra: str, port: int | None = None) -> None:
        port = port or free_port()
        command = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(folder), *extra]
        super().__init__("redis-server", command, port=port, log_path=folder / "redis.log")

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    def healthy(self) -> bool:
        """Whether it answers PING."""
        # One attempt per probe: the wait loop is the retry.
        client = redis.Redis(
            "127.0.0.1", self.port, socket_timeout=PROBE_SECONDS, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def livebot_command() -> list[str]:
    """The installed `livebot` console script (next to this interpreter, else on PATH)."""
    script = Path(sys.executable).with_name("livebot")
    found = str(script) if script.exists() else shutil.which("livebot")
    return [found] if found else [sys.executable, "-m", "livebot.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without livebot's settings, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(FOREIGN_PREFIXES) and key not in FOREIGN_NAMES
    }
    env.update(settings)
    return env


def livebot_against_fakes(
    command: str,
    github: FakeGitHub,
    openai: FakeOpenAI,
    *,
    redis_url: str,
    folder: Path,
    link_secret: str,
    log_path: Path,
    **settings: str,
) -> ServerProcess:
    """`livebot <command>` on a free port, talking to the fakes and keeping its files in
    `folder`; `settings` add to its environment or override it."""
    port = free_port()
    env = clean_env(
        **{
            "GITHUB_APP_ID": str(github.app_id),
            "GITHUB_PRIVATE_KEY": github.private_key_pem,
            "GITHUB_API_URL": github.url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "OPENAI_API_KEY": openai.api_key,
            "OPENAI_BASE_URL": openai.url,
            "REDIS_URL": redis_url,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LIVEBOT_LINK_SECRET": link_secret,
            "LIVEBOT_DATA_DIR": str(folder / "data"),
            **settings,
        }
    )
    # The app's webhook goes where PUBLIC_URL says, as `livebot setup` registers it.
    github.hook_url = f"{env['PUBLIC_URL']}/webhook"
    return livebot_process(command, port=port, env=env, log_path=log_path, cwd=folder)


def livebot_process(
    *args: str, port: int, env: Mapping[str, str], log_path: Path, cwd: Path
) -> ServerProcess:
    """`livebot <args>` listening on 127.0.0.1:`port` (a `cwd` of its own: no stray .env)."""
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    name = "livebot " + " ".join(args)
    return ServerProcess(
        name, [*livebot_command(), *args], port=port, log_path=log_path, cwd=cwd, env=env
    )


# --- webhook deliveries, built from GitHub's real payloads and signed as GitHub signs them ------


@cache
def _fixture(event: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / event / name).read_text())
    return data


def payload(
    event: str,
    name: str,
    *,
    body: str | None = None,
    association: str = "OWNER",
    installation_id: int = 4242,
) -> dict[str, Any]:
    """A real delivery's payload, pointed at the test repository, with a chosen comment."""
    data = copy.deepcopy(_fixture(event, name))
    data["installation"] = {"id": installation_id}
    data["repository"].update(full_name=f"{OWNER}/{REPO}", name=REPO)
    data["repository"]["owner"]["login"] = OWNER
    target = data.get("comment") or data.get("issue")
    assert target is not None, f"{event}/{name} has neither a comment nor an issue"
    if body is not None:
        target["body"] = body
    target["author_association"] = association
    if "issue" in data:
        data["issue"]["number"] = ISSUE
    return data


def pull_request_payload(
    action: str,
    number: int,
    *,
    draft: bool = False,
    sender: str = "Codertocat",
    head: str = "0" * 40,
    installation_id: int = 4242,
) -> dict[str, Any]:
    """A real `pull_request` delivery's payload (GitHub's `opened` one, with this `action`),
    pointed at the test repository's pull request `number`."""
    data = copy.deepcopy(_fixture("pull_request", "opened.payload.json"))
    data.update(action=action, number=number, installation={"id": installation_id})
    data["repository"].update(full_name=f"{OWNER}/{REPO}", name=REPO)
    data["repository"]["owner"]["login"] = OWNER
    data["sender"].update(login=sender, type="User")
    data["pull_request"].update(number=number, draft=draft)
    data["pull_request"]["head"]["sha"] = head
    if action == "synchronize":
        data.update(before="1" * 40, after=head)
    return data


def sign(raw: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """The X-Hub-Signature-256 header GitHub sends for these bytes."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def delivery(
    event: str, data: Any, *, delivery_id: str | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed delivery."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(raw, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    return raw, headers
