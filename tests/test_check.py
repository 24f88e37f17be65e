"""`livebot check` against the fake GitHub and OpenAI servers, a real Redis and a real app."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from livebot.core.settings import Settings, read_settings
from livebot.ops import check
from livebot.ops.check_lines import Line
from tests.conftest import WebClient
from tests.fake_github import FakeGitHub, generate_private_key_pem
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import WEBHOOK_SECRET, RedisServer, clean_env, free_port


def app_env(fake: FakeGitHub, key_path: Path) -> dict[str, str]:
    """The settings of the fake's app, its key in a file as `livebot setup` leaves it."""
    key_path.write_text(fake.private_key_pem)
    return {
        "GITHUB_APP_ID": str(fake.app_id),
        "GITHUB_PRIVATE_KEY_PATH": str(key_path),
        "GITHUB_API_URL": fake.url,
    }


def calls_the_tools(body: dict[str, Any]) -> Reply | None:
    """A tool-capable model: it calls get_weather once per city the question names."""
    if not body.get("tools"):
        return None
    question = body["messages"][-1]["content"]
    cities = [city for city in ("Paris", "Tokyo") if city in question]
    return Reply.calls(*(ToolCall("get_weather", {"city": city}) for city in cities))


def refusing(words: str, status: int = 400) -> Any:
    """A server that refuses every request holding `words` with `message` (else: capable)."""

    def respond(body: dict[str, Any]) -> Reply | None:
        if words == "tools" and body.get("tools"):
            return Reply(status=status, error_message=MESSAGES[words, status])
        if words == "stream_options" and body.get("stream_options"):
            return Reply(status=status, error_message=MESSAGES[words, status])
        return calls_the_tools(body)

    return respond


# The refusals as these servers word them (vLLM's serving_chat.py, llama.cpp's server,
# Ollama's 400, Mistral's pydantic 422).
VLLM_REFUSAL = (
    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
)
LLAMA_CPP_REFUSAL = "tools param requires --jinja flag"
OLLAMA_REFUSAL = "registry.ollama.ai/library/llama3:latest does not support tools"
MISTRAL_REFUSAL = (
    "{'detail': [{'type': 'extra_forbidden', 'loc': ['body', 'stream_options', 'include_usage'],"
    " 'msg': 'Extra inputs are not permitted', 'input': True}]}"
)
MESSAGES = {
    ("tools", 400): VLLM_REFUSAL,
    ("tools", 500): LLAMA_CPP_REFUSAL,
    ("tools", 404): OLLAMA_REFUSAL,
    ("stream_options", 422): MISTRAL_REFUSAL,
}


@pytest.fixture
async def healthy(
    tmp_path: Path,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    settings: Settings,
    web_client: WebClient,
) -> Settings:
    """Everything right: an installed app whose webhook points at a running livebot."""
    # A free port: the preflight check refuses a busy one (the default 3000 may well be).
    client = await web_client(dataclasses.replace(settings, port=free_port()))
    public_url = str(client.make_url("")).rstrip("/")
    fake_github.add_installation(7)
    fake_github.hook_url = f"{public_url}/webhook"
    fake_github.add_delivery(status_code=202)
    fake_openai.responder = calls_the_tools
    return Settings(
        github_app_id=fake_github.app_id,
        github_private_key=fake_github.private_key_pem,
        github_webhook_secret=WEBHOOK_SECRET,
        github_api_url=fake_github.url,
        openai_api_key=fake_openai.api_key,
        openai_base_url=fake_openai.url,
        public_url=public_url,
        host="127.0.0.1",
        data_dir=tmp_path / "check-data",
    )


def rows(lines: list[Line]) -> dict[str, Line]:
    return {line.name: line for line in lines}


async def test_everything_right_is_all_ticks(healthy: Settings) -> None:
    lines = await check.run(healthy)
    assert [line for line in lines if not line.ok] == []
    table = rows(lines)
    assert "1, reaching 1 repositories" in table["installations"].detail
    assert table["installed on"].detail == "octo-org (all repositories)"
    assert "embedded" in table["Redis"].detail
    assert table["model"].detail.startswith("gpt-4o-mini")
    assert table["streaming"].mark == "✓"
    assert table["tools"].detail == "the model called get_weather"
    assert table["parallel tool calls"].detail == "2 calls in one reply"
    assert table["usage in the stream"].mark == "✓"
    # The fake is no reasoning model: a –, with what would show a reasoning model's thinking.
    assert table["reasoning"].mark == "–" and "--reasoning-parser" in table["reasoning"].fix


@pytest.mark.parametrize(
    ("status", "refusal", "fix"),
    [
        (400, VLLM_REFUSAL, "--enable-auto-tool-choice --tool-call-parser"),
        (500, LLAMA_CPP_REFUSAL, "llama-server with `--jinja`"),
        (404, OLLAMA_REFUSAL, "tool-capable model"),
    ],
)
async def test_a_server_refusing_tools_is_a_cross_naming_its_setting(
    healthy: Settings, fake_openai: FakeOpenAI, status: int, refusal: str, fix: str
) -> None:
    fake_openai.responder = refusing("tools", status)
    lines = await check.run(healthy)
    table = rows(lines)
    assert table["streaming"].ok and table["usage in the stream"].mark == "✓"
    assert not table["tools"].ok
    assert refusal in table["tools"].detail, "the server's own words are shown"
    assert fix in table["tools"].fix
    assert table["parallel tool calls"].mark == "–"
    out = io.StringIO()
    check.render(lines, out)
    assert f"fix: {table['tools'].fix}" in out.getvalue()


async def test_a_model_that_never_calls_the_tool_is_a_cross(
    healthy: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.responder = None
    table = rows(await check.run(healthy))
    assert not table["tools"].ok and "without calling the tool" in table["tools"].detail
    assert "--tool-call-parser" in table["tools"].fix
    offered = [fake_openai.tools_offered(i) for i in range(len(fake_openai.requests))]
    assert ["get_weather"] in offered, "the probe offers the tool"


async def test_mistral_refusing_stream_options_is_a_dash_not_a_cross(
    healthy: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.responder = refusing("stream_options", 422)
    lines = await check.run(healthy)
    assert [line for line in lines if not line.ok] == []
    usage = rows(lines)["usage in the stream"]
    assert usage.mark == "–" and "refuses stream_options" in usage.detail
    assert "estimates" in usage.fix
    out = io.StringIO()
    check.render(lines, out)
    assert "– usage in the stream" in out.getvalue()
    # One request each: streaming, tools, parallel calls, usage (and reasoning, none seen).
    chats = [r for r in fake_openai.requests if r.get("stream")]
    assert len(chats) == 5, chats


async def test_capabilities_are_not_probed_without_the_model(
    healthy: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.models = ["llama3"]
    table = rows(await check.run(healthy))
    assert not table["model"].ok
    assert "tools" not in table and fake_openai.requests == []
    assert table["capabilities"].detail == "skipped: needs model"


async def test_each_problem_is_a_cross_with_its_fix(
    healthy: Settings, fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_github.hook_url = "https://old.example.com/webhook"
    fake_github.add_delivery(status_code=500)
    fake_github.add_delivery(status_code=0)
    fake_github.installations.clear()
    fake_openai.models = ["llama3"]
    settings = Settings(
        **{**healthy.__dict__, "redis_url": redis_url, "public_url": "http://127.0.0.1:9"}
    )
    table = rows(await check.run(settings))
    assert not table["webhook URL"].ok and "old.example.com" in table["webhook URL"].detail
    assert "http://127.0.0.1:9/webhook" in table["webhook URL"].fix
    assert not table["deliveries"].ok and "1× 500" in table["deliveries"].detail
    assert "no answer" in table["deliveries"].detail
    assert not table["installations"].ok and "/installations/new" in table["installations"].fix
    assert table["installed on"].mark == "–" and "/installations/new" in table["installed on"].fix
    assert not table["model"].ok and "llama3" in table["model"].fix
    # The suite's Redis saves nothing: runs would not survive its restart.
    assert not table["Redis"].ok and "appendonly yes" in table["Redis"].fix
    assert not table["public URL"].ok and "/healthz" in table["public URL"].detail
    assert all(line.fix for line in table.values() if line.mark == "✗")


async def test_a_key_of_another_app_is_refused_by_get_app(healthy: Settings) -> None:
    settings = Settings(**{**healthy.__dict__, "github_private_key": generate_private_key_pem()})
    table = rows(await check.run(settings))
    assert not table["GitHub App"].ok and "401" in table["GitHub App"].detail
    assert "same app" in table["GitHub App"].fix


async def test_a_server_without_a_model_list_gets_a_tiny_completion(
    healthy: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.models = None
    table = rows(await check.run(healthy))
    assert table["model"].ok
    assert [r["max_tokens"] for r in fake_openai.requests if "max_tokens" in r] == [1]


async def livebot_check(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`livebot check` as a subprocess, while this test's loop serves the fakes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livebot.cli",
        "check",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_command_prints_the_table_and_fails_on_a_cross(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    env = clean_env(
        **app_env(fake_github, tmp_path / "key.pem"),
        GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LIVEBOT_DATA_DIR=str(tmp_path / "data"),
        HOST="127.0.0.1",
    )
    status, out, err = await livebot_check(env, tmp_path)
    assert status == 1, out + err
    assert "✓ GitHub App" in out
    assert "✗ model" in out and "fix: set OPENAI_API_KEY" in out
    assert "Traceback" not in err


async def test_a_malformed_setting_is_a_cross_and_the_rest_still_runs(tmp_path: Path) -> None:
    env = clean_env(PORT="eighty", LIVEBOT_DATA_DIR=str(tmp_path / "data"))
    status, out, err = await livebot_check(env, tmp_path)
    assert status == 1, out + err
    assert out.startswith("✗ PORT ") and "got 'eighty'" in out
    assert "? HOST" in out and "skipped: needs PORT" in out
    # Checks that do not read PORT ran all the same.
    assert "✓ data folder" in out and "Redis" in out and "✗ model" in out


async def test_four_bad_values_and_a_missing_key_file_do_not_stop_the_table(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.responder = calls_the_tools
    (tmp_path / ".env").write_text("LIVEBOT_WORKERS=-1\nOPENAI_APIKEY=sk-typo\n")
    environ = {
        "GITHUB_APP_ID": "abc",
        "GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem"),
        "LIVEBOT_RUN_TTL": "a week",
        "PUBLIC_URL": "livebot.example.com",
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.url,
        "LIVEBOT_DATA_DIR": str(tmp_path / "data"),
        "HOST": "127.0.0.1",
    }
    reading = read_settings(environ, tmp_path / ".env")
    table = rows(await check.run(reading.settings, reading))
    assert "whole number above 0" in table["GITHUB_APP_ID"].detail
    assert "got 'abc'" in table["GITHUB_APP_ID"].detail
    assert "missing.pem" in table["GITHUB_PRIVATE_KEY_PATH"].detail
    assert "No such file" in table["GITHUB_PRIVATE_KEY_PATH"].detail
    assert "got 'a week'" in table["LIVEBOT_RUN_TTL"].detail
    env_file = tmp_path / ".env"
    assert table["LIVEBOT_WORKERS"].fix == f"correct or unset LIVEBOT_WORKERS in {env_file}"
    assert table["OPENAI_APIKEY"].fix == "rename it OPENAI_API_KEY"
    github = table["GitHub App"]
    assert github.mark == "?" and github.detail == (
        "skipped: needs GITHUB_APP_ID and GITHUB_PRIVATE_KEY"
    )
    assert table["webhook URL"].detail == "skipped: needs GitHub App"
    assert table["public URL"].detail == "skipped: needs PUBLIC_URL"
    # What needs none of the bad settings is checked all the same.
    assert table["data folder"].ok and table["HOST"].ok and table["model"].ok
    assert table["Redis"].ok and table["tools"].ok


async def test_github_out_of_reach_is_not_called_a_credentials_problem(healthy: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    table = rows(await check.run(dataclasses.replace(healthy, github_api_url=url)))
    github = table["GitHub App"]
    assert not github.ok and f"{url} cannot be reached" in github.detail
    assert "GITHUB_API_URL" in github.fix and "same app" not in github.fix
    assert table["installations"].detail == "skipped: needs GitHub App"


class PasswordRedis(RedisServer):
    """A redis-server that wants a password, as a managed Redis does."""

    def __init__(self, folder: Path, password: str) -> None:
        super().__init__(folder, "--requirepass", password)
        self.password = password

    def healthy(self) -> bool:
        """Whether it answers PING to the password."""
        client = redis.Redis("127.0.0.1", self.port, password=self.password, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[PasswordRedis]:
    server = PasswordRedis(tmp_path, "s3cret")
    server.start_blocking()
    yield server
    server.stop_blocking()


@pytest.mark.parametrize(
    ("userinfo", "detail"),
    [
        ("", "requires a password, and REDIS_URL has none"),
        (":wrong@", "refused the password in REDIS_URL"),
    ],
)
async def test_a_redis_wanting_a_password_says_to_put_it_in_the_url(
    password_redis: PasswordRedis, userinfo: str, detail: str
) -> None:
    where = f"127.0.0.1:{password_redis.port}"
    line = await check.redis_line(Settings(redis_url=f"redis://{userinfo}{where}/0"))
    assert not line.ok and line.detail == f"Redis at {where} {detail}"
    assert f"redis://:PASSWORD@{where}/0" in line.fix
    for raw in ("HELLO", "NOAUTH", "WRONGPASS", "username-password", "wrong"):
        assert raw not in line.detail + line.fix
    right = await check.redis_line(Settings(redis_url=f"redis://:s3cret@{where}/0"))
    assert "password" not in right.detail and right.detail.startswith(("7", "8", "6"))


async def test_an_app_without_the_checks_permission_is_a_cross_naming_it(
    healthy: Settings, fake_github: FakeGitHub
) -> None:
    del fake_github.app_permissions["checks"]
    fake_github.app_events.remove("check_run")
    table = rows(await check.run(healthy))
    assert not table["permissions"].ok
    assert "checks: write" in table["permissions"].detail
    assert "event check_run" in table["permissions"].detail
    assert "Permissions & events" in table["permissions"].fix
