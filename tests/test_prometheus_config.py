"""deploy/prometheus: scrapes what compose.yaml runs, alerts only on metrics Livebot exports;
workers serve /metrics on LIVEBOT_METRICS_PORT under the web tier's token rule."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from redis.asyncio import Redis

import livebot.core.metrics  # noqa: F401  (registers every metric)
from livebot.core.settings import Settings
from livebot.queue.jobs import JobQueue
from livebot.web.metrics_server import metrics_app
from tests.conftest import AppClient
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI
from tests.support import SLUG, eventually, free_port, livebot_against_fakes
from tests.workers import make_job

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
METRIC = re.compile(r"\blivebot_\w+")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROMETHEUS / name).read_text())
    return loaded


def exported_names() -> set[str]:
    """Every series name our registry can export (labelled metrics have no sample until used)."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def test_every_alert_names_metrics_that_exist() -> None:
    rules = [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == {
        "LivebotWebhooks5xx",
        "LivebotJobsDeadLettered",
        "LivebotModelErrors",
        "LivebotQueueBacklog",
    }
    exported = exported_names()
    for rule in rules:
        used = set(METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_prometheus_scrapes_every_web_process_and_worker_of_compose() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services, env = compose["services"], compose["x-livebot"]["environment"]
    expected = {
        f"{name}:{env['PORT'] if service['command'] == ['web'] else env['LIVEBOT_METRICS_PORT']}"
        for name, service in services.items()
        if service.get("command") in (["web"], ["worker"])
    }
    config = load("prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets == expected
    # Through the token: a scrape from another container is not a local request.
    assert all(job["authorization"]["credentials_file"] for job in config["scrape_configs"])
    mounts = services["prometheus"]["volumes"]
    for path in [*config["rule_files"], "/etc/prometheus/prometheus.yml"]:
        assert any(mount.split(":")[1] == path for mount in mounts), path


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_config_and_the_rules(tmp_path: Path) -> None:
    (tmp_path / "metrics-token").write_text("token\n")
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    config = (PROMETHEUS / "prometheus.yml").read_text().replace("/etc/prometheus", str(tmp_path))
    (tmp_path / "prometheus.yml").write_text(config)
    for args in (["check", "config"], ["check", "rules"]):
        target = "prometheus.yml" if args[1] == "config" else "alerts.yml"
        done = subprocess.run(
            ["promtool", *args, str(tmp_path / target)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


async def test_worker_metrics_follow_the_web_tiers_token_rule(
    aiohttp_client: Callable[..., Awaitable[AppClient]], settings: Settings
) -> None:
    local = await aiohttp_client(metrics_app(settings))
    resp = await local.get("/metrics")
    assert resp.status == 200 and "livebot_queue_oldest_job_age_seconds" in await resp.text()
    forwarded = await local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"})
    assert forwarded.status == 403
    assert (await local.get("/healthz")).status == 404
    token = "metrics-token-of-this-test"
    guarded = await aiohttp_client(metrics_app(dataclasses.replace(settings, metrics_token=token)))
    assert (await guarded.get("/metrics")).status == 403
    wrong = await guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    right = await guarded.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status == 200


async def test_the_queue_age_is_the_oldest_job_no_worker_took(redis_client: Redis) -> None:
    queue = JobQueue(redis_client)
    await queue.ensure_group()
    now_ms = int((await redis_client.time())[0] * 1000)
    assert await queue.oldest_waiting_age(now_ms) == 0.0
    await queue.enqueue(make_job())
    assert await queue.oldest_waiting_age(now_ms + 60_000) == pytest.approx(60, abs=2)
    [claimed] = await queue.take("test-consumer", 1, 100)
    # Taken (running) is not waiting.
    assert await queue.oldest_waiting_age(now_ms + 60_000) == 0.0
    await queue.ack(claimed.message_id)


async def test_livebot_worker_serves_metrics_on_its_port(
    tmp_path: Path, redis_url: str, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    port = free_port()
    worker = livebot_against_fakes(
        "worker",
        fake_github,
        fake_openai,
        redis_url=redis_url,
        folder=tmp_path,
        link_secret="x" * 32,
        log_path=tmp_path / "worker.log",
        GITHUB_APP_SLUG=SLUG,
        LIVEBOT_METRICS_PORT=str(port),
    )
    worker.spawn()

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return str(resp.read().decode())

    async def served() -> bool:
        assert worker.running(), worker.log()
        try:
            text = await asyncio.to_thread(scrape)
        except OSError:
            return False
        return "livebot_jobs_running" in text and "livebot_queue_oldest_job_age_seconds" in text

    try:
        await eventually(served, "the worker's /metrics")
    finally:
        await worker.stop()
