"""`livebot` processes for tests: started as a person starts them, waited for over HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from tests.fake_github import FakeGitHub

# Seconds a process gets to answer: the machine may be busy with other suites.
START_SECONDS = 60.0


def clean_env(**settings: str) -> dict[str, str]:
    """The test's environment without any livebot setting it may carry, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "LIVEBOT_", "OPENAI_"))
        and k not in ("REDIS_URL", "PUBLIC_URL")
    }
    env.update(settings)
    return env


def github_env(fake: FakeGitHub, key_path: Path) -> dict[str, str]:
    """Settings of the fake's app."""
    key_path.write_text(fake.private_key_pem)
    return {
        "GITHUB_APP_ID": str(fake.app_id),
        "GITHUB_PRIVATE_KEY_PATH": str(key_path),
        "GITHUB_API_URL": fake.url,
    }


@contextmanager
def livebot(
    *args: str, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`livebot ARGS` running for the block, its output in `log`; SIGTERM, then kill, at the end."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "livebot.cli", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def output(log: Path) -> str:
    """What the process printed so far."""
    return log.read_text(errors="replace") if log.exists() else ""


async def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    """The first line of `log` containing `text`, once the process printed it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while loop.time() < deadline:
        for line in output(log).splitlines():
            if text in line:
                return line
        if process.poll() is not None:
            raise AssertionError(f"livebot exited: {output(log)}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {text!r} within {START_SECONDS:g} s: {output(log)}")


async def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until GET url/healthz answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while loop.time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"livebot exited: {output(log)}")
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} not healthy within {START_SECONDS:g} s: {output(log)}")
