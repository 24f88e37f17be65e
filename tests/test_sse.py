"""The live page's HTTP side: SSE with replay and resume, fan-out, state, page headers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import pytest

from livebot.core.metrics import SSE_SLOW_VIEWERS_CUT
from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.web.app_keys import FANOUT, LINK_SECRET, RUN_LOG
from livebot.web.live.sse import KEEPALIVE
from livebot.web.pages.shell import CONTENT_SECURITY_POLICY
from tests.conftest import AppClient, WebClient
from tests.sse import answer, read_events
from tests.support import PUBLIC

ClientFactory = Callable[..., Awaitable[AppClient]]


@pytest.fixture
async def client(web_client: WebClient, settings: Settings) -> AppClient:
    """A test client of the web app on the suite's Redis."""
    return await web_client(settings)


def links(client: AppClient, run_id: str) -> tuple[str, str, str]:
    """The page, events and state paths of a run, with its token."""
    token = run_token(client.app[LINK_SECRET], run_id)
    base = f"/runs/{run_id}"
    return f"{base}?token={token}", f"{base}/events?token={token}", f"{base}/state?token={token}"


async def finished_run(run_log: RunLog, pieces: list[str]) -> str:
    """A run that streamed `pieces` and succeeded."""
    run_id = await run_log.create(workflow="comment", repository="o/r", number=3, fields=PUBLIC)
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
    for piece in pieces:
        await run_log.append(run_id, "token", {"text": piece})
    await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})
    return run_id


async def test_finished_run_replays_whole_history(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await finished_run(run_log, ["Hel", "lo", " world"])
    _, events_url, _ = links(client, run_id)
    async with client.get(events_url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert "Content-Encoding" not in resp.headers
        events = await read_events(resp)
    assert [e.event for e in events] == ["status", "token", "token", "token", "complete"]
    assert answer(events) == "Hello world"


async def test_resume_from_every_event_id(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await finished_run(run_log, [f"{i} " for i in range(12)])
    _, events_url, _ = links(client, run_id)
    everything = [(e.id, e.event) for e in await run_log.history(run_id)]
    for position, (event_id, _) in enumerate(everything[:-1]):
        header = {"Last-Event-ID": event_id}
        async with client.get(events_url, headers=header) as resp:
            by_header = [(e.id, e.event) for e in await read_events(resp)]
        async with client.get(f"{events_url}&after={event_id}") as resp:
            by_query = [(e.id, e.event) for e in await read_events(resp)]
        assert by_header == by_query == everything[position + 1 :]


async def test_reconnect_after_complete_gets_204(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await finished_run(run_log, ["done"])
    _, events_url, _ = links(client, run_id)
    complete_id = (await run_log.history(run_id))[-1].id
    async with client.get(events_url, headers={"Last-Event-ID": complete_id}) as resp:
        assert resp.status == 204


async def test_wrong_token_and_unknown_run_get_404(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await finished_run(run_log, ["secret"])
    page, events_url, state_url = links(client, run_id)
    for path in (page, events_url, state_url):
        wrong = path.replace("token=", "token=0")
        async with client.get(wrong) as resp:
            assert resp.status == 404
    _, events_url, state_url = links(client, "f" * 32)
    for path in (events_url, state_url):
        async with client.get(path) as resp:
            assert resp.status == 404


async def test_malformed_last_event_id_is_a_clear_400(client: AppClient) -> None:
    run_id = await finished_run(client.app[RUN_LOG], ["x"])
    _, events_url, _ = links(client, run_id)
    async with client.get(events_url, headers={"Last-Event-ID": "yesterday"}) as resp:
        assert resp.status == 400
        assert "Last-Event-ID" in await resp.text()


async def test_200_concurrent_viewers_receive_exactly_the_same_text(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    _, events_url, _ = links(client, run_id)
    pieces = [f"piece-{i} " for i in range(120)]

    async def view(delay: float) -> str:
        await asyncio.sleep(delay)
        async with client.get(events_url) as resp:
            return answer(await read_events(resp))

    # Viewers join before, during and near the end of the run: each hand-over is exercised.
    viewers = [asyncio.create_task(view(i * 0.002)) for i in range(200)]
    await asyncio.sleep(0.05)
    writer = run_log.writer(run_id)
    for piece in pieces:
        writer.token(piece)
        await asyncio.sleep(0.003)
    await writer.complete("succeeded")
    texts = await asyncio.gather(*viewers)
    assert set(texts) == {"".join(pieces)}


async def test_one_reader_per_run_whatever_the_number_of_viewers(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_ids = [await run_log.create(workflow="comment", fields=PUBLIC) for _ in range(3)]
    responses = []
    for run_id in run_ids:
        for _ in range(20):
            responses.append(await client.get(links(client, run_id)[1]))
    assert set(client.app[FANOUT].feeds) == set(run_ids)
    assert sum(len(f.viewers) for f in client.app[FANOUT].feeds.values()) == 60
    for response in responses:
        response.close()
    for _ in range(100):
        if not client.app[FANOUT].feeds:
            break
        await asyncio.sleep(0.05)
    for run_id in run_ids:
        await run_log.append(run_id, "token", {"text": "wake"})
    for _ in range(100):
        if not client.app[FANOUT].feeds:
            break
        await asyncio.sleep(0.05)
    assert client.app[FANOUT].feeds == {}


async def test_slow_viewer_is_cut_off_while_others_keep_pace(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings, max_pending=4)
    run_log = client.app[RUN_LOG]
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    _, events_url, _ = links(client, run_id)
    cut_before = SSE_SLOW_VIEWERS_CUT._value.get()

    # A viewer that never reads, with the smallest receive buffer the kernel allows.
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    slow.setblocking(False)
    await asyncio.get_running_loop().sock_connect(slow, (client.host, client.port))
    slow.send(f"GET {events_url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    async def fast_view() -> str:
        async with client.get(events_url) as resp:
            return answer(await read_events(resp))

    fast = [asyncio.create_task(fast_view()) for _ in range(5)]
    await asyncio.sleep(0.2)
    big = "x" * 64 * 1024
    for _ in range(60):
        await run_log.append(run_id, "token", {"text": big})
        await asyncio.sleep(0.005)
    await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})
    texts = await asyncio.wait_for(asyncio.gather(*fast), 20)
    assert texts == [big * 60] * 5
    assert SSE_SLOW_VIEWERS_CUT._value.get() > cut_before
    # The slow viewer's connection was closed by the server: draining it ends in EOF.
    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(
            asyncio.get_running_loop().sock_recv(slow, 1 << 20), 5
        ):
            received += len(chunk)
    slow.close()
    assert received < len(big) * 60


async def test_a_quiet_stream_gets_keep_alive_comments_and_then_its_events(
    web_client: WebClient, settings: Settings
) -> None:
    client = await web_client(settings, sweep_seconds=0.05, keepalive_seconds=0.1)
    run_log = client.app[RUN_LOG]
    run_id = await run_log.create(workflow="comment", fields=PUBLIC)
    _, events_url, _ = links(client, run_id)
    async with client.get(events_url) as resp:
        assert resp.status == 200
        received = b""
        async with asyncio.timeout(20):  # a hang guard, not a timed assertion
            while received.count(KEEPALIVE) < 2:
                received += await resp.content.readany()
        assert received.startswith(b"retry: ")
        await run_log.append(run_id, "token", {"text": "still here"})
        await run_log.append(run_id, "complete", {"status": "succeeded", "usage": {}})
        assert answer(await read_events(resp)) == "still here"


async def test_state_reports_the_run(client: AppClient) -> None:
    run_log = client.app[RUN_LOG]
    run_id = await finished_run(run_log, ["Hello", " there"])
    _, _, state_url = links(client, run_id)
    async with client.get(state_url) as resp:
        state = await resp.json()
    assert state["status"] == "succeeded"
    assert state["text"] == "Hello there"
    assert (state["workflow"], state["repository"], state["number"]) == ("comment", "o/r", 3)
    assert state["finished_at"] >= state["started_at"] >= state["created_at"]


async def test_page_is_locked_down(client: AppClient) -> None:
    run_id = await finished_run(client.app[RUN_LOG], ["x"])
    page, _, _ = links(client, run_id)
    async with client.get(page) as resp:
        assert resp.status == 200
        html = await resp.text()
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Robots-Tag"] == "noindex"
    assert '<script src="http' not in html and "cdn" not in html.lower()
    assert f'"run_id": "{run_id}"' in html


async def test_healthz_answers_when_redis_does(client: AppClient) -> None:
    async with client.get("/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["redis"] == "ok"
