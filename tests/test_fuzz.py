"""Fuzzing the public routes (hypothesis): whatever arrives, a 4xx or a success, never a 500 or a
logged traceback, and the server keeps serving.

Requests go byte for byte over a socket (headers aiohttp's client would refuse included) to the
real app on the suite's Redis. Hypothesis runs in a thread of its own; each request is sent from
the test's event loop, where the app lives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final
from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.runs.log import RunLog
from livebot.services import open_services
from livebot.web.app import create_app
from livebot.web.app_keys import LINK_SECRET, RUN_LOG
from livebot.web.connections import server_options
from livebot.web.live.cancel import CSRF_HEADER, csrf_token
from tests.conftest import AppClient
from tests.support import PUBLIC, SLUG, payload, sign

EXAMPLES: Final = 300
ANSWER_SECONDS: Final = 10.0
FUZZ: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENTS: Final = (
    "issue_comment",
    "issues",
    "pull_request",
    "pull_request_review_comment",
    "ping",
    "installation",
    "installation_repositories",
)
# The fields that reach a URL, a number, a name or a decision.
FIELDS: Final = (
    ("installation", "id"),
    ("comment", "id"),
    ("comment", "body"),
    ("comment", "author_association"),
    ("comment", "user", "login"),
    ("comment", "user", "type"),
    ("issue", "number"),
    ("issue", "pull_request"),
    ("repository", "full_name"),
    ("repository", "name"),
    ("repository", "owner", "login"),
    ("repository", "private"),
    ("action",),
    # Whole objects, which a number, a boolean or a float may stand in for.
    ("issue",),
    ("pull_request",),
    ("comment",),
    ("repository",),
    ("installation",),
    ("sender",),
)
# Header values: any byte a header line can carry (no CR, LF or NUL).
HEADER_VALUE: Final = st.binary(max_size=80).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")
)
JSON_VALUES: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["../../../orgs/x/y", "0", "-1", "9" * 30, "OWNER", "Bot", "@livebot-test"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)

Send = Callable[[bytes], Coroutine[Any, Any, int]]


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[AppClient]], settings: Settings
) -> AsyncIterator[AppClient]:
    """The web app of `livebot web` on the suite's Redis, with the server options it runs with."""
    settings = dataclasses.replace(settings, github_app_slug=SLUG)
    async with open_services(settings, "web") as services:
        server = TestServer(create_app(services))
        await server.start_server(**server_options())
        yield await aiohttp_client(server)


def sender(client: AppClient) -> Send:
    """Send one raw request; the status it got (0: closed without one)."""

    async def send(request: bytes) -> int:
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        try:
            writer.write(request)
            line = await asyncio.wait_for(reader.readline(), ANSWER_SECONDS)
        finally:
            writer.close()
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    return send


def raw_request(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    """One HTTP/1.1 request, its bytes as given."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: livebot", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def fuzz(
    send: Send, strategy: st.SearchStrategy[bytes], found: Sequence[bytes] = ()
) -> Callable[[], Counter[int]]:
    """A hypothesis test over `strategy`'s requests (and the `found` ones, always), to run in a
    thread; the statuses seen."""
    loop = asyncio.get_running_loop()
    statuses: Counter[int] = Counter()

    def check(request: bytes) -> None:
        status = asyncio.run_coroutine_threadsafe(send(request), loop).result(ANSWER_SECONDS * 2)
        statuses[status] += 1
        assert 100 <= status < 500, (status, request[:2000])

    for request in found:
        check = example(request=request)(check)
    fuzzed = FUZZ(given(request=strategy)(check))

    def run() -> Counter[int]:
        fuzzed()
        return statuses

    return run


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Put `value` at `path`, making the dictionaries on the way."""
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


@st.composite
def deliveries(draw: st.DrawFn) -> bytes:
    """A delivery: a real payload with hostile values, broken JSON or bytes; signed or not."""
    kind = draw(st.sampled_from(["hostile", "broken", "bytes"]))
    if kind == "hostile":
        data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?")
        # No change at all now and then: the path that queues work is fuzzed too.
        for path in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
            set_path(data, path, draw(JSON_VALUES))
        body = json.dumps(data).encode()
    elif kind == "broken":
        body = json.dumps(draw(JSON_VALUES)).encode()
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=20))
    else:
        body = draw(st.binary(max_size=300))
    signature = draw(
        st.sampled_from(["valid", "none", "random", "sha1"]).map(
            lambda how: {
                "valid": sign(body).encode(),
                "none": None,
                "random": b"sha256=" + body[:8].hex().encode(),
                "sha1": b"sha1=" + b"0" * 40,
            }[how]
        )
    )
    headers = [
        (b"X-GitHub-Event", draw(st.sampled_from(EVENTS).map(str.encode) | HEADER_VALUE)),
        (b"X-GitHub-Delivery", draw(st.uuids().map(lambda u: str(u).encode()) | HEADER_VALUE)),
        (
            b"Content-Type",
            draw(st.sampled_from([b"application/json", b"text/plain"]) | HEADER_VALUE),
        ),
    ]
    if signature is not None:
        headers.append((b"X-Hub-Signature-256", draw(st.just(signature) | HEADER_VALUE)))
    return raw_request(b"POST", b"/webhook", headers, body)


def signed(data: dict[str, Any], delivery_id: bytes = b"d-found") -> bytes:
    """A signed issue_comment delivery of `data`."""
    body = json.dumps(data).encode()
    headers = [
        (b"X-GitHub-Event", b"issue_comment"),
        (b"X-GitHub-Delivery", delivery_id),
        (b"X-Hub-Signature-256", sign(body).encode()),
    ]
    return raw_request(b"POST", b"/webhook", headers, body)


# What the fuzzing found once, tried every time.
FOUND_DELIVERIES: Final = (
    # gidgethub's router looks `action` up in a set: a list raised TypeError, a 500.
    signed({**payload("issue_comment", "created.payload.json"), "action": []}),
    # `"pull_request" in issue` on a number: a TypeError, a 500.
    signed({**payload("issue_comment", "created.payload.json"), "issue": 7}),
    # A mention whose delivery id is not UTF-8: the job could not be encoded, a 500.
    signed(payload("issue_comment", "created.payload.json", body=f"@{SLUG} why?"), b"d-\xff"),
)


async def test_the_webhook_never_fails(client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    statuses = await asyncio.to_thread(fuzz(sender(client), deliveries(), FOUND_DELIVERIES))
    print(f"webhook statuses: {dict(statuses)}")
    assert set(statuses) & {202, 200}, "no delivery was accepted: the fuzzing missed the valid path"
    await still_serving(client, caplog)


def run_requests(runs: dict[str, str], secret: bytes) -> st.SearchStrategy[bytes]:
    """Requests to the run routes: a real run or any id, any token, any resume point."""

    @st.composite
    def requests(draw: st.DrawFn) -> bytes:
        run_id = draw(st.sampled_from(sorted(runs)) | st.text(max_size=40) | st.just("a" * 32))
        token = draw(
            st.sampled_from(["right", "none", "wrong"]).map(
                lambda how: {"right": run_token(secret, run_id), "none": None, "wrong": "0" * 32}[
                    how
                ]
            )
            | st.text(max_size=40)
        )
        suffix = draw(st.sampled_from(["", "/state", "/events", "/cancel", "/cancel/x", "/"]))
        query: list[tuple[str, str]] = [] if token is None else [("token", token)]
        after = draw(
            st.none()
            | st.text(max_size=30)
            | st.from_regex(r"[0-9]{1,22}-[0-9]{1,22}", fullmatch=True)
        )
        if after is not None:
            query.append(("after", after))
        target = f"/runs/{quote(run_id, safe='')}{suffix}?{urlencode(query)}".encode()
        target += draw(
            st.binary(max_size=20).map(lambda raw: b"&" + quote_from_bytes(raw).encode())
        )
        headers = [(b"Accept", b"text/event-stream")]
        if draw(st.booleans()):
            headers.append((b"Last-Event-ID", draw(HEADER_VALUE)))
        method = b"GET"
        if suffix.startswith("/cancel"):
            method = draw(st.sampled_from([b"POST", b"GET", b"PUT"]))
            headers.append((b"Origin", draw(st.just(b"http://livebot") | HEADER_VALUE)))
            csrf = csrf_token(secret, run_id).encode() if run_id in runs else b""
            headers.append((CSRF_HEADER.encode(), draw(st.just(csrf) | HEADER_VALUE)))
        return raw_request(method, target, headers)

    return requests()


async def test_the_run_routes_never_fail(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    run_log: RunLog = client.app[RUN_LOG]
    running = await run_log.create(workflow="answer", repository="o/r", number=1, fields=PUBLIC)
    await run_log.append(running, "status", {"state": "running", "message": "Thinking"})
    await run_log.append(running, "token", {"text": "Hello"})
    finished = await run_log.create(workflow="answer", repository="o/r", number=2, fields=PUBLIC)
    await run_log.append(finished, "token", {"text": "Done"})
    await run_log.append(finished, "complete", {"status": "succeeded"})
    runs = {running: "running", finished: "finished"}
    strategy = run_requests(runs, client.app[LINK_SECRET])
    statuses = await asyncio.to_thread(fuzz(sender(client), strategy))
    print(f"run route statuses: {dict(statuses)}")
    assert 200 in statuses, "no request reached a run: the fuzzing missed the valid path"
    await still_serving(client, caplog)


async def still_serving(client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged a traceback or an error, and /healthz still answers."""
    troubles = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not troubles, [r.getMessage() for r in troubles]
    resp = await client.get("/healthz")
    assert resp.status == 200
