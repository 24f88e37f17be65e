"""compose.yaml's topology without Docker: one redis-server, two `livebot web`, two `livebot
worker`, behind a real nginx (Debian's package) running deploy/nginx/livebot.conf.

A viewer connected through nginx must receive every token, and receive them while the run is
still being written: with nginx buffering the stream, they would all arrive at the end.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from livebot.runs.links import run_url
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import SseEvent, answer, parse_block
from tests.support import (
    SLUG,
    START_SECONDS,
    WEBHOOK_SECRET,
    RedisServer,
    ServerProcess,
    clean_env,
    free_port,
    livebot_process,
)
from tests.test_check import app_env
from tests.test_end_to_end import ANSWER, mention_on_github

ROOT = Path(__file__).resolve().parent.parent
SITE_CONF = ROOT / "deploy" / "nginx" / "livebot.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LINK_SECRET = "deployment-link-secret-of-at-least-32-bytes"
UPSTREAM = re.compile(r"server web-\d+:3000")
# The compose nginx image fills this in from the container's /etc/resolv.conf.
RESOLVERS = "${NGINX_LOCAL_RESOLVERS}"
MAIN_CONF = """\
{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
"""


def nginx_conf(tmp: Path, port: int, upstreams: list[int]) -> Path:
    """The shipped site config, its upstreams and port pointed at this test's processes."""
    site = SITE_CONF.read_text()
    ports = iter(upstreams)
    site = UPSTREAM.sub(lambda _: f"server 127.0.0.1:{next(ports)}", site)
    site = site.replace(RESOLVERS, "127.0.0.1")
    if nginx_version() < (1, 27, 3):  # Debian 12's 1.22: no `resolve` (addresses here anyway)
        site = site.replace(" resolve ", " ")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    user = "user root;" if os.geteuid() == 0 else ""
    path = tmp / "nginx.conf"
    path.write_text(MAIN_CONF.format(user=user, tmp=tmp, site=site))
    return path


def nginx_version() -> tuple[int, ...]:
    """The local nginx's version (`nginx -v` writes it to stderr)."""
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in found.groups()) if found else (0, 0, 0)


@dataclass
class Topology:
    """The running processes' addresses."""

    url: str  # nginx
    web_urls: list[str]


@pytest.fixture
async def topology(
    tmp_path: Path, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> AsyncIterator[Topology]:
    """Redis (append-only, as compose.yaml runs it), two web processes, two workers and nginx."""
    if shutil.which(NGINX) is None:
        pytest.fail("nginx is missing: apt-get install nginx (.ci/run does)", pytrace=False)
    (tmp_path / "redis").mkdir()
    redis_server = RedisServer(tmp_path / "redis", "--appendonly", "yes")
    nginx_port = free_port()
    public_url = f"http://127.0.0.1:{nginx_port}"
    fake_github.hook_url = f"{public_url}/webhook"  # GitHub posts to nginx, links point at it
    env = clean_env(
        **app_env(fake_github, tmp_path / "app.pem"),
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        GITHUB_APP_SLUG=SLUG,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.url,
        REDIS_URL=redis_server.url,
        LIVEBOT_LINK_SECRET=LINK_SECRET,
        PUBLIC_URL=public_url,
    )

    def process(name: str) -> ServerProcess:
        own = {**env, "LIVEBOT_DATA_DIR": str(tmp_path / name)}
        mode = name.split("-")[0]
        return livebot_process(
            mode, port=free_port(), env=own, log_path=tmp_path / f"{name}.log", cwd=tmp_path
        )

    webs = [process("web-1"), process("web-2")]
    workers = [process("worker-1"), process("worker-2")]
    conf = nginx_conf(tmp_path, nginx_port, [web.port for web in webs])
    command = [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    nginx = ServerProcess("nginx", command, port=nginx_port, log_path=tmp_path / "nginx.log")
    started: list[ServerProcess] = []
    try:
        for server in [redis_server, *webs]:
            started.append(server)
            await server.start()
        for worker in workers:  # no HTTP to wait on: they take jobs as soon as they run
            started.append(worker)
            worker.spawn()
        started.append(nginx)
        await nginx.start()
        yield Topology(public_url, [web.url for web in webs])
    finally:
        for server in reversed(started):
            await server.stop()


async def follow(
    session: aiohttp.ClientSession, url: str, state_url: str
) -> tuple[list[SseEvent], str]:
    """A run's events through nginx, and the run's status when the first token arrived."""
    events: list[SseEvent] = []
    status_at_first_token = ""
    buffer = ""
    async with asyncio.timeout(START_SECONDS), session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async for chunk in resp.content.iter_any():
            buffer += chunk.decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                event = parse_block(block)
                if event is None:
                    continue
                events.append(event)
                if event.event == "token" and not status_at_first_token:
                    async with session.get(state_url) as state:
                        status_at_first_token = (await state.json())["status"]
                if event.event == "complete":
                    return events, status_at_first_token
    return events, status_at_first_token


async def until_created(session: aiohttp.ClientSession, state_url: str) -> None:
    """Until a worker has taken the job and created its run (the webhook only queued it)."""
    async with asyncio.timeout(START_SECONDS):
        while True:
            async with session.get(state_url) as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.02)


async def test_viewers_through_nginx_get_every_token_as_it_is_written(
    topology: Topology, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    # About 100 pieces, 40 ms apart: the run is written over several seconds.
    fake_openai.script(Reply(text=ANSWER, chunk_size=4, delay=0.04))
    _, raw, headers = mention_on_github(fake_github)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{topology.url}/webhook", data=raw, headers=headers) as resp:
            assert resp.status == 202
            run_id = (await resp.json())["run_id"]
        page = run_url(topology.url, LINK_SECRET.encode(), run_id)
        events_url = page.replace("?token=", "/events?token=")
        state_url = page.replace("?token=", "/state?token=")
        await until_created(session, state_url)
        # Two viewers: nginx sends them to different web processes (no sticky sessions).
        results = await asyncio.gather(
            follow(session, events_url, state_url), follow(session, events_url, state_url)
        )
    for events, status_at_first_token in results:
        assert answer(events) == ANSWER
        assert events[-1].event == "complete" and events[-1].data["status"] == "succeeded"
        # Streamed, not buffered: the first token came while the run was still running.
        assert status_at_first_token == "running"
        assert sum(e.event == "token" for e in events) > 1


# Static checks of the container files: no image is built here.


def instructions(path: Path) -> list[str]:
    """A Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    lines = (line.strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_image_keeps_no_anonymous_volume_and_installs_with_the_constraints() -> None:
    steps = instructions(ROOT / "Dockerfile")
    assert not [step for step in steps if step.upper().startswith("VOLUME")]
    installs = [step for step in steps if "pip install" in step]
    assert installs and all("-c /tmp/constraints.txt" in step for step in installs)
    assert "COPY constraints.txt /tmp/constraints.txt" in steps
    # Every copied source path exists (a stale COPY of a moved package breaks the build).
    for step in steps:
        if step.startswith("COPY") and "--from" not in step:
            for source in step.split()[1:-1]:
                assert (ROOT / source).exists(), step


def test_constraints_pin_every_runtime_dependency() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, line
            pins[name] = version
    project = (ROOT / "pyproject.toml").read_text()
    block = project.split("dependencies = [", 1)[1].split("]\n", 1)[0]
    for dependency in re.findall(r'^\s+"([A-Za-z0-9_.-]+)', block, re.M):
        assert dependency.lower().replace("_", "-") in pins, dependency
    assert not {"pytest", "ruff", "mypy", "playwright", "hypothesis"} & set(pins)


def test_entrypoint_hands_the_key_to_the_app_user_and_drops_root() -> None:
    steps = instructions(ROOT / "Dockerfile")
    assert not [step for step in steps if step.startswith("USER")]  # root until the entrypoint
    assert 'ENTRYPOINT ["livebot-entrypoint"]' in steps
    script = (ROOT / "deploy" / "docker" / "entrypoint.sh").read_text()
    assert os.access(ROOT / "deploy" / "docker" / "entrypoint.sh", os.X_OK)
    assert 'install -m 0600 -o "$APP_USER"' in script
    assert 'exec setpriv --reuid="$APP_USER"' in script


def test_build_context_leaves_out_settings_keys_and_environments() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".livebot/", ".venv/", ".git/"} <= ignored


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_postgres_is_behind_the_archive_profile() -> None:
    services = compose()["services"]
    assert services["postgres"]["profiles"] == ["archive"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    # `setup` is a one-off (`docker compose --profile setup run setup`), never started by `up`.
    assert services["setup"]["profiles"] == ["setup"]
    # Only these are optional; the livebot processes do not wait on them.
    for name, service in services.items():
        if name not in ("postgres", "prometheus", "setup"):
            assert "profiles" not in service, name
            assert "postgres" not in service.get("depends_on", {}), name


def test_compose_keeps_named_volumes_only_where_data_is_kept() -> None:
    stack = compose()
    assert set(stack["volumes"]) == {"redis-data", "postgres-data"}
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":/", 1)[0]  # the container path starts with /
            # A host path, or a variable whose default is one (`${X:-./path}`).
            host_path = source.startswith("./") or (source.startswith("${") and ":-./" in source)
            assert source in stack["volumes"] or host_path, (name, volume)


def test_nginx_looks_the_web_processes_up_again() -> None:
    site = SITE_CONF.read_text()
    assert re.search(r"^resolver \$\{NGINX_LOCAL_RESOLVERS\} valid=10s", site, re.M)
    servers = re.findall(r"^\s*server web-\d+:3000 (.*);$", site, re.M)
    assert len(servers) == 2 and all(args.split()[0] == "resolve" for args in servers)
    assert re.search(r"^\s*zone \w+ \d+k;", site, re.M)
    nginx = compose()["services"]["nginx"]
    assert nginx["environment"]["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"] == "1"
    template = "/etc/nginx/templates/default.conf.template:ro"
    assert any(volume.endswith(template) for volume in nginx["volumes"])
