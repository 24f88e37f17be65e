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
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.links import run_url
from bot.redis_client import redis_server_binary
from tests.conftest import SLUG, WEBHOOK_SECRET, free_port
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply
from tests.processes import START_SECONDS, clean_env, github_env, livebot, wait_healthy
from tests.sse import SseEvent, answer, parse_block
from tests.test_end_to_end import ANSWER, mention_on_github

ROOT = Path(__file__).resolve().parent.parent
SITE_CONF = ROOT / "deploy" / "nginx" / "livebot.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LINK_SECRET = "deployment-link-secret"
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
def redis_aof(tmp_path: Path) -> Iterator[str]:
    """A redis-server with append-only persistence on, as compose.yaml runs it."""
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--save",
            "",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture
async def topology(
    tmp_path: Path, redis_aof: str, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> AsyncIterator[Topology]:
    """Two web processes, two workers and nginx, all started and healthy."""
    if shutil.which(NGINX) is None:
        pytest.fail("nginx is missing: apt-get install nginx (.ci/run does)", pytrace=False)
    nginx_port, web_ports = free_port(), [free_port(), free_port()]
    public_url = f"http://127.0.0.1:{nginx_port}"
    env = clean_env(
        **github_env(fake_github, tmp_path / "app.pem"),
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        GITHUB_APP_SLUG=SLUG,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.url,
        REDIS_URL=redis_aof,
        LIVEBOT_LINK_SECRET=LINK_SECRET,
        PUBLIC_URL=public_url,
        HOST="127.0.0.1",
    )
    with ExitStack() as stack:
        processes = []
        for name, port in [
            ("web-1", web_ports[0]),
            ("web-2", web_ports[1]),
            ("worker-1", 0),
            ("worker-2", 0),
        ]:
            mode = name.split("-")[0]
            log = tmp_path / f"{name}.log"
            own = {**env, "PORT": str(port), "LIVEBOT_DATA_DIR": str(tmp_path / name)}
            processes.append(
                (stack.enter_context(livebot(mode, env=own, cwd=tmp_path, log=log)), log)
            )
        conf = nginx_conf(tmp_path, nginx_port, web_ports)
        nginx = subprocess.Popen(  # noqa: ASYNC220  (as livebot() starts the others)
            [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        stack.callback(nginx.wait, 10)
        stack.callback(nginx.terminate)
        web_urls = [f"http://127.0.0.1:{port}" for port in web_ports]
        for url, (process, log) in zip(web_urls, processes, strict=False):
            await wait_healthy(url, process, log)
        await wait_healthy(public_url, nginx, tmp_path / "error.log")
        yield Topology(public_url, web_urls)


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
