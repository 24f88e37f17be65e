"""The repository's files for the answer's tools: a large repository read blob by blob (a hostile
file name reaches no other repository), and a tarball past its caps replaced by the tree listing."""

from __future__ import annotations

import dataclasses

import pytest
from redis.asyncio import Redis

from livebot.code.snapshots import MAX_TARBALL_REPO_KB, SnapshotCache, TarballLimits
from livebot.queue.jobs import JobQueue
from livebot.worker_services import WorkerServices
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import OWNER, REPO
from tests.workers import payloads, run_to_end

# A file name that, put raw into a contents URL, asked GitHub for another repository's file.
HOSTILE = "%2e%2e/%2e%2e/vault/contents/creds.txt?ref=main#"
SECRET = "vault-secret-3f9c1e"
OWN = "the hostile file's own text\n"
CODE = "def load():\n    return 42\n"


async def read_through_the_answer(
    services: WorkerServices,
    queue: JobQueue,
    redis: Redis,
    fake_openai: FakeOpenAI,
    path: str,
) -> str:
    """Run an answer whose model reads `path`; what `read_file` told the model."""
    fake_openai.script(Reply.calls(ToolCall("read_file", {"path": path})), Reply(text="Done."))
    _, events = await run_to_end(services, queue, redis, {})
    assert payloads(events, "complete")[0]["status"] == "succeeded"
    result: str
    [result] = fake_openai.tool_results(1).values()
    return result


async def test_a_hostile_file_name_in_a_large_repository_reads_its_own_blob(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    fake_github.repos[(OWNER, REPO)]["size"] = MAX_TARBALL_REPO_KB + 1
    fake_github.add_file(OWNER, REPO, HOSTILE, OWN)
    fake_github.add_repo(OWNER, "vault", private=True, files={"creds.txt": SECRET})

    result = await read_through_the_answer(
        worker_services, queue, redis_client, fake_openai, HOSTILE
    )

    assert OWN.strip() in result and SECRET not in result
    assert not fake_github.requests_to("GET", f"/repos/{OWNER}/vault*")
    # The file came by its blob sha from the tree listing, never by a path in a URL.
    assert not fake_github.requests_to("GET", "*/tarball*")
    contents = {q.path for q in fake_github.requests_to("GET", "*/contents/*")}
    assert contents <= {
        f"/repos/{OWNER}/{r}/contents/.github/livebot.yml" for r in (REPO, ".github")
    }
    assert len(fake_github.requests_to("GET", f"/repos/{OWNER}/{REPO}/git/blobs/*")) == 1


@pytest.mark.parametrize(
    "limits",
    [TarballLimits(max_bytes=100), TarballLimits(max_files=2)],
    ids=["over the byte cap", "over the file cap"],
)
async def test_a_tarball_past_its_cap_falls_back_to_the_tree_listing(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    limits: TarballLimits,
) -> None:
    fake_github.add_file(OWNER, REPO, "app/config.py", CODE)
    services = dataclasses.replace(worker_services, snapshots=SnapshotCache(limits=limits))

    result = await read_through_the_answer(
        services, queue, redis_client, fake_openai, "app/config.py"
    )

    assert "    2      return 42" in result
    assert len(fake_github.requests_to("GET", "*/legacy.tar.gz/*")) == 1
    assert len(fake_github.requests_to("GET", f"/repos/{OWNER}/{REPO}/git/trees/*")) == 1
    assert len(fake_github.requests_to("GET", f"/repos/{OWNER}/{REPO}/git/blobs/*")) == 1
