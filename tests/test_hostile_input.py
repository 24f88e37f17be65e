"""What an outsider, or a compromised sender, can send: every answer a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from livebot.core.settings import Settings, SettingsError, load_settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.web.app_keys import LINK_SECRET, RUN_LOG
from tests.conftest import AppClient, WebClient
from tests.support import PUBLIC, SLUG, delivery, eventually, payload, sign

MENTION = f"@{SLUG} why does it crash?"


@pytest.fixture
async def client(web_client: WebClient, settings: Settings) -> AppClient:
    """The web app on the suite's Redis."""
    return await web_client(dataclasses.replace(settings, github_app_slug=SLUG))


async def running_run(client: AppClient) -> tuple[str, str]:
    """A run still running, and its token."""
    run_log: RunLog = client.app[RUN_LOG]
    run_id = await run_log.create(workflow="comment", repository="o/r", number=3, fields=PUBLIC)
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
    return run_id, run_token(client.app[LINK_SECRET], run_id)


async def raw_request(client: AppClient, head: bytes, body: bytes = b"") -> int:
    """Send one request byte for byte (headers aiohttp's client would refuse); its status."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("suffix", ["", "/state", "/events"])
async def test_a_token_that_is_not_ascii_is_404(client: AppClient, suffix: str) -> None:
    run_id, _ = await running_run(client)
    resp = await client.get(f"/runs/{run_id}{suffix}?token=%C3%A9")
    assert resp.status == 404


@pytest.mark.parametrize(
    "after",
    ["99999999999999999999-0", "1-18446744073709551615", "١٢٣-0", "12-٣", "1-2-3", "-1-0"],
)
async def test_a_resume_point_that_redis_would_refuse_is_400(client: AppClient, after: str) -> None:
    run_id, token = await running_run(client)
    resp = await client.get(f"/runs/{run_id}/events", params={"token": token, "after": after})
    assert resp.status == 400
    resp = await client.get(
        f"/runs/{run_id}/events", params={"token": token}, headers={"Last-Event-ID": after}
    )
    assert resp.status == 400


async def test_a_signature_that_is_not_utf8_is_401(client: AppClient) -> None:
    raw, _ = delivery("issue_comment", payload("issue_comment", "created.payload.json"))
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issue_comment\r\n"
        b"X-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: sha256=\xff\xfe\xc3(\r\n"
    )
    assert await raw_request(client, head, raw) == 401


HOSTILE_BODIES = {
    "Infinity": b'{"installation": {"id": Infinity}}',
    "NaN": b'{"installation": {"id": NaN}}',
    "-Infinity": b'{"x": -Infinity}',
    "a float out of range": b'{"x": 1e999}',
    "a 5,000-digit integer": b'{"installation": {"id": ' + b"7" * 5000 + b"}}",
    "100k-deep arrays": b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "100k-deep objects": b'{"x": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    "invalid UTF-8": b'{"x": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
async def test_signed_hostile_json_is_400(client: AppClient, name: str) -> None:
    raw, headers = delivery("issue_comment", HOSTILE_BODIES[name])
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["outcome"] == "malformed"


async def test_an_unsigned_body_is_refused_before_it_is_read(client: AppClient) -> None:
    # The body is announced but never sent: the answer comes from the headers alone.
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issue_comment\r\n"
        b"X-GitHub-Delivery: d-2\r\nContent-Length: 26214400\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head)
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"401"


async def test_a_body_that_trickles_is_cut_off(web_client: WebClient, settings: Settings) -> None:
    client = await web_client(settings, webhook_body_seconds=0.2)
    raw, headers = delivery("issue_comment", payload("issue_comment", "created.payload.json"))
    head = b"POST /webhook HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"{name}: {value}\r\n".encode() for name, value in headers.items()
    )
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(raw) + raw[:10])
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"408"


async def test_signed_mention_still_queues(client: AppClient) -> None:
    raw, headers = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=MENTION)
    )
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 202


async def test_run_pages_are_not_cached_and_name_no_server_version(client: AppClient) -> None:
    run_id, token = await running_run(client)
    policies = set()
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/state", "/runs/x?token=wrong"):
        resp = await client.get(path, params={"token": token} if "?" not in path else None)
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Server"] == "livebot"
        policies.add(resp.headers["Content-Security-Policy"])
    (csp,) = policies
    img_src = next(part for part in csp.split(";") if part.strip().startswith("img-src"))
    # Avatars only: GitHub's image proxy (any *.githubusercontent.com) fetches any URL.
    assert img_src.split()[1:] == ["'self'", "https://avatars.githubusercontent.com"]


async def test_viewers_past_the_caps_get_429_with_retry_after(
    web_client: WebClient, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, max_viewers_per_address=3, max_viewers_per_run=2)
    client = await web_client(settings)
    run_id, token = await running_run(client)
    other_id, other_token = await running_run(client)
    held = [await client.get(f"/runs/{run_id}/events", params={"token": token}) for _ in range(2)]
    assert [resp.status for resp in held] == [200, 200]
    refused = await client.get(f"/runs/{run_id}/events", params={"token": token})
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    held.append(await client.get(f"/runs/{other_id}/events", params={"token": other_token}))
    assert held[-1].status == 200
    refused = await client.get(f"/runs/{other_id}/events", params={"token": other_token})
    assert refused.status == 429
    for resp in held:
        resp.close()

    async def admitted() -> bool:
        resp = await client.get(f"/runs/{other_id}/events", params={"token": other_token})
        resp.close()
        return resp.status == 200

    # A viewer that went away gives its place back.
    await eventually(admitted, "a place freed by a viewer that left")


def test_a_short_link_secret_is_refused_at_start(tmp_path: Path) -> None:
    no_file = tmp_path / ".env"
    with pytest.raises(SettingsError) as info:
        load_settings({"LIVEBOT_LINK_SECRET": "x" * 31}, env_file=no_file)
    assert "LIVEBOT_LINK_SECRET must be at least 32 bytes" in str(info.value)
    assert "got 31 bytes" in str(info.value)
    assert "x" * 31 not in str(info.value)
    assert load_settings({"LIVEBOT_LINK_SECRET": "x" * 32}, no_file).link_secret == b"x" * 32


@pytest.mark.parametrize(
    "head",
    [
        b"GET /login/callback?state=%C3%A9&code=c HTTP/1.1\r\nCookie: livebot_oauth=\xc3\xa9\r\n",
        b"POST /logout HTTP/1.1\r\nCookie: livebot_session=s.\xc3\xa9\r\n"
        b"X-CSRF-Token: \xc3\xa9\r\nOrigin: http://127.0.0.1\r\n",
        b"GET /repos/o/r/runs HTTP/1.1\r\nCookie: livebot_session=s.\xc3\xa9\r\n",
    ],
)
async def test_secrets_that_are_not_ascii_are_refused_not_500(
    client: AppClient, head: bytes
) -> None:
    """Cookies, CSRF tokens and OAuth states are compared in constant time, which refuses
    non-ASCII text: such text is simply wrong."""
    assert 400 <= await raw_request(client, head + b"Host: 127.0.0.1\r\n") < 500


@pytest.mark.parametrize("shape", [7, True, 1.5, "issue", None, []], ids=repr)
@pytest.mark.parametrize(
    "name", ["issue", "pull_request", "comment", "repository", "sender", "installation"]
)
async def test_a_signed_delivery_whose_objects_are_not_objects_is_400(
    client: AppClient, caplog: pytest.LogCaptureFixture, name: str, shape: object
) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    data[name] = shape
    raw, headers = delivery("issue_comment", data)
    resp = await client.post("/webhook", data=raw, headers=headers)
    assert resp.status == 400, await resp.text()
    assert name in (await resp.json())["error"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_a_signed_delivery_whose_id_is_not_utf8_is_400(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    raw, _ = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=MENTION)
    )
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: issue_comment\r\n"
        b"X-GitHub-Delivery: d-\xff\xfe\r\nX-Hub-Signature-256: " + sign(raw).encode() + b"\r\n"
    )
    assert await raw_request(client, head, raw) == 400
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
