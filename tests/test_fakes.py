"""The fake GitHub and OpenAI servers, exercised through the production clients."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import gidgethub
import openai
import pytest
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_jwt
from openai.types.chat import ChatCompletionMessageParam

from tests.fake_github import FakeGitHub
from tests.fake_openai import FakeOpenAI, Reply, ToolCall

READ_ARGS = {"path": "bot/router.py", "start_line": 1, "end_line": 40}
SEARCH_ARGS = {"query": "def route\\(", "path": "bot/**"}


@pytest.fixture
async def ai(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=fake_openai.api_key, base_url=fake_openai.url)
    yield client
    await client.close()


async def stream_turn(
    client: openai.AsyncOpenAI, messages: list[ChatCompletionMessageParam]
) -> tuple[str, list[dict[str, Any]], str | None, Any, int]:
    """One streamed turn: text, assembled tool calls, finish reason, usage, chunk count."""
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        tools=[
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in ("read_file", "search_code")
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = "", None, None, 0
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    assert call["id"] is None, "the id comes once, in the call's first delta"
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
            finish = choice.finish_reason or finish
    return text, [calls[i] for i in sorted(calls)], finish, usage, chunks


async def test_openai_streams_several_tool_calls_in_one_turn(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(
        Reply(
            text="Let me look.",
            tool_calls=[ToolCall("read_file", READ_ARGS), ToolCall("search_code", SEARCH_ARGS)],
        )
    )
    text, calls, finish, usage, chunks = await stream_turn(
        ai, [{"role": "user", "content": "Where is routing?"}]
    )
    assert text == "Let me look."
    assert finish == "tool_calls"
    assert [c["name"] for c in calls] == ["read_file", "search_code"]
    assert [json.loads(c["arguments"]) for c in calls] == [READ_ARGS, SEARCH_ARGS]
    assert all(c["id"].startswith("call_") for c in calls) and calls[0]["id"] != calls[1]["id"]
    assert usage.completion_tokens > 4 and usage.total_tokens > usage.completion_tokens
    assert chunks > 10  # the arguments came in pieces
    assert fake_openai.tools_offered() == ["read_file", "search_code"]


async def test_openai_tool_call_only_turn_opens_with_the_call(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(Reply.calls(ToolCall("read_file", READ_ARGS, id="call_1")))
    text, calls, finish, _, _ = await stream_turn(ai, [{"role": "user", "content": "Read it"}])
    assert (text, finish) == ("", "tool_calls")
    assert calls == [{"id": "call_1", "name": "read_file", "arguments": json.dumps(READ_ARGS)}]


async def test_openai_responder_answers_after_the_tool_result(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    def respond(body: dict[str, Any]) -> Reply:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply(text="It is in bot/router.py.")
        return Reply.calls(ToolCall("read_file", READ_ARGS))

    fake_openai.responder = respond
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where is routing?"}]
    _, calls, finish, _, _ = await stream_turn(ai, messages)
    assert finish == "tool_calls"
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": calls[0]["name"], "arguments": calls[0]["arguments"]},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "1 def route"})
    text, calls2, finish, _, _ = await stream_turn(ai, messages)
    assert (text, calls2, finish) == ("It is in bot/router.py.", [], "stop")
    assert fake_openai.tool_results() == {calls[0]["id"]: "1 def route"}
    assert fake_openai.tool_results(0) == {}
    assert len(fake_openai.requests) == 2


async def test_openai_queue_takes_callables_and_non_streamed_tool_calls(
    fake_openai: FakeOpenAI, ai: openai.AsyncOpenAI
) -> None:
    fake_openai.script(
        lambda body: Reply(tool_calls=[ToolCall("read_file", {"path": body["model"]})], text="")
    )
    done = await ai.chat.completions.create(
        model="m-1", messages=[{"role": "user", "content": "x"}]
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"path": "m-1"}  # type: ignore[union-attr]
    assert fake_openai.replies == []


# ---- fake GitHub, through gidgethub's aiohttp client ------------------------------------------
OWNER, REPO = "octo-org", "hello-world"
ROUTER = "".join(f"line {i}\n" for i in range(1, 41))
FILES: dict[str, str | bytes] = {
    "README.md": "# Hello\n",
    "bot/router.py": ROUTER,
    "bot/old_name.py": "unchanged = True\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary",
    ".github/workflows/ci.yml": "on: push\n",
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def gh(fake_github: FakeGitHub, session: aiohttp.ClientSession) -> GitHubAPI:
    """An installation-token client, as the bot holds one."""
    fake_github.add_repo(OWNER, REPO, files=FILES)
    app = GitHubAPI(session, "livebot-tests", base_url=fake_github.url)
    jwt = get_jwt(app_id=str(fake_github.app_id), private_key=fake_github.private_key_pem)
    token = await app.post("/app/installations/1/access_tokens", data=b"", jwt=jwt)
    return GitHubAPI(session, "livebot-tests", base_url=fake_github.url, oauth_token=token["token"])


def app_client(fake: FakeGitHub, session: aiohttp.ClientSession) -> tuple[GitHubAPI, str]:
    jwt = get_jwt(app_id=str(fake.app_id), private_key=fake.private_key_pem)
    return GitHubAPI(session, "livebot-tests", base_url=fake.url), jwt


def open_pr(fake: FakeGitHub, **kw: Any) -> dict[str, Any]:
    """A PR changing, adding, deleting, renaming and a binary file."""
    router = ROUTER.replace("line 20\n", "line twenty\n")
    fake.push(
        OWNER,
        REPO,
        "feature",
        {
            "bot/router.py": router,
            "bot/new.py": "print('new')\n",
            "README.md": None,
            "bot/old_name.py": None,
            "bot/new_name.py": "unchanged = True\n",
            "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00other",
        },
        "Feature work",
    )
    return fake.add_pr(OWNER, REPO, "feature", "Add a feature", "Body", **kw)


async def test_git_model_trees_blobs_contents_branches(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    fake = fake_github
    head = fake.head_of(OWNER, REPO)
    base = f"/repos/{OWNER}/{REPO}"
    commit = await gh.getitem(f"{base}/commits/main")
    assert commit["sha"] == head and commit["parents"] == []
    tree = await gh.getitem(f"{base}/git/trees/{commit['commit']['tree']['sha']}?recursive=1")
    blobs = {e["path"]: e for e in tree["tree"] if e["type"] == "blob"}
    assert set(blobs) == set(FILES) and tree["truncated"] is False
    assert {"bot", "assets", ".github", ".github/workflows"} <= {
        e["path"] for e in tree["tree"] if e["type"] == "tree"
    }
    top = await gh.getitem(f"{base}/git/trees/main")
    assert sorted(e["path"] for e in top["tree"]) == [".github", "README.md", "assets", "bot"]
    blob = await gh.getitem(f"{base}/git/blobs/{blobs['README.md']['sha']}")
    assert base64.b64decode(blob["content"]) == b"# Hello\n"
    assert set(blob) == {"sha", "node_id", "size", "url", "content", "encoding"}
    assert (blob["size"], blob["encoding"]) == (8, "base64")
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.getitem(f"{base}/git/blobs/{'0' * 40}")
    assert err.value.status_code == 404
    f = await gh.getitem(f"{base}/contents/bot/router.py?ref=main")
    assert base64.b64decode(f["content"]).decode() == ROUTER
    listing = await gh.getitem(f"{base}/contents/bot")
    assert [e["name"] for e in listing] == ["old_name.py", "router.py"]
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.getitem(f"{base}/contents/missing.py")
    assert err.value.status_code == 404
    branch = await gh.getitem(f"{base}/branches/main")
    assert branch["commit"]["sha"] == head
    for missing in (f"{base}/branches/nope", f"{base}/git/ref/heads/nope"):
        with pytest.raises(gidgethub.BadRequest) as err:
            await gh.getitem(missing)
        assert err.value.status_code == 404
    ref = await gh.getitem(f"{base}/git/ref/heads/main")
    assert ref["object"]["sha"] == head
    fake.tree_limit = 3
    assert (await gh.getitem(f"{base}/git/trees/main?recursive=1"))["truncated"] is True


async def test_empty_repository_answers_as_github_does(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    fake_github.add_repo(OWNER, "empty")
    for path, status in (("commits/HEAD", 409), ("tarball/HEAD", 409), ("contents/README.md", 404)):
        with pytest.raises(gidgethub.BadRequest) as err:
            await gh.getitem(f"/repos/{OWNER}/empty/{path}")
        assert err.value.status_code == status
    fake_github.add_file(OWNER, "empty", "README.md", "hi\n")
    head = await gh.getitem(f"/repos/{OWNER}/empty/commits/HEAD")
    assert head["sha"] == fake_github.head_of(OWNER, "empty")


async def test_tarball_redirects_to_a_gzip_with_one_top_folder(
    fake_github: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    head = fake_github.head_of(OWNER, REPO)
    assert head is not None
    headers = {"Authorization": f"token {gh.oauth_token}"}
    url = f"{fake_github.url}/repos/{OWNER}/{REPO}/tarball/main"
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        assert resp.status == 302
        assert "/legacy.tar.gz/" in resp.headers["Location"]
    async with session.get(url, headers=headers) as resp:
        # Streamed as codeload does: the size is known only once it is read.
        assert resp.content_length is None
        raw = await resp.read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        top = {n.split("/")[0] for n in tar.getnames()}
        assert top == {f"{OWNER}-{REPO}-{head[:7]}"}
        member = tar.extractfile(f"{OWNER}-{REPO}-{head[:7]}/bot/router.py")
        assert member is not None and member.read().decode() == ROUTER
        assert tar.pax_headers["comment"] == head
    assert len(names) == len(FILES)


async def test_pull_request_files_statuses_and_pagination(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    pr = open_pr(fake_github)
    base = f"/repos/{OWNER}/{REPO}"
    got = await gh.getitem(f"{base}/pulls/{pr['number']}")
    assert got["head"]["sha"] == fake_github.head_of(OWNER, REPO, "feature")
    assert got["base"]["sha"] == fake_github.head_of(OWNER, REPO)
    assert (got["head"]["ref"], got["base"]["ref"], got["draft"]) == ("feature", "main", False)
    assert got["head"]["repo"]["full_name"] == f"{OWNER}/{REPO}"
    assert (got["commits"], got["changed_files"], got["additions"]) == (1, 5, 2)
    commits = await gh.getitem(f"{base}/pulls/{pr['number']}/commits")
    assert [c["commit"]["message"] for c in commits] == ["Feature work"]
    issue = await gh.getitem(f"{base}/issues/{pr['number']}")
    assert "pull_request" in issue
    files = [f async for f in gh.getiter(f"{base}/pulls/{pr['number']}/files?per_page=2")]
    by_name = {f["filename"]: f for f in files}
    assert {n: f["status"] for n, f in by_name.items()} == {
        "README.md": "removed",
        "assets/logo.png": "modified",
        "bot/new.py": "added",
        "bot/new_name.py": "renamed",
        "bot/router.py": "modified",
    }
    assert by_name["bot/new_name.py"]["previous_filename"] == "bot/old_name.py"
    assert "patch" not in by_name["assets/logo.png"]
    router = by_name["bot/router.py"]
    assert (router["additions"], router["deletions"], router["changes"]) == (1, 1, 2)
    assert router["patch"].startswith("@@ -17,7 +17,7 @@")
    assert "-line 20\n+line twenty" in router["patch"]
    page = fake_github.requests_to("GET", f"{base}/pulls/*/files")
    assert len(page) == 3  # 5 files, 2 a page, followed through Link


async def test_pull_request_files_capped_at_3000(fake_github: FakeGitHub, gh: GitHubAPI) -> None:
    fake_github.push(OWNER, REPO, "big", {f"gen/f{i}.txt": f"{i}\n" for i in range(3005)})
    pr = fake_github.add_pr(OWNER, REPO, "big")
    url = f"/repos/{OWNER}/{REPO}/pulls/{pr['number']}/files?per_page=100"
    files = [f async for f in gh.getiter(url)]
    assert len(files) == 3000


async def test_fork_pull_request(fake_github: FakeGitHub, gh: GitHubAPI) -> None:
    fork = fake_github.add_fork(OWNER, REPO, "contributor")
    assert fork["fork"] is True
    fake_github.push("contributor", REPO, "patch-1", {"bot/new.py": "x = 1\n"})
    pr = fake_github.add_pr(OWNER, REPO, "patch-1", head_owner="contributor")
    got = await gh.getitem(f"/repos/{OWNER}/{REPO}/pulls/{pr['number']}")
    assert got["head"]["repo"]["full_name"] == f"contributor/{REPO}"
    assert got["head"]["repo"]["fork"] is True
    pull_head = await gh.getitem(f"/repos/{OWNER}/{REPO}/commits/pull/{pr['number']}/head")
    assert pull_head["sha"] == got["head"]["sha"]
    files = await gh.getitem(f"/repos/{OWNER}/{REPO}/pulls/{pr['number']}/files")
    assert [f["filename"] for f in files] == ["bot/new.py"]


async def test_compare_after_push_and_force_push(fake_github: FakeGitHub, gh: GitHubAPI) -> None:
    fake = fake_github
    open_pr(fake)
    old = fake.head_of(OWNER, REPO, "feature")
    new = fake.push(OWNER, REPO, "feature", {"bot/later.py": "later\n"})
    cmp = await gh.getitem(f"/repos/{OWNER}/{REPO}/compare/{old}...{new}")
    assert (cmp["status"], cmp["ahead_by"], cmp["behind_by"]) == ("ahead", 1, 0)
    assert [f["filename"] for f in cmp["files"]] == ["bot/later.py"]
    assert cmp["files"][0]["patch"] == "@@ -0,0 +1 @@\n+later"
    assert [c["sha"] for c in cmp["commits"]] == [new]
    same = await gh.getitem(f"/repos/{OWNER}/{REPO}/compare/{new}...feature")
    assert same["status"] == "identical"
    rebased = fake.force_push(OWNER, REPO, "feature", {"bot/other.py": "other\n"})
    assert new not in fake.git.ancestors(rebased)
    cmp = await gh.getitem(f"/repos/{OWNER}/{REPO}/compare/{new}...{rebased}")
    assert cmp["status"] == "diverged" and cmp["behind_by"] == 2
    orphan = fake.force_push(OWNER, REPO, "feature", {"x": "y\n"}, orphan=True)
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.getitem(f"/repos/{OWNER}/{REPO}/compare/{new}...{orphan}")
    assert err.value.status_code == 404
    assert str(err.value).startswith("No common ancestor between")


async def test_review_inline_comments_must_sit_on_the_diff(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    pr = open_pr(fake_github)
    n = pr["number"]
    url = f"/repos/{OWNER}/{REPO}/pulls/{n}/reviews"
    outside = {"path": "bot/router.py", "line": 3, "side": "RIGHT", "body": "far away"}
    with pytest.raises(gidgethub.ValidationError) as err:
        await gh.post(url, data={"event": "COMMENT", "body": "x", "comments": [outside]})
    assert err.value.status_code == 422
    assert "Pull request review thread line must be part of the diff" in str(err.value)
    assert fake_github.reviews_on(OWNER, REPO, n) == []
    comments = [
        {"path": "bot/router.py", "line": 20, "side": "RIGHT", "body": "changed line"},
        {"path": "bot/router.py", "line": 18, "body": "context line"},
        {"path": "bot/router.py", "line": 20, "side": "LEFT", "body": "old line"},
        {
            "path": "bot/router.py",
            "start_line": 19,
            "start_side": "RIGHT",
            "line": 21,
            "side": "RIGHT",
            "body": "```suggestion\nline 19\nline 20\nline 21\n```",
        },
        {"path": "bot/new.py", "line": 1, "body": "new file"},
    ]
    review = await gh.post(
        url,
        data={
            "commit_id": pr["head"]["sha"],
            "event": "COMMENT",
            "body": "Summary",
            "comments": comments,
        },
    )
    assert review["state"] == "COMMENTED" and review["commit_id"] == pr["head"]["sha"]
    posted = [c async for c in gh.getiter(f"/repos/{OWNER}/{REPO}/pulls/{n}/comments")]
    assert [(c["line"], c["side"]) for c in posted] == [
        (20, "RIGHT"),
        (18, "RIGHT"),
        (20, "LEFT"),
        (21, "RIGHT"),
        (1, "RIGHT"),
    ]
    assert posted[3]["start_line"] == 19
    assert posted[0]["diff_hunk"].endswith("+line twenty")
    assert all(c["pull_request_review_id"] == review["id"] for c in posted)
    listed = await gh.getitem(f"/repos/{OWNER}/{REPO}/pulls/{n}/reviews")
    assert [r["id"] for r in listed] == [review["id"]] and "event" not in listed[0]
    bad_hunk = {**comments[3], "start_line": 2}
    with pytest.raises(gidgethub.ValidationError) as err:
        await gh.post(url, data={"event": "COMMENT", "comments": [bad_hunk]})
    assert "start line must be part of the same hunk" in str(err.value)
    single = f"/repos/{OWNER}/{REPO}/pulls/{n}/comments"
    with pytest.raises(gidgethub.InvalidField) as missing:  # its errors carry a missing_field
        await gh.post(single, data={**outside, "commit_id": pr["head"]["sha"]})
    assert missing.value.errors[0]["field"] == "pull_request_review_thread.line"
    alone = await gh.post(single, data={**comments[0], "commit_id": pr["head"]["sha"]})
    assert alone["line"] == 20 and "in_reply_to_id" not in alone
    threaded = await gh.post(single, data={"body": "in thread", "in_reply_to": alone["id"]})
    assert threaded["in_reply_to_id"] == alone["id"]
    approve = await gh.post(url, data={"event": "APPROVE"})
    assert approve["state"] == "APPROVED"
    assert [r["event"] for r in fake_github.reviews_on(OWNER, REPO, n)] == ["COMMENT", "APPROVE"]


async def test_requests_outside_githubs_description_are_refused_as_github_does(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    repo = f"/repos/{OWNER}/{REPO}"
    for method, path in (("GET", f"{repo}/tarball"), ("PUT", f"{repo}/issues/1")):
        status, _, body = await gh._request(method, f"{fake_github.url}{path}", {})
        assert status == 404, (method, path)
        assert json.loads(body) == {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        }
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(f"{repo}/git/refs", data={"ref": "refs/heads/x"})
    assert err.value.status_code == 422
    assert err.value.args[0] == 'Invalid request.\n\n"sha" wasn\'t supplied.'
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(f"{repo}/git/commits", data={})
    assert err.value.args[0] == 'Invalid request.\n\n"message", "tree" weren\'t supplied.'


async def test_review_thread_replies_edits_reactions(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    pr = open_pr(fake_github)
    n = pr["number"]
    root = fake_github.add_review_comment(OWNER, REPO, n, "bot/router.py", 20, "@livebot why?")
    base = f"/repos/{OWNER}/{REPO}/pulls"
    thread = f"{base}/{n}/comments"
    reply = await gh.post(thread, data={"body": "Because.", "in_reply_to": root["id"]})
    assert reply["in_reply_to_id"] == root["id"] and reply["user"]["login"].endswith("[bot]")
    assert reply["diff_hunk"] == root["diff_hunk"] and reply["path"] == "bot/router.py"
    with pytest.raises(gidgethub.InvalidField) as invalid:  # replies to replies are not supported
        await gh.post(thread, data={"body": "More.", "in_reply_to": reply["id"]})
    assert invalid.value.errors == [
        {
            "resource": "PullRequestReviewComment",
            "code": "invalid",
            "field": "in_reply_to",
            "message": "Replies to replies are not supported.",
        }
    ]
    # The /replies endpoint is not enabled for GitHub Apps: an installation token gets a 403.
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(f"{thread}/{root['id']}/replies", data={"body": "More."})
    assert err.value.status_code == 403
    assert err.value.args[0] == "Resource not accessible by integration"
    assert len(fake_github.review_comments_on(OWNER, REPO, n)) == 2
    edited = await gh.patch(f"{base}/comments/{reply['id']}", data={"body": "Edited."})
    assert edited["body"] == "Edited."
    assert (await gh.getitem(f"{base}/comments/{reply['id']}"))["body"] == "Edited."
    await gh.post(f"{base}/comments/{root['id']}/reactions", data={"content": "eyes"})
    assert [r["content"] for r in fake_github.review_comment_reactions[root["id"]]] == ["eyes"]
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(thread, data={"body": "x", "in_reply_to": 999})
    assert err.value.status_code == 404


async def commit_files(gh: GitHubAPI, files: dict[str, str | None], parent: str) -> str:
    """What the resolve workflow does: blobs, a tree on the parent's, a commit; its sha."""
    base = f"/repos/{OWNER}/{REPO}/git"
    parent_commit = await gh.getitem(f"{base}/commits/{parent}")
    entries = []
    for path, text in files.items():
        sha = None
        if text is not None:
            blob = await gh.post(f"{base}/blobs", data={"content": text, "encoding": "utf-8"})
            sha = blob["sha"]
        entries.append({"path": path, "mode": "100644", "type": "blob", "sha": sha})
    tree = await gh.post(
        f"{base}/trees", data={"base_tree": parent_commit["tree"]["sha"], "tree": entries}
    )
    commit = await gh.post(
        f"{base}/commits", data={"message": "Fix #1", "tree": tree["sha"], "parents": [parent]}
    )
    assert commit["parents"][0]["sha"] == parent
    return str(commit["sha"])


async def test_git_data_api_commit_branch_and_draft_pr(
    fake_github: FakeGitHub, gh: GitHubAPI
) -> None:
    fake = fake_github
    main = fake.head_of(OWNER, REPO)
    assert main is not None
    sha = await commit_files(
        gh, {"bot/router.py": "fixed\n", "README.md": None, "new/x.py": "x\n"}, main
    )
    base = f"/repos/{OWNER}/{REPO}"
    ref = await gh.post(
        f"{base}/git/refs", data={"ref": "refs/heads/livebot/issue-1-fix", "sha": sha}
    )
    assert ref["object"]["sha"] == sha
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(
            f"{base}/git/refs", data={"ref": "refs/heads/livebot/issue-1-fix", "sha": sha}
        )
    assert err.value.status_code == 422 and str(err.value) == "Reference already exists"
    tree = fake.tree_of(OWNER, REPO, "livebot/issue-1-fix")
    expected = {**FILES, "bot/router.py": "fixed\n", "new/x.py": "x\n"}
    del expected["README.md"]
    assert tree == expected
    assert fake.head_of(OWNER, REPO) == main
    pr = await gh.post(
        f"{base}/pulls",
        data={
            "title": "Fix",
            "head": "livebot/issue-1-fix",
            "base": "main",
            "body": "Fixes #1",
            "draft": True,
        },
    )
    assert (
        pr["draft"] is True and pr["head"]["sha"] == sha and pr["user"]["login"].endswith("[bot]")
    )
    with pytest.raises(gidgethub.ValidationError) as err:
        await gh.post(
            f"{base}/pulls", data={"title": "Again", "head": "livebot/issue-1-fix", "base": "main"}
        )
    assert "A pull request already exists for octo-org:livebot/issue-1-fix." in str(err.value)
    found = await gh.getitem(f"{base}/pulls?head={OWNER}:livebot/issue-1-fix&state=all")
    assert [p["number"] for p in found] == [pr["number"]]
    assert await gh.getitem(f"{base}/pulls?head={OWNER}:other&state=all") == []
    # a follow-up commit fast-forwards; a rewrite needs force
    follow = await commit_files(gh, {"bot/router.py": "fixed again\n"}, sha)
    await gh.patch(f"{base}/git/refs/heads/livebot/issue-1-fix", data={"sha": follow})
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.patch(f"{base}/git/refs/heads/livebot/issue-1-fix", data={"sha": main})
    assert str(err.value) == "Update is not a fast forward"
    await gh.patch(f"{base}/git/refs/heads/livebot/issue-1-fix", data={"sha": main, "force": True})
    await gh.delete(f"{base}/git/refs/heads/livebot/issue-1-fix")
    assert "livebot/issue-1-fix" not in fake.branches_of(OWNER, REPO)
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.delete(f"{base}/git/refs/heads/livebot/issue-1-fix")
    assert err.value.status_code == 422


async def test_git_data_refusals(
    fake_github: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    fake = fake_github
    main = fake.head_of(OWNER, REPO)
    assert main is not None
    sha = await commit_files(gh, {".github/workflows/ci.yml": "on: pull_request\n"}, main)
    base = f"/repos/{OWNER}/{REPO}/git"
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(f"{base}/refs", data={"ref": "refs/heads/wf", "sha": sha})
    assert "without `workflows` permission" in str(err.value)
    assert "wf" not in fake.branches_of(OWNER, REPO)
    fake.contents_write = False
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.post(f"{base}/blobs", data={"content": "x", "encoding": "utf-8"})
    assert err.value.status_code == 403
    assert str(err.value) == "Resource not accessible by integration"
    app, jwt = app_client(fake, session)
    token = await app.post("/app/installations/1/access_tokens", data=b"", jwt=jwt)
    assert token["permissions"]["contents"] == "read"


async def test_etag_answers_304_when_unchanged(
    fake_github: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    url = f"{fake_github.url}/repos/{OWNER}/{REPO}/contents/.github/workflows/ci.yml"
    headers = {"Authorization": f"token {gh.oauth_token}"}
    async with session.get(url, headers=headers) as resp:
        etag = resp.headers["ETag"]
    async with session.get(url, headers={**headers, "If-None-Match": etag}) as resp:
        assert resp.status == 304
    fake_github.add_file(OWNER, REPO, ".github/workflows/ci.yml", "on: [push]\n")
    async with session.get(url, headers={**headers, "If-None-Match": etag}) as resp:
        assert resp.status == 200 and resp.headers["ETag"] != etag


async def test_app_hook_deliveries_and_installation_repos(
    fake_github: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    app, jwt = app_client(fake_github, session)
    config = await app.getitem("/app/hook/config", jwt=jwt)
    assert config == {
        "content_type": "json",
        "insecure_ssl": "0",
        "url": fake_github.hook_url,
        "secret": "********",
    }
    made = [fake_github.add_delivery(status_code=502 if i % 2 else 200) for i in range(5)]
    seen = [d async for d in app.getiter("/app/hook/deliveries?per_page=2", jwt=jwt)]
    assert [d["id"] for d in seen] == [d["id"] for d in reversed(made)]
    assert len(fake_github.requests_to("GET", "/app/hook/deliveries")) == 3
    failed = [d for d in seen if d["status_code"] >= 400]
    assert failed and failed[0]["status"] != "OK" and failed[0]["guid"]
    await app.post(f"/app/hook/deliveries/{failed[0]['id']}/attempts", data=b"", jwt=jwt)
    assert fake_github.redeliveries == [failed[0]["id"]]
    assert fake_github.deliveries[-1]["redelivery"] is True
    installs = await app.getitem("/app/installations", jwt=jwt)
    assert [i["id"] for i in installs] == [1]
    repos = await gh.getitem("/installation/repositories")
    assert repos["total_count"] == 1 and repos["repositories"][0]["full_name"] == f"{OWNER}/{REPO}"
    with pytest.raises(gidgethub.BadRequest) as err:
        await gh.getitem("/app/hook/config")  # an installation token is not the app's JWT
    assert err.value.status_code == 401


async def test_latency_knob_and_route_counts(fake_github: FakeGitHub, gh: GitHubAPI) -> None:
    fake_github.latency_ms = 50
    start = asyncio.get_running_loop().time()
    await gh.getitem(f"/repos/{OWNER}/{REPO}/pulls/{open_pr(fake_github)['number']}")
    await gh.getitem(f"/repos/{OWNER}/{REPO}/contents/README.md")
    assert asyncio.get_running_loop().time() - start >= 0.1
    assert fake_github.route_counts["GET /repos/{owner}/{repo}/pulls/{num}"] == 1
    assert fake_github.route_counts["GET /repos/{owner}/{repo}/contents/{path}"] == 1
