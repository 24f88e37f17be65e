"""At start, `serve`, `web` and `worker` refuse to post links to this machine while the app's
webhook goes to another host; GitHub away is one warning line, and start-up goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livebot.ops.links import is_loopback, public_url_of
from tests.fake_github import FakeGitHub
from tests.support import (
    SLUG,
    WEBHOOK_SECRET,
    clean_env,
    free_port,
    livebot_command,
    livebot_process,
)

WEBHOOK = "https://livebot.example.com/webhook"


def env_for(fake: FakeGitHub, redis_url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """What `serve`, `web` and `worker` need, against the fake GitHub."""
    return clean_env(
        **{
            "GITHUB_APP_ID": str(fake.app_id),
            "GITHUB_PRIVATE_KEY": fake.private_key_pem,
            "GITHUB_API_URL": fake.url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GITHUB_APP_SLUG": SLUG,
            "OPENAI_API_KEY": "test-openai-key",
            "REDIS_URL": redis_url,
            "LIVEBOT_LINK_SECRET": "links-test-secret-of-at-least-32-bytes",
            "LIVEBOT_DATA_DIR": str(tmp_path / "data"),
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            **settings,
        }
    )


async def run_to_end(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """`livebot <args>` to its end (a refusal ends it at once): its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        *livebot_command(), *args, env=env, cwd=cwd, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.mark.parametrize(
    ("command", "public_url"),
    [
        ("serve", None),
        ("web", "http://127.0.0.1:3000"),
        ("worker", "http://[::1]:3000"),
    ],
)
async def test_links_to_this_machine_are_refused_while_the_webhook_is_elsewhere(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path, command: str, public_url: str | None
) -> None:
    fake_github.hook_url = WEBHOOK
    extra = {"PUBLIC_URL": public_url} if public_url else {}
    status, err = await run_to_end(
        command, env=env_for(fake_github, redis_url, tmp_path, **extra), cwd=tmp_path
    )
    assert status == 2, err
    [line] = [ln for ln in err.splitlines() if "error" in ln]
    assert line.startswith("livebot: error: PUBLIC_URL")
    assert WEBHOOK in line and "set PUBLIC_URL=https://livebot.example.com " in line
    assert fake_github.requests_to("GET", "/app/hook/config")


async def test_serve_forward_starts_with_links_to_this_machine(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    fake_github.hook_url = WEBHOOK
    env = env_for(fake_github, redis_url, tmp_path, PUBLIC_URL="http://localhost:3000")
    server = livebot_process(
        "serve",
        "--forward",
        port=int(env["PORT"]),
        env=env,
        log_path=tmp_path / "s.log",
        cwd=tmp_path,
    )
    await server.start()
    try:
        assert "--forward is for trials" in server.log()
        assert not fake_github.requests_to("GET", "/app/hook/config")
    finally:
        await server.stop()


async def test_a_public_url_elsewhere_or_a_webhook_here_starts_without_a_word(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    fake_github.hook_url = "http://127.0.0.1:3000/webhook"
    env = env_for(fake_github, redis_url, tmp_path)
    server = livebot_process(
        "web", port=int(env["PORT"]), env=env, log_path=tmp_path / "w.log", cwd=tmp_path
    )
    await server.start()
    await server.stop()
    assert fake_github.requests_to("GET", "/app/hook/config")
    assert "webhook" not in server.log().lower()


async def test_github_away_at_start_is_one_warning_and_serve_starts(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    env = env_for(
        fake_github, redis_url, tmp_path, GITHUB_API_URL=f"http://127.0.0.1:{free_port()}"
    )
    server = livebot_process(
        "serve", port=int(env["PORT"]), env=env, log_path=tmp_path / "s.log", cwd=tmp_path
    )
    await server.start()
    await server.stop()
    warned = [ln for ln in server.log().splitlines() if "webhook URL" in ln]
    assert len(warned) == 1 and "could not read the app's webhook URL" in warned[0]
    assert "Traceback" not in server.log()


def test_what_counts_as_this_machine() -> None:
    for url in (
        "http://localhost:3000",
        "http://app.localhost",
        "http://127.0.0.2",
        "http://[::1]",
    ):
        assert is_loopback(url), url
    for url in ("https://livebot.example.com", "http://10.0.0.1:3000", "http://localhost.example"):
        assert not is_loopback(url), url
    assert public_url_of("https://x.example/livebot/webhook") == "https://x.example/livebot"
    assert public_url_of("https://x.example:8443/hooks/github") == "https://x.example:8443"
