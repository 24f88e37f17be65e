"""POST /webhook with real payloads: signatures, validation, routing, permissions, dedupe."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from gidgethub import sansio
from redis.asyncio import Redis

from livebot.core.settings import Settings
from livebot.intake.delivery import Intake
from livebot.intake.router import router
from livebot.queue.jobs import Job
from livebot.store.keys import JOB_STREAM, range_entries
from livebot.web.body import MAX_BODY_BYTES
from livebot.web.webhook import signature_is_valid
from livebot.workflows.catalog import DEFAULT_WORKFLOW, REFUSE
from tests.conftest import AppClient, WebClient
from tests.support import (
    FIXTURES,
    ISSUE,
    OWNER,
    REPO,
    SLUG,
    delivery,
    payload,
    pull_request_payload,
)

ClientFactory = Callable[..., Awaitable[AppClient]]
MENTION = f"@{SLUG} why does it crash?"


@pytest.fixture
async def client(web_client: WebClient, settings: Settings) -> AppClient:
    """The web app, with the slug configured so that it never calls GitHub."""
    return await web_client(dataclasses.replace(settings, github_app_slug=SLUG))


async def queued_jobs(redis: Redis) -> list[Job]:
    """Every job in the queue."""
    return [
        Job.decode(fields["job"]) for _, fields in range_entries(await redis.xrange(JOB_STREAM))
    ]


async def post(client: AppClient, event: str, data: object, **kw: Any) -> ClientResponse:
    raw, headers = delivery(event, data, **kw)
    return await client.post("/webhook", data=raw, headers=headers)


def test_githubs_published_signature_vector() -> None:
    assert signature_is_valid(
        "It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )
    assert not signature_is_valid(
        "It's a Secret to Everybody",
        b"Hello, World?",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )


async def test_mention_is_queued_with_202(client: AppClient, redis_client: Redis) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    resp = await post(client, "issue_comment", data, delivery_id="d-1")
    assert resp.status == 202
    assert (await resp.json())["outcome"] == "queued"
    [job] = await queued_jobs(redis_client)
    assert (job.kind, job.repository, job.number) == (DEFAULT_WORKFLOW, f"{OWNER}/{REPO}", ISSUE)
    assert (job.installation_id, job.delivery_id) == (4242, "d-1")
    assert job.comment_id == data["comment"]["id"]
    assert job.request == "why does it crash?"
    assert len(job.run_id) == 32


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
    ],
)
async def test_missing_or_wrong_signature_is_401(
    client: AppClient, redis_client: Redis, headers: dict[str, str]
) -> None:
    raw = json.dumps(payload("issue_comment", "created.payload.json", body=MENTION)).encode()
    base = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "d-x"}
    resp = await client.post("/webhook", data=raw, headers={**base, **headers})
    assert resp.status == 401
    assert await queued_jobs(redis_client) == []


async def test_signature_by_another_secret_is_401(client: AppClient) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    resp = await post(client, "issue_comment", data, secret="not-the-secret")
    assert resp.status == 401


async def test_signature_is_checked_on_the_exact_bytes(client: AppClient) -> None:
    raw, headers = delivery(
        "issue_comment", payload("issue_comment", "created.payload.json", body=MENTION)
    )
    resp = await client.post("/webhook", data=raw + b" ", headers=headers)
    assert resp.status == 401


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
async def test_signed_body_that_is_not_a_json_object_is_400(client: AppClient, raw: bytes) -> None:
    resp = await post(client, "issue_comment", raw)
    assert resp.status == 400
    assert "error" in await resp.json()


async def test_payload_missing_what_its_event_needs_is_400(client: AppClient) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    del data["comment"]
    resp = await post(client, "issue_comment", data)
    assert resp.status == 400
    assert "comment" in (await resp.json())["error"]


async def test_mention_without_installation_is_400(client: AppClient) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    del data["installation"]
    assert (await post(client, "issue_comment", data)).status == 400


async def test_body_over_25_mib_is_413_and_25_mib_is_accepted(client: AppClient) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    raw = json.dumps(data).encode()
    padded = raw[:-1] + b', "padding": "' + b"x" * (MAX_BODY_BYTES - len(raw) - 20) + b'"}'
    assert len(padded) <= MAX_BODY_BYTES
    resp = await post(client, "issue_comment", padded)
    assert resp.status == 202
    too_big = raw[:-1] + b', "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'
    resp = await post(client, "issue_comment", too_big)
    assert resp.status == 413


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("ping", "payload.json"),
        ("installation", "created.payload.json"),
        ("installation_repositories", "added.payload.json"),
        ("issue_comment", "edited.payload.json"),
        ("issues", "labeled.payload.json"),
        ("pull_request", "labeled.payload.json"),
    ],
)
async def test_events_that_start_nothing_are_200(
    client: AppClient, redis_client: Redis, event: str, name: str
) -> None:
    data = json.loads((FIXTURES / event / name).read_text())
    if "comment" in data:
        data["comment"]["body"] = MENTION
    resp = await post(client, event, data)
    assert resp.status == 200
    assert await queued_jobs(redis_client) == []


@pytest.mark.parametrize("action", ["opened", "ready_for_review", "synchronize"])
async def test_pull_request_changes_queue_an_automatic_review(
    client: AppClient, redis_client: Redis, action: str
) -> None:
    data = pull_request_payload(action, 7, draft=action == "opened")
    resp = await post(client, "pull_request", data)
    assert resp.status == 202
    [job] = await queued_jobs(redis_client)
    assert (job.kind, job.trigger, job.number, job.draft) == (
        "review",
        action,
        7,
        action == "opened",
    )
    assert (job.repository, job.author, job.is_pull_request) == (
        f"{OWNER}/{REPO}",
        "Codertocat",
        True,
    )


async def test_pull_request_events_that_start_nothing(
    client: AppClient, redis_client: Redis
) -> None:
    by_a_bot = pull_request_payload("synchronize", 7, sender="dependabot[bot]")
    by_a_bot["sender"]["type"] = "Bot"
    assert (await post(client, "pull_request", by_a_bot)).status == 200
    bad = pull_request_payload("opened", 7)
    bad["pull_request"]["draft"] = "yes"
    resp = await post(client, "pull_request", bad)
    assert resp.status == 400
    assert "`pull_request.draft` must be true or false" in (await resp.json())["error"]
    assert await queued_jobs(redis_client) == []


async def test_redelivery_is_acknowledged_and_not_queued_twice(
    client: AppClient, redis_client: Redis
) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    first = await post(client, "issue_comment", data, delivery_id="same-delivery")
    second = await post(client, "issue_comment", data, delivery_id="same-delivery")
    assert (first.status, second.status) == (202, 202)
    assert (await second.json())["outcome"] == "duplicate"
    assert len(await queued_jobs(redis_client)) == 1


async def test_delivery_that_failed_before_queueing_can_be_redelivered(
    client: AppClient, redis_client: Redis
) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION)
    broken = dict(data)
    del broken["installation"]
    assert (await post(client, "issue_comment", broken, delivery_id="retry-me")).status == 400
    assert (await post(client, "issue_comment", data, delivery_id="retry-me")).status == 202
    assert len(await queued_jobs(redis_client)) == 1


async def test_issue_opened_with_a_mention_starts_work(
    client: AppClient, redis_client: Redis
) -> None:
    data = payload("issues", "opened.payload.json", body=f"It crashes.\n\n{MENTION}")
    assert (await post(client, "issues", data)).status == 202
    [job] = await queued_jobs(redis_client)
    assert (job.kind, job.comment_id, job.is_pull_request) == (DEFAULT_WORKFLOW, None, False)


async def test_review_comment_mention_on_a_pull_request(
    client: AppClient, redis_client: Redis
) -> None:
    data = payload("pull_request_review_comment", "created.payload.json", body=f"@{SLUG} review")
    assert (await post(client, "pull_request_review_comment", data)).status == 202
    [job] = await queued_jobs(redis_client)
    assert (job.kind, job.is_pull_request, job.comment_kind) == ("review", True, "review_comment")
    assert job.number == data["pull_request"]["number"]
    assert job.in_reply_to_id is None  # a thread's first comment: the reply answers it


async def test_a_mention_replying_in_a_review_thread_carries_the_threads_first_comment(
    client: AppClient, redis_client: Redis
) -> None:
    data = payload("pull_request_review_comment", "created.payload.json", body=f"@{SLUG} why?")
    data["comment"]["in_reply_to_id"] = 426899381  # GitHub's field on a reply in a thread
    assert (await post(client, "pull_request_review_comment", data)).status == 202
    [job] = await queued_jobs(redis_client)
    assert (job.comment_id, job.in_reply_to_id) == (data["comment"]["id"], 426899381)
    assert job.reply_data("x") == {"body": "x", "in_reply_to": 426899381}
    data["comment"]["in_reply_to_id"] = "426899381"  # not an id: refused, never sent to GitHub
    resp = await post(client, "pull_request_review_comment", data)
    assert resp.status == 400 and "in_reply_to_id" in await resp.text()


@pytest.mark.parametrize(
    ("association", "kind"),
    [
        ("OWNER", DEFAULT_WORKFLOW),
        ("MEMBER", DEFAULT_WORKFLOW),
        ("COLLABORATOR", DEFAULT_WORKFLOW),
        ("CONTRIBUTOR", REFUSE),
        ("FIRST_TIME_CONTRIBUTOR", REFUSE),
        ("NONE", REFUSE),
    ],
)
async def test_permission_matrix(
    client: AppClient, redis_client: Redis, association: str, kind: str
) -> None:
    data = payload("issue_comment", "created.payload.json", body=MENTION, association=association)
    assert (await post(client, "issue_comment", data)).status == 202
    [job] = await queued_jobs(redis_client)
    assert job.kind == kind


async def test_an_untrusted_mention_queues_a_refusal_that_keeps_the_command(
    client: AppClient, redis_client: Redis
) -> None:
    # Whether to refuse (allowed_users, one refusal per thread) is the worker's call: it reads
    # the repository's settings, which the web tier never fetches before answering GitHub.
    data = payload(
        "issue_comment", "created.payload.json", body=f"@{SLUG} review", association="NONE"
    )
    assert (await post(client, "issue_comment", data)).status == 202
    [job] = await queued_jobs(redis_client)
    assert (job.kind, job.command) == (REFUSE, "review")


@pytest.mark.parametrize(
    "body",
    [
        "no mention here",
        f"`@{SLUG} why?`",
        f"```\n@{SLUG} why?\n```",
        f"> @{SLUG} why?\n\nquoting someone",
        f"mail me at someone@{SLUG}.example",
        f"@{SLUG}-other why?",
    ],
)
async def test_text_that_does_not_call_the_app_starts_nothing(
    client: AppClient, redis_client: Redis, body: str
) -> None:
    data = payload("issue_comment", "created.payload.json", body=body)
    assert (await post(client, "issue_comment", data)).status == 200
    assert await queued_jobs(redis_client) == []


async def test_bots_and_the_app_itself_start_nothing(
    client: AppClient, redis_client: Redis
) -> None:
    own = payload("issue_comment", "created.payload.json", body=MENTION)
    own["comment"]["user"].update(login=f"{SLUG}[bot]", type="Bot")
    other_bot = payload("issue_comment", "created.payload.json", body=MENTION)
    other_bot["comment"]["user"].update(login="dependabot[bot]", type="Bot")
    other_bot["sender"].update(login="dependabot[bot]", type="Bot")
    for data in (own, other_bot):
        assert (await post(client, "issue_comment", data)).status == 200
    assert await queued_jobs(redis_client) == []


async def test_router_dispatch_from_a_fixture_fills_the_intake() -> None:
    data = payload("issue_comment", "created.payload.json", body=f"@{SLUG} help")
    event = sansio.Event(data, event="issue_comment", delivery_id="d-router")
    intake = Intake(slug=SLUG, delivery_id="d-router")
    await router.dispatch(event, intake)
    assert intake.job is not None
    assert (intake.job.kind, intake.job.author) == ("help", data["comment"]["user"]["login"])
    assert intake.job.command == "help"


@pytest.mark.parametrize(
    "fixture",
    sorted(str(path.relative_to(FIXTURES)) for path in FIXTURES.glob("*/*.json")),
)
async def test_every_real_delivery_is_accepted_never_a_500(client: AppClient, fixture: str) -> None:
    # GitHub's real payloads, as they come (some mention nobody; some lack an installation).
    event = fixture.split("/")[0]
    raw = (FIXTURES / fixture).read_bytes()
    raw_delivery, headers = delivery(event, raw)
    resp = await client.post("/webhook", data=raw_delivery, headers=headers)
    assert resp.status in (200, 202), await resp.text()


@pytest.mark.parametrize(
    ("private", "trigger", "visibility"),
    [(False, "", "public"), (True, "", "private"), (False, "opened", "private")],
)
def test_a_job_queued_before_visibility_is_public_only_when_that_was_known(
    private: bool, trigger: str, visibility: str
) -> None:
    job = Job("review", "r1", "d1", 1, f"{OWNER}/{REPO}", 7, "octocat", trigger=trigger)
    fields = {k: v for k, v in job.__dict__.items() if k != "visibility"}
    # An automatic review's "not private" was never known: such jobs wrote it regardless.
    assert Job.decode(json.dumps({**fields, "private": private})).visibility == visibility
