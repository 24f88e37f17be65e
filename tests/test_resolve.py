"""`resolve` in a worker against real Redis and the fakes: the commit, the branch, the draft PR,
follow-ups on the bot's own PR, refusals, no permission, failures and a retried job."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

from livebot.code.protected_paths import DROPPED, REFUSED
from livebot.code.working_set import GIT_REFUSED, WORKFLOWS_REFUSED
from livebot.github import comments
from livebot.queue.jobs import Job, JobQueue
from livebot.runs.log import RunLog
from livebot.store import keys
from livebot.worker_services import WorkerServices
from livebot.workflows import own_branches
from livebot.workflows.publish import BRANCH, COMMIT, PULL_NUMBER, recorded
from livebot.workflows.resolve import NO_CHANGE, NOT_OURS
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.support import ISSUE, OWNER, REPO, eventually
from tests.test_git_paths import REFUSED as GIT_VARIANTS
from tests.workers import make_job, run_status, running

BRANCH_NAME = "livebot/issue-1-why-does-it-crash"
REPOSITORY = f"{OWNER}/{REPO}"
OLD_CONFIG = "DATA = 'data'\n\ndef load():\n    return open(DATA + '/settings.toml')\n"
NEW_CONFIG = (
    "import os\n\nDATA = 'data'\n\ndef load():\n    os.makedirs(DATA, exist_ok=True)\n"
    "    return open(DATA + '/settings.toml')\n"
)
TEST_FILE = "def test_load():\n    assert True\n"
SUMMARY = "`load()` now creates the data folder before reading from it."


def seed(fake: FakeGitHub) -> str:
    """The repository's code; the default branch's head."""
    return fake.push(
        OWNER, REPO, "main", {"app/config.py": OLD_CONFIG, "old.py": "x = 1\n"}, "Add the app"
    )


def fix_script(title: str = "Create the data folder before reading it") -> list[Reply]:
    """A model that reads, plans, writes two files, deletes one and finishes."""
    return [
        Reply.calls(ToolCall("read_file", {"path": "app/config.py"}), text="Plan:\n- mkdir\n"),
        Reply.calls(
            ToolCall("write_file", {"path": "app/config.py", "content": NEW_CONFIG}),
            ToolCall("write_file", {"path": "tests/test_config.py", "content": TEST_FILE}),
            ToolCall("delete_file", {"path": "old.py"}),
        ),
        Reply.calls(ToolCall("finish", {"title": title, "summary": SUMMARY})),
    ]


async def run_job(
    services: WorkerServices, queue: JobQueue, redis: Redis, job: Job, *statuses: str
) -> None:
    """Queue the job and let a worker pool run it to one of `statuses`."""
    await queue.enqueue(job)
    async with running(services, redis):
        await eventually(
            run_status(services.run_log, job.run_id, *statuses),
            f"the run to be {statuses}",
            seconds=30,
        )


async def assert_not_ours(
    services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
    pr: dict[str, Any],
    label: str,
) -> None:
    """`resolve` on `pr` pushes nothing, asks no model, and says the branch is not its own."""
    job = make_job("resolve", number=pr["number"], is_pull_request=True)
    await run_job(services, queue, redis_client, job, "succeeded")
    assert fake_openai.requests == []
    assert not fake_github.requests_to("POST", "/repos/*/git/*")
    [comment] = fake_github.comments_on(OWNER, REPO, pr["number"])
    assert comment["body"].startswith(NOT_OURS.format(label=label, command="resolve"))


async def recorded_branches(redis: Redis) -> set[str]:
    """The branches recorded as made by Livebot in the test repository."""
    record = cast(dict[str, str], await redis.hgetall(keys.own_branches(REPOSITORY)))
    return {name for name, value in record.items() if value.startswith(own_branches.MADE)}


async def results(run_log: RunLog, run_id: str) -> list[dict[str, Any]]:
    """The data of every tool_result event of the run."""
    return [e.payload() for e in await run_log.history(run_id) if e.event == "tool_result"]


def bot_pulls(fake: FakeGitHub) -> list[dict[str, Any]]:
    """The pull requests the app opened."""
    return [
        fake._pull_json(o, r, n)
        for (o, r, n), pr in fake.pulls.items()
        if pr["issue"]["user"]["login"] == fake.bot_login
    ]


async def test_an_issue_becomes_one_commit_on_a_new_branch_and_one_draft_pr(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    fake_openai.script(*fix_script())
    job = make_job("resolve", request="")
    await run_job(worker_services, queue, redis_client, job, "succeeded")

    assert fake_github.branches_of(OWNER, REPO) == {
        "main": head,
        BRANCH_NAME: fake_github.head_of(OWNER, REPO, BRANCH_NAME),
    }
    new = fake_github.head_of(OWNER, REPO, BRANCH_NAME) or ""
    assert fake_github.git.commits[new].parents == [head]
    assert fake_github.tree_of(OWNER, REPO, BRANCH_NAME) == {
        "README.md": "# hello-world\n",
        "app/config.py": NEW_CONFIG,
        "tests/test_config.py": TEST_FILE,
    }
    assert fake_github.tree_of(OWNER, REPO, "main")["old.py"] == "x = 1\n"
    # Inline tree content: one tree, one commit, one ref; never a write to the default branch.
    assert fake_github.route_counts["POST /repos/{owner}/{repo}/git/trees"] == 1
    assert fake_github.route_counts["POST /repos/{owner}/{repo}/git/commits"] == 1
    assert not fake_github.requests_to("PATCH", "/repos/*/git/refs/*")

    [pull] = bot_pulls(fake_github)
    assert pull["draft"] is True
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (BRANCH_NAME, "main")
    assert pull["title"] == "Create the data folder before reading it"
    body = pull["body"]
    assert body.startswith(f"Fixes #{ISSUE}\n") and SUMMARY in body
    assert "- `app/config.py` (modified, +3 \u22120)" in body
    assert "- `old.py` (deleted, +0 \u22121)" in body
    assert "did not run the code or its tests" in body
    assert f"/runs/{job.run_id}?token=" in body

    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith(
        f"Opened draft pull request #{pull['number']}: "
        f"[Create the data folder before reading it]({pull['html_url']}) (3 files changed)."
    )
    assert comments.marker(job.run_id) in comment["body"]

    seen = await results(worker_services.run_log, job.run_id)
    writes = [r for r in seen if r["name"] in ("write_file", "delete_file")]
    assert writes[0] == {
        "name": "write_file",
        "summary": "app/config.py: +3 \u22120",
        "path": "app/config.py",
        "additions": 3,
        "deletions": 0,
    }
    assert writes[2]["summary"] == "old.py: +0 \u22121"
    finish = seen[-1]
    assert finish["name"] == "finish" and finish["pull_request_url"] == pull["html_url"]
    assert [f["path"] for f in finish["files"]] == [
        "app/config.py",
        "old.py",
        "tests/test_config.py",
    ]
    assert finish["files"][1] == {
        "path": "old.py",
        "status": "deleted",
        "additions": 0,
        "deletions": 1,
    }
    assert "diff --git a/app/config.py b/app/config.py\n" in finish["diff"]
    assert "+    os.makedirs(DATA, exist_ok=True)\n" in finish["diff"]
    assert "--- /dev/null\n+++ b/tests/test_config.py\n" in finish["diff"]
    meta = await worker_services.run_log.meta(job.run_id) or {}
    assert (meta[BRANCH], meta[COMMIT], meta[PULL_NUMBER]) == (
        BRANCH_NAME,
        new,
        str(pull["number"]),
    )


async def test_a_taken_branch_name_gets_a_suffix(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    someone = fake_github.push(OWNER, REPO, BRANCH_NAME, {"other.txt": "mine\n"}, parent=head)
    fake_openai.script(*fix_script())
    await run_job(worker_services, queue, redis_client, make_job("resolve"), "succeeded")
    branches = fake_github.branches_of(OWNER, REPO)
    assert branches[BRANCH_NAME] == someone
    assert set(branches) == {"main", BRANCH_NAME, BRANCH_NAME + "-2"}
    [pull] = bot_pulls(fake_github)
    assert pull["head"]["ref"] == BRANCH_NAME + "-2"
    # The name was claimed, found taken by a person, and given back: only ours is recorded.
    assert await recorded_branches(redis_client) == {BRANCH_NAME + "-2"}


async def test_a_follow_up_on_the_bots_pr_adds_one_commit_to_its_branch(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    first = fake_github.push(OWNER, REPO, BRANCH_NAME, {"app/config.py": NEW_CONFIG}, parent=head)
    await own_branches.made(redis_client, REPOSITORY, BRANCH_NAME, "an-earlier-run")
    pr = fake_github.add_pr(OWNER, REPO, BRANCH_NAME, user=fake_github.bot_login, draft=True)
    fake_openai.script(
        Reply.calls(ToolCall("write_file", {"path": "app/empty.py", "content": "EMPTY = ''\n"})),
        Reply.calls(ToolCall("finish", {"title": "Handle the empty file", "summary": "Also."})),
    )
    job = make_job("resolve", number=pr["number"], is_pull_request=True, request="also empty")
    await run_job(worker_services, queue, redis_client, job, "succeeded")

    second = fake_github.head_of(OWNER, REPO, BRANCH_NAME) or ""
    assert fake_github.git.commits[second].parents == [first]
    assert fake_github.head_of(OWNER, REPO) == head
    assert fake_github.tree_of(OWNER, REPO, BRANCH_NAME) == {
        "README.md": "# hello-world\n",
        "app/config.py": NEW_CONFIG,
        "app/empty.py": "EMPTY = ''\n",
        "old.py": "x = 1\n",
    }
    assert not fake_github.requests_to("POST", "/repos/*/git/refs")
    assert not fake_github.requests_to("POST", "/repos/*/pulls")
    [patch] = fake_github.requests_to("PATCH", f"/repos/*/git/refs/heads/{BRANCH_NAME}")
    assert patch.json == {"sha": second, "force": False}
    [comment] = fake_github.comments_on(OWNER, REPO, pr["number"])
    assert comment["body"].startswith(f"Pushed [`{second[:7]}`]({pr['html_url']}/commits/{second})")
    # The model read the PR's head, not the default branch.
    assert f"commit {first}" in fake_openai.requests[0]["messages"][0]["content"]


async def test_resolve_on_someone_elses_pr_never_pushes(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    theirs = fake_github.push(OWNER, REPO, "feature", {"a.py": "a = 1\n"}, parent=head)
    pr = fake_github.add_pr(OWNER, REPO, "feature", user="octocat")
    await assert_not_ours(
        worker_services, queue, redis_client, fake_github, fake_openai, pr, f"{OWNER}:feature"
    )
    assert fake_github.branches_of(OWNER, REPO) == {"main": head, "feature": theirs}


async def test_a_livebot_branch_of_a_fork_is_not_ours(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    seed(fake_github)
    fake_github.add_fork(OWNER, REPO, "mallory")
    fake_github.push("mallory", REPO, BRANCH_NAME, {"a.py": "a = 1\n"})
    pr = fake_github.add_pr(OWNER, REPO, BRANCH_NAME, user="mallory", head_owner="mallory")
    await assert_not_ours(
        worker_services, queue, redis_client, fake_github, fake_openai, pr, f"mallory:{BRANCH_NAME}"
    )


async def test_without_contents_write_the_change_is_posted_as_a_patch(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    fake_github.contents_write = False
    fake_openai.script(*fix_script())
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    assert bot_pulls(fake_github) == []
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    body = comment["body"]
    assert body.startswith("Plan:\n- mkdir\n")
    assert "contents: write" in body and "403" in body
    assert "```diff\ndiff --git a/app/config.py b/app/config.py\n" in body
    assert "+    os.makedirs(DATA, exist_ok=True)\n" in body
    assert "deleted file mode 100644\n" in body


async def test_a_pr_that_cannot_be_opened_leaves_no_branch(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    fake_github.fail_next("POST", "/repos/*/pulls", status=422)
    fake_openai.script(*fix_script())
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "failed")
    assert fake_github.requests_to("POST", "/repos/*/git/refs")
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert "could not open the pull request" in comment["body"]
    assert f"the branch `{BRANCH_NAME}` was deleted, nothing is left behind" in comment["body"]


async def test_a_retried_job_publishes_the_recorded_commit_without_a_second_branch(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    """A worker died after creating the branch: the next one opens the PR, makes nothing else."""
    seed(fake_github)
    fake_github.stall_next("POST", "/repos/*/pulls", seconds=30)
    fake_openai.script(*fix_script())
    job = make_job("resolve")
    await queue.enqueue(job)
    async with running(worker_services, redis_client):
        await eventually(
            lambda: fake_github.head_of(OWNER, REPO, BRANCH_NAME), "the branch to be created"
        )
        await eventually(lambda: fake_github.requests_to("POST", "/repos/*/pulls"), "the PR post")
    # The pool stopped mid-publish (as a crash would): the job was handed back unfinished.
    made = recorded(await worker_services.run_log.meta(job.run_id) or {})
    assert made is not None
    async with running(worker_services, redis_client):
        await eventually(
            run_status(worker_services.run_log, job.run_id, "succeeded"), "the run to succeed"
        )
    assert set(fake_github.branches_of(OWNER, REPO)) == {"main", BRANCH_NAME}
    assert fake_github.head_of(OWNER, REPO, BRANCH_NAME) == made[1]
    assert fake_github.route_counts["POST /repos/{owner}/{repo}/git/commits"] == 1
    assert len(bot_pulls(fake_github)) == 1
    assert len(fake_openai.requests) == 3  # the model was not asked again


async def test_bad_writes_are_refused_to_the_model_and_the_run_ends_cleanly(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    many = [ToolCall("write_file", {"path": f"gen/{n}.txt", "content": "x\n"}) for n in range(30)]
    calls = [
        ToolCall("write_file", {"path": "../x", "content": "escape\n"}),
        ToolCall("write_file", {"path": ".github/workflows/ci.yml", "content": "on: push\n"}),
        ToolCall("delete_file", {"path": "/etc/passwd"}),
        ToolCall("write_file", {"path": "blob.bin", "content": "\0\1\2"}),
        *many,
    ]
    fake_openai.script(
        Reply.calls(*calls),
        Reply(text="I cannot make this change within the limits."),
    )
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    seen = fake_openai.tool_results(1)
    answers = [seen[call.id] for call in calls]
    assert answers[0] == "error: `../x` leaves the repository (`..` is not allowed)"
    assert answers[1] == "error: " + WORKFLOWS_REFUSED.format(path=".github/workflows/ci.yml")
    assert answers[2].startswith("error: `/etc/passwd` is absolute")
    assert answers[3] == "error: `blob.bin`: binary content cannot be written; only text files"
    assert answers[4:24] == [f"gen/{n}.txt: +1 \u22120" for n in range(20)]
    assert all(
        a.startswith("error: this would change 21 files; this repository allows at most 20")
        for a in answers[24:]
    )
    # No finish: nothing is committed, and the run ends with the model's words.
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    assert not fake_github.requests_to("POST", "/repos/*/git/*")
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert comment["body"].startswith("I cannot make this change within the limits." + NO_CHANGE)


async def test_the_branch_a_run_creates_is_recorded_and_takes_its_follow_ups(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    seed(fake_github)
    fake_openai.script(*fix_script())
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    # Without expiry, under the repository's own hash tag, naming the run that made it.
    key = keys.own_branches(REPOSITORY)
    assert "{branches:" in key
    assert await redis_client.hgetall(key) == {BRANCH_NAME: own_branches.MADE + job.run_id}
    assert await redis_client.ttl(key) == -1

    [pull] = bot_pulls(fake_github)
    first = fake_github.head_of(OWNER, REPO, BRANCH_NAME) or ""
    fake_openai.script(
        Reply.calls(ToolCall("write_file", {"path": "app/empty.py", "content": "EMPTY = ''\n"})),
        Reply.calls(ToolCall("finish", {"title": "Handle the empty file", "summary": "Also."})),
    )
    follow = make_job("resolve", number=pull["number"], is_pull_request=True, request="more")
    await run_job(worker_services, queue, redis_client, follow, "succeeded")
    second = fake_github.head_of(OWNER, REPO, BRANCH_NAME) or ""
    assert fake_github.git.commits[second].parents == [first]
    assert await recorded_branches(redis_client) == {BRANCH_NAME}


async def test_a_livebot_branch_a_person_created_is_not_pushed_to(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    theirs = fake_github.push(OWNER, REPO, BRANCH_NAME, {"a.py": "a = 1\n"}, parent=head)
    # Even a pull request the app's account opened: the name and the author prove nothing.
    pr = fake_github.add_pr(OWNER, REPO, BRANCH_NAME, user=fake_github.bot_login, draft=True)
    await assert_not_ours(
        worker_services, queue, redis_client, fake_github, fake_openai, pr, f"{OWNER}:{BRANCH_NAME}"
    )
    assert fake_github.branches_of(OWNER, REPO) == {"main": head, BRANCH_NAME: theirs}


async def test_a_name_another_run_claimed_is_left_to_it_and_its_late_release_removes_nothing(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    """Another run's attempt claimed the name, then paused past its lease before creating it."""
    seed(fake_github)
    assert await own_branches.claim(redis_client, REPOSITORY, BRANCH_NAME, "other-run", 1)
    fake_openai.script(*fix_script())
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    [pull] = bot_pulls(fake_github)
    assert pull["head"]["ref"] == BRANCH_NAME + "-2"
    assert BRANCH_NAME not in fake_github.branches_of(OWNER, REPO)
    key = keys.own_branches(REPOSITORY)
    assert await redis_client.hget(key, BRANCH_NAME) == own_branches.PENDING + "other-run:1"
    # The paused attempt wakes and gives back names it holds, and only those: ours stays.
    await own_branches.release(redis_client, REPOSITORY, BRANCH_NAME + "-2", "other-run", 1)
    await own_branches.release(redis_client, REPOSITORY, BRANCH_NAME, "other-run", 2)
    assert await recorded_branches(redis_client) == {BRANCH_NAME + "-2"}
    assert await redis_client.hget(key, BRANCH_NAME) == own_branches.PENDING + "other-run:1"
    await own_branches.release(redis_client, REPOSITORY, BRANCH_NAME, "other-run", 1)
    assert await redis_client.hget(key, BRANCH_NAME) is None
    # A claim never became a branch Livebot made: a follow-up there would be refused.
    assert not await own_branches.is_own(redis_client, REPOSITORY, BRANCH_NAME)


async def test_two_runs_racing_for_one_name_each_record_their_own_branch(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    seed(fake_github)
    # Two requests on one issue want the same name; each model writes its own file.
    fake_openai.responder = lambda body: _racer_reply(body)
    jobs = [make_job("resolve", request=f"racer {n}") for n in (1, 2)]
    for job in jobs:
        await queue.enqueue(job)
    async with running(worker_services, redis_client):
        for job in jobs:
            await eventually(
                run_status(worker_services.run_log, job.run_id, "succeeded"), "both runs"
            )
    pulls = bot_pulls(fake_github)
    heads = {p["head"]["ref"] for p in pulls}
    assert heads == {BRANCH_NAME, BRANCH_NAME + "-2"}
    assert await recorded_branches(redis_client) == heads
    record = await redis_client.hgetall(keys.own_branches(REPOSITORY))
    assert {record[name] for name in heads} == {own_branches.MADE + j.run_id for j in jobs}


def _racer_reply(body: dict[str, Any]) -> Reply:
    """A model that writes `racer<n>.txt` for the request naming racer n, then finishes."""
    messages = body["messages"]
    racer = "1" if "racer 1" in str(messages[1]["content"]) else "2"
    if not any(m.get("role") == "tool" for m in messages):
        path = f"racer{racer}.txt"
        return Reply.calls(ToolCall("write_file", {"path": path, "content": racer + "\n"}))
    return Reply.calls(ToolCall("finish", {"title": f"Racer {racer}", "summary": "Racing."}))


async def test_files_ci_runs_are_refused_to_the_model_by_default(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    seed(fake_github)
    protected = {
        "Makefile": "Makefile",
        "sub/makefile": "Makefile",
        "MAKEFILE.": "Makefile",
        "conftest.py": "conftest.py",
        "tests/conftest.py": "conftest.py",
        "tests/Conftest\u200c.py": "conftest.py",
        ".github/actions/setup/action.yml": ".github/actions/**",
        "tools/action.yaml": "action.yaml",
        ".pre-commit-config.yaml": ".pre-commit-config.yaml",
        "web/package.json": "package.json",
        "tox.ini": "tox.ini",
        "noxfile.py": "noxfile.py",
        "setup.py": "setup.py",
        ".gitlab-ci.yml": ".gitlab-ci.yml",
        "Dockerfile": "Dockerfile",
    }
    calls = [ToolCall("write_file", {"path": p, "content": "x\n"}) for p in protected]
    calls.append(ToolCall("delete_file", {"path": "app/conftest.py"}))
    fake_openai.script(
        Reply.calls(*calls),
        Reply.calls(ToolCall("write_file", {"path": "docs/ci.md", "content": "Use make.\n"})),
        Reply.calls(ToolCall("finish", {"title": "Document CI", "summary": "Docs only."})),
    )
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    seen = fake_openai.tool_results(1)
    for call, (path, glob) in zip(calls, protected.items(), strict=False):
        assert seen[call.id] == "error: " + REFUSED.format(path=path, glob=glob)
    assert seen[calls[-1].id] == "error: " + REFUSED.format(
        path="app/conftest.py", glob="conftest.py"
    )
    [pull] = bot_pulls(fake_github)
    tree = fake_github.tree_of(OWNER, REPO, pull["head"]["ref"])
    assert set(tree) == {"README.md", "app/config.py", "old.py", "docs/ci.md"}
    assert "[!WARNING]" not in pull["body"]
    assert "files CI runs" in fake_openai.requests[0]["messages"][0]["content"]


async def test_a_repository_drops_a_default_by_name_and_every_reply_says_so(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    seed(fake_github)
    config = 'resolve:\n  protected_paths: ["!package.json", "scripts/**", "!**/Makefile"]\n'
    fake_github.add_file(OWNER, REPO, ".github/livebot.yml", config)
    calls = [
        ToolCall("write_file", {"path": "package.json", "content": "{}\n"}),
        ToolCall("write_file", {"path": "scripts/ci.sh", "content": "make\n"}),
        ToolCall("write_file", {"path": "Makefile", "content": "all:\n"}),
    ]
    fake_openai.script(
        Reply.calls(*calls),
        Reply.calls(ToolCall("finish", {"title": "Add a package", "summary": "npm."})),
    )
    job = make_job("resolve")
    await run_job(worker_services, queue, redis_client, job, "succeeded")
    seen = fake_openai.tool_results(1)
    assert seen[calls[0].id] == "package.json: +1 \u22120"
    assert seen[calls[1].id] == "error: " + REFUSED.format(path="scripts/ci.sh", glob="scripts/**")
    assert seen[calls[2].id] == "error: " + REFUSED.format(path="Makefile", glob="Makefile")
    warning = DROPPED.format(globs="`package.json`")
    [pull] = bot_pulls(fake_github)
    assert f"> [!WARNING]\n> {warning}" in pull["body"]
    [comment] = fake_github.comments_on(OWNER, REPO, ISSUE)
    assert warning in comment["body"]
    # `!**/Makefile` names no default: it drops nothing, and the reply says so.
    assert "`!**/Makefile` drops nothing" in comment["body"]


async def test_every_name_git_reads_as_dot_git_is_refused_to_the_model(
    worker_services: WorkerServices,
    queue: JobQueue,
    redis_client: Redis,
    fake_github: FakeGitHub,
    fake_openai: FakeOpenAI,
) -> None:
    head = seed(fake_github)
    # Those the path cleaning does not already refuse (`..`, backslashes, empty paths).
    variants = [v for v in GIT_VARIANTS if v and "\\" not in v and ".." not in v.split("/")]
    variants = [v for v in variants if v not in (".", "a/./b", "a//b", "a/")]
    assert len(variants) > 50
    # In runs of 30 writes: a run may make at most 40 tool calls.
    for start in range(0, len(variants), 30):
        chunk = variants[start : start + 30]
        calls = [ToolCall("write_file", {"path": v, "content": "x\n"}) for v in chunk]
        fake_openai.script(Reply.calls(*calls), Reply(text="Nothing I may write."))
        await run_job(worker_services, queue, redis_client, make_job("resolve"), "succeeded")
        seen = fake_openai.tool_results(-1)
        for call, path in zip(calls, chunk, strict=True):
            assert seen[call.id] == "error: " + GIT_REFUSED.format(path=path.strip()), path
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    assert not fake_github.requests_to("POST", "/repos/*/git/*")
