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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

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
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    user = "user root;" if os.geteuid() == 0 else ""
    path = tmp / "nginx.conf"
    path.write_text(MAIN_CONF.format(user=user, tmp=tmp, site=site))
    return path


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
        results: list[Any] = await asyncio.gather(
            follow(session, events_url, state_url), follow(session, events_url, state_url)
        )
    for events, status_at_first_token in results:
        assert answer(events) == ANSWER
        assert events[-1].event == "complete" and events[-1].data["status"] == "succeeded"
        # Streamed, not buffered: the first token came while the run was still running.
        assert status_at_first_token == "running"
        assert sum(e.event == "token" for e in events) > 1
