"""The fake GitHub's GraphQL review threads and check runs, through gidgethub as the bot does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import gidgethub
import pytest
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_jwt

from tests.fake_github import FakeGitHub
from tests.fake_github.graphql import thread_id

OWNER, REPO = "octo-org", "threads"
LINES = "".join(f"line {i}\n" for i in range(1, 41))
THREADS = """
query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved isOutdated path line originalLine
          resolvedBy { login }
          comments(first: 100) {
            nodes {
              databaseId body authorAssociation
              author { __typename login }
              reactionGroups { content reactors { totalCount } }
            }
          }
        }
      }
    }
  }
}
"""
RESOLVE = """
mutation($id: ID!) {
  resolveReviewThread(input: {threadId: $id}) { thread { id isResolved resolvedBy { login } } }
}
"""


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[GitHubAPI]:
    """An installation-token client, as the bot holds one."""
    fake_github.add_repo(OWNER, REPO, files={"app.py": LINES})
    async with aiohttp.ClientSession() as session:
        app = GitHubAPI(session, "livebot-tests", base_url=fake_github.url)
        jwt = get_jwt(app_id=str(fake_github.app_id), private_key=fake_github.private_key_pem)
        token = await app.post("/app/installations/1/access_tokens", data=b"", jwt=jwt)
        yield GitHubAPI(
            session, "livebot-tests", base_url=fake_github.url, oauth_token=token["token"]
        )


def pull_with_threads(fake: FakeGitHub) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A pull request with a bot thread on line 10 (one human reply) and a human one on 30."""
    fake.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 10\n", "line ten\n")})
    number = fake.add_pr(OWNER, REPO, "feature")["number"]
    bot = fake.add_review_comment(OWNER, REPO, number, "app.py", 10, "Finding", fake.bot_login)
    fake.add_review_comment(
        OWNER, REPO, number, "app.py", 10, "This is intended.", "octocat", in_reply_to=bot["id"]
    )
    human = fake.add_review_comment(OWNER, REPO, number, "app.py", 30, "Nit", "hubot")
    return number, bot, human


async def threads(gh: GitHubAPI, fake: FakeGitHub, number: int) -> list[dict[str, Any]]:
    data = await gh.graphql(
        THREADS, endpoint=fake.url + "/graphql", owner=OWNER, name=REPO, number=number
    )
    nodes: list[dict[str, Any]] = data["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    return nodes


async def test_review_threads_have_githubs_shapes(fake_github: FakeGitHub, gh: GitHubAPI) -> None:
    number, bot, human = pull_with_threads(fake_github)
    fake_github.react_review_comment(bot["id"], "-1", "octocat")
    first, second = await threads(gh, fake_github, number)
    assert first["id"] == thread_id(bot["id"]) and first["path"] == "app.py"
    assert (first["isResolved"], first["isOutdated"], first["line"]) == (False, False, 10)
    comments = first["comments"]["nodes"]
    assert [c["body"] for c in comments] == ["Finding", "This is intended."]
    # GraphQL names an app's bot by its slug, without REST's "[bot]".
    assert comments[0]["author"] == {"__typename": "Bot", "login": fake_github.app_slug}
    assert comments[1]["author"] == {"__typename": "User", "login": "octocat"}
    assert comments[0]["databaseId"] == bot["id"]
    groups = {g["content"]: g["reactors"]["totalCount"] for g in comments[0]["reactionGroups"]}
    assert groups["THUMBS_DOWN"] == 1 and groups["THUMBS_UP"] == 0
    assert second["comments"]["nodes"][0]["databaseId"] == human["id"]


async def test_a_changed_line_makes_its_thread_outdated(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    number, _bot, _human = pull_with_threads(fake_github)
    fake_github.push(OWNER, REPO, "feature", {"app.py": LINES.replace("line 11\n", "fixed\n")})
    near, far = await threads(gh, fake_github, number)
    assert (near["isOutdated"], near["line"], near["originalLine"]) == (True, None, 10)
    assert (far["isOutdated"], far["line"]) == (False, 30)


async def test_resolving_a_thread_and_githubs_refusals(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    number, bot, human = pull_with_threads(fake_github)
    fake_github.resolve_thread(human["id"], by="hubot")
    data = await gh.graphql(RESOLVE, endpoint=fake_github.url + "/graphql", id=thread_id(bot["id"]))
    thread = data["resolveReviewThread"]["thread"]
    assert thread["isResolved"] and thread["resolvedBy"] == {"login": fake_github.app_slug}
    first, second = await threads(gh, fake_github, number)
    assert first["isResolved"] and second["resolvedBy"] == {"login": "hubot"}
    with pytest.raises(gidgethub.GraphQLException) as unknown:
        await gh.graphql(RESOLVE, endpoint=fake_github.url + "/graphql", id="PRRT_nothing")
    error = unknown.value.response["errors"][0]
    assert error["type"] == "NOT_FOUND" and error["path"] == ["resolveReviewThread"]
    fake_github.installations[1]["permissions"]["pull_requests"] = "read"
    with pytest.raises(gidgethub.GraphQLException) as forbidden:
        await gh.graphql(RESOLVE, endpoint=fake_github.url + "/graphql", id=thread_id(bot["id"]))
    assert forbidden.value.response["errors"][0]["type"] == "FORBIDDEN"
    assert forbidden.value.response["data"] == {"resolveReviewThread": None}


async def test_queries_outside_githubs_schema_and_limits_are_refused(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    number, _bot, _human = pull_with_threads(fake_github)
    url = fake_github.url + "/graphql"
    with pytest.raises(gidgethub.GraphQLException) as wrong:
        await gh.graphql("{ viewer { loginx } }", endpoint=url)
    assert "loginx" in wrong.value.response["errors"][0]["message"]
    unbounded = THREADS.replace("reviewThreads(first: 100)", "reviewThreads")
    with pytest.raises(gidgethub.GraphQLException) as missing:
        await gh.graphql(unbounded, endpoint=url, owner=OWNER, name=REPO, number=number)
    assert missing.value.response["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    too_many = THREADS.replace("reviewThreads(first: 100)", "reviewThreads(first: 101)")
    with pytest.raises(gidgethub.GraphQLException) as excessive:
        await gh.graphql(too_many, endpoint=url, owner=OWNER, name=REPO, number=number)
    assert excessive.value.response["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    with pytest.raises(gidgethub.GraphQLException) as absent:
        await gh.graphql(THREADS, endpoint=url, owner=OWNER, name=REPO, number=99)
    assert absent.value.response["errors"][0]["type"] == "NOT_FOUND"
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(url, json={"query": "{ viewer { login } }"}) as response:
            assert response.status == 401


def annotation(line: int) -> dict[str, Any]:
    return {
        "path": "app.py",
        "start_line": line,
        "end_line": line,
        "annotation_level": "warning",
        "message": f"Finding on {line}",
    }


async def test_check_run_life_and_the_50_annotation_limit(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    sha = fake_github.push(OWNER, REPO, "feature", {"app.py": "x\n"})
    fake_github.add_pr(OWNER, REPO, "feature")
    base = f"/repos/{OWNER}/{REPO}/check-runs"
    run = await gh.post(
        base,
        data={
            "name": "Livebot review",
            "head_sha": sha,
            "status": "in_progress",
            "details_url": "https://livebot.example.com/runs/abc",
            "output": {"title": "Reading the changes", "summary": "Working."},
        },
    )
    assert run["status"] == "in_progress" and run["conclusion"] is None
    assert run["details_url"] == "https://livebot.example.com/runs/abc"
    assert run["pull_requests"][0]["number"] == 1
    output = {"title": "3 findings", "summary": "Done."}
    with pytest.raises(gidgethub.BadRequest) as over:
        await gh.patch(
            f"{base}/{run['id']}",
            data={"output": {**output, "annotations": [annotation(i) for i in range(1, 52)]}},
        )
    assert over.value.status_code == 422
    for batch in (range(1, 51), range(51, 61)):
        await gh.patch(
            f"{base}/{run['id']}",
            data={"output": {**output, "annotations": [annotation(i) for i in batch]}},
        )
    done = await gh.patch(f"{base}/{run['id']}", data={"conclusion": "neutral", "output": output})
    assert (done["status"], done["conclusion"], done["output"]["annotations_count"]) == (
        "completed",
        "neutral",
        60,
    )
    assert [a["start_line"] for a in fake_github.annotations_of(run["id"])] == list(range(1, 61))
    with pytest.raises(gidgethub.BadRequest) as unfinished:
        await gh.patch(f"{base}/{run['id']}", data={"status": "completed"})
    assert unfinished.value.status_code == 422
    with pytest.raises(gidgethub.BadRequest) as unknown_sha:
        await gh.post(base, data={"name": "x", "head_sha": "0" * 40})
    assert unknown_sha.value.status_code == 422
    with pytest.raises(gidgethub.BadRequest) as nameless:
        await gh.post(base, data={"head_sha": sha})
    assert nameless.value.status_code == 422
    fake_github.installations[1]["permissions"].pop("checks")
    with pytest.raises(gidgethub.BadRequest) as forbidden:
        await gh.post(base, data={"name": "x", "head_sha": sha})
    assert forbidden.value.status_code == 403
