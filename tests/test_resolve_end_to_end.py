"""End to end: `@livebot resolve` against `livebot serve`, the fake GitHub's git model and the fake
OpenAI: one branch, one commit, one draft PR; a follow-up; refusals; 403; a SIGKILLed worker."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from livebot.code.working_set import WORKFLOWS_REFUSED
from livebot.workflows import own_branches
from livebot.workflows.resolve import NO_CHANGE, NOT_OURS
from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall
from tests.sse import SseEvent
from tests.support import ISSUE, OWNER, REPO, SLUG, delivery, eventually, payload
from tests.test_end_to_end import StartServe, errors, events_url, livebot, post_delivery, read_run
from tests.test_resolve import BRANCH_NAME, NEW_CONFIG, TEST_FILE, bot_pulls, fix_script, seed

__all__ = ["livebot"]  # the fixture this module uses


def resolve_delivery(
    fake: FakeGitHub, body: str, number: int = ISSUE, pull: bool = False
) -> tuple[bytes, dict[str, str]]:
    """A trusted comment on the issue (or PR) `number`, stored on the fake, delivered signed."""
    comment = fake.add_comment(OWNER, REPO, number, body, user="Codertocat")
    data = payload("issue_comment", "created.payload.json", body=body)
    data["issue"]["number"] = number
    if pull:
        url = f"https://github.com/{OWNER}/{REPO}/pull/{number}"
        data["issue"]["pull_request"] = {"url": url, "html_url": url}
    else:
        data["issue"].pop("pull_request", None)
    data["comment"]["id"] = comment["id"]
    data["comment"]["user"].update(login="Codertocat", type="User")
    data["sender"].update(login="Codertocat", type="User")
    return delivery("issue_comment", data)


async def run_to_the_end(
    server: Any, fake: FakeGitHub, sent: tuple[bytes, dict[str, str]], number: int = ISSUE
) -> list[SseEvent]:
    """Deliver, wait for the placeholder (the run exists), read the run's events to its end."""
    async with aiohttp.ClientSession() as session:
        status, reply = await post_delivery(session, server, *sent)
        assert status == 202, reply
        await eventually(lambda: bot_comments_on(fake, number), "the placeholder")
        return await read_run(session, events_url(server, reply["run_id"]))


def bot_comments_on(fake: FakeGitHub, number: int) -> list[dict[str, Any]]:
    """The app's comments in a thread."""
    return [
        c for c in fake.comments_on(OWNER, REPO, number) if c["user"]["login"] == fake.bot_login
    ]


def tool_results(events: list[SseEvent]) -> list[dict[str, Any]]:
    """The data of every tool_result event."""
    return [e.data for e in events if e.event == "tool_result"]


async def test_resolve_makes_one_branch_one_commit_one_draft_pr(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    head = seed(fake_github)
    fake_openai.script(*fix_script())
    server = await livebot()
    events = await run_to_the_end(
        server, fake_github, resolve_delivery(fake_github, f"@{SLUG} resolve please")
    )
    assert events[-1].data["status"] == "succeeded", errors(events)

    branches = fake_github.branches_of(OWNER, REPO)
    assert set(branches) == {"main", BRANCH_NAME} and branches["main"] == head
    commit = fake_github.git.commits[branches[BRANCH_NAME]]
    assert commit.parents == [head]
    assert commit.message.endswith(f"\n\nFixes #{ISSUE}")
    assert fake_github.tree_of(OWNER, REPO, BRANCH_NAME) == {
        "README.md": "# hello-world\n",
        "app/config.py": NEW_CONFIG,
        "tests/test_config.py": TEST_FILE,
    }
    [pull] = bot_pulls(fake_github)
    assert pull["draft"] and pull["body"].startswith(f"Fixes #{ISSUE}\n")
    assert pull["commits"] == 1 and pull["changed_files"] == 3
    [comment] = bot_comments_on(fake_github, ISSUE)
    assert comment["body"].startswith(f"Opened draft pull request #{pull['number']}")

    # The live page got the plan, each change with its stat, then the whole diff and the PR.
    text = "".join(e.data["text"] for e in events if e.event == "token")
    assert text.startswith("Plan:\n- mkdir\n")
    results = tool_results(events)
    assert [r["name"] for r in results] == [
        "read_file",
        "write_file",
        "write_file",
        "delete_file",
        "finish",
    ]
    assert results[1]["path"] == "app/config.py" and results[1]["additions"] == 3
    assert results[-1]["pull_request_url"] == pull["html_url"]
    assert results[-1]["diff"].count("diff --git ") == 3


async def test_a_follow_up_on_the_bots_pr_adds_one_commit(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI, redis_client: Redis
) -> None:
    head = seed(fake_github)
    first = fake_github.push(OWNER, REPO, BRANCH_NAME, {"app/config.py": NEW_CONFIG}, parent=head)
    await own_branches.made(redis_client, f"{OWNER}/{REPO}", BRANCH_NAME, "an-earlier-run")
    pr = fake_github.add_pr(OWNER, REPO, BRANCH_NAME, user=fake_github.bot_login, draft=True)
    fake_openai.script(
        Reply.calls(ToolCall("write_file", {"path": "app/empty.py", "content": "EMPTY = ''\n"})),
        Reply.calls(ToolCall("finish", {"title": "Handle the empty file", "summary": "Also."})),
    )
    server = await livebot()
    body = f"@{SLUG} fix also handle the empty file case"
    events = await run_to_the_end(
        server,
        fake_github,
        resolve_delivery(fake_github, body, pr["number"], pull=True),
        pr["number"],
    )
    assert events[-1].data["status"] == "succeeded", errors(events)
    second = fake_github.head_of(OWNER, REPO, BRANCH_NAME) or ""
    assert fake_github.git.commits[second].parents == [first]
    assert fake_github.tree_of(OWNER, REPO, BRANCH_NAME)["app/empty.py"] == "EMPTY = ''\n"
    assert fake_github.head_of(OWNER, REPO) == head
    assert len(bot_pulls(fake_github)) == 1
    assert "also handle the empty file case" in fake_openai.requests[0]["messages"][1]["content"]
    [comment] = bot_comments_on(fake_github, pr["number"])
    assert comment["body"].startswith(f"Pushed [`{second[:7]}`]")


async def test_a_follow_up_on_someone_elses_pr_is_refused(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    head = seed(fake_github)
    theirs = fake_github.push(OWNER, REPO, "feature", {"a.py": "a = 1\n"}, parent=head)
    pr = fake_github.add_pr(OWNER, REPO, "feature", user="octocat")
    server = await livebot()
    events = await run_to_the_end(
        server,
        fake_github,
        resolve_delivery(fake_github, f"@{SLUG} fix it", pr["number"], pull=True),
        pr["number"],
    )
    assert events[-1].data["status"] == "succeeded"
    assert fake_openai.requests == []
    assert fake_github.branches_of(OWNER, REPO) == {"main": head, "feature": theirs}
    assert not fake_github.requests_to("POST", "/repos/*/git/*")
    [comment] = bot_comments_on(fake_github, pr["number"])
    assert comment["body"].startswith(NOT_OURS.format(label=f"{OWNER}:feature", command="resolve"))


async def test_without_contents_write_the_patch_is_the_comment(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    head = seed(fake_github)
    fake_github.contents_write = False
    fake_openai.script(*fix_script())
    server = await livebot()
    events = await run_to_the_end(
        server, fake_github, resolve_delivery(fake_github, f"@{SLUG} fix")
    )
    assert events[-1].data["status"] == "succeeded"
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    assert bot_pulls(fake_github) == []
    [comment] = bot_comments_on(fake_github, ISSUE)
    assert "```diff\ndiff --git a/app/config.py b/app/config.py\n" in comment["body"]
    assert "+++ b/tests/test_config.py\n" in comment["body"]


@pytest.mark.slow
async def test_a_worker_killed_after_the_branch_never_makes_a_second_branch_or_pr(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    seed(fake_github)
    fake_openai.script(*fix_script())
    # The PR's creation hangs: the worker is killed with the branch made and no PR yet.
    fake_github.stall_next("POST", "/repos/*/pulls", seconds=60)
    server_a = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
    async with aiohttp.ClientSession() as session:
        status, reply = await post_delivery(
            session, server_a, *resolve_delivery(fake_github, f"@{SLUG} resolve")
        )
        assert status == 202, reply
        await eventually(lambda: fake_github.head_of(OWNER, REPO, BRANCH_NAME), "the branch")
        await eventually(lambda: fake_github.requests_to("POST", "/repos/*/pulls"), "the PR post")
        server_a.kill()
        made = fake_github.head_of(OWNER, REPO, BRANCH_NAME)

        server_b = await livebot(LIVEBOT_CLAIM_TIMEOUT="2")
        async with asyncio.timeout(30):
            events = await read_run(session, events_url(server_b, reply["run_id"]), 30)
    assert events[-1].data["status"] == "succeeded", errors(events)
    assert [e["code"] for e in errors(events)] == ["worker_lost"]
    assert set(fake_github.branches_of(OWNER, REPO)) == {"main", BRANCH_NAME}
    assert fake_github.head_of(OWNER, REPO, BRANCH_NAME) == made
    assert len(fake_github.requests_to("POST", "/repos/*/git/commits")) == 1
    [pull] = bot_pulls(fake_github)
    assert pull["head"]["ref"] == BRANCH_NAME
    assert len(fake_openai.requests) == 3  # B published A's commit; the model was not asked again
    [comment] = bot_comments_on(fake_github, ISSUE)
    assert comment["body"].startswith(f"Opened draft pull request #{pull['number']}")


async def test_escapes_workflows_and_too_many_files_are_refused_to_the_model(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    head = seed(fake_github)
    many = [ToolCall("write_file", {"path": f"gen/{n}.txt", "content": "x\n"}) for n in range(30)]
    calls = [
        ToolCall("write_file", {"path": "../x", "content": "escape\n"}),
        ToolCall("write_file", {"path": ".github/workflows/ci.yml", "content": "on: push\n"}),
        *many,
    ]
    fake_openai.script(
        Reply.calls(*calls),
        Reply.calls(ToolCall("finish", {"title": "", "summary": ""})),
        Reply(text="That is beyond what I may change."),
    )
    server = await livebot()
    events = await run_to_the_end(
        server, fake_github, resolve_delivery(fake_github, f"@{SLUG} fix")
    )
    assert events[-1].data["status"] == "succeeded"
    seen = fake_openai.tool_results(1)
    assert seen[calls[0].id] == "error: `../x` leaves the repository (`..` is not allowed)"
    assert seen[calls[1].id] == "error: " + WORKFLOWS_REFUSED.format(
        path=".github/workflows/ci.yml"
    )
    assert seen[calls[-1].id].startswith("error: this would change 21 files")
    [finish] = [v for k, v in fake_openai.tool_results(2).items() if k not in seen]
    assert finish == "error: `title` must be a text of 1–200 characters"
    assert fake_github.branches_of(OWNER, REPO) == {"main": head}
    assert not fake_github.requests_to("POST", "/repos/*/git/*")
    [comment] = bot_comments_on(fake_github, ISSUE)
    assert comment["body"].startswith("That is beyond what I may change." + NO_CHANGE)
