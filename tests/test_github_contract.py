"""GitHub's contract: every request Livebot makes is an operation GitHub's own REST description
documents, enabled for GitHub Apps, in every GHES version (tests/fixtures/github-openapi)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import aiohttp

from livebot.github import comments
from tests.fake_github import FakeGitHub, contract
from tests.fake_openai import FakeOpenAI, Reply
from tests.sse import SseEvent
from tests.support import OWNER, REPO, SLUG, ServerProcess, delivery, eventually, payload
from tests.test_end_to_end import (
    ANSWER,
    StartServe,
    events_url,
    livebot,
    mention_on_github,
    post_delivery,
    read_run,
)
from tests.test_resolve import fix_script, seed
from tests.test_resolve_end_to_end import resolve_delivery
from tests.test_review import DIVISION, PR, open_pr, submit
from tests.test_review_end_to_end import mention_review

__all__ = ["livebot"]  # the fixture, shared with tests/test_end_to_end.py

ROOT = Path(__file__).parents[1]
# Where Livebot talks to GitHub's REST API (the web tier only signs people in; its other paths are
# ours).
SOURCES = [
    *(p for p in (ROOT / "livebot").rglob("*.py") if "web" not in p.relative_to(ROOT).parts),
    ROOT / "livebot/web/accounts/signin.py",
]
# Called with a person's token (sign-in) or with no token at all (the manifest's code).
NOT_AS_AN_APP = {"users/get-authenticated", "apps/create-from-manifest"}
ANY = "{}"  # a segment our code fills at run time
REST = "{*}"  # one or more segments (a file path, a branch name split on `/`)
# Every REST path is built by bot/api_path.py; these are its builders and the Job's shorthands,
# each with the segments it puts first.
BUILDERS: dict[str, list[str]] = {
    "api_path": [],
    "repo_path": ["repos", ANY, ANY],  # its first argument is `owner/repo`
    "issue_path": ["repos", ANY, ANY, "issues", ANY],
    "thread_comments_path": ["repos", ANY, ANY, ANY, ANY, "comments"],
    "comment_path": ["repos", ANY, ANY, ANY, "comments"],
}


def _segment(node: ast.expr) -> str:
    if isinstance(node, ast.Starred):
        return REST
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ANY


def _templates(source: Path) -> list[list[str]]:
    """The segments of every REST path `source` builds (a call of one of the builders)."""
    found = []
    for node in ast.walk(ast.parse(source.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in BUILDERS:
            continue
        args = node.args[1:] if name == "repo_path" else node.args
        if name == "thread_comments_path":
            args = []  # its one positional argument is the query
        segments = [*BUILDERS[name], *map(_segment, args)]
        # The builders' own definitions pass their `*segments` on: not a path of their own.
        if segments and segments[-1] == REST and len(segments) == len(BUILDERS[name]) + 1:
            continue
        found.append(segments)
    return found


def _fits(ours: list[str], theirs: list[str]) -> bool:
    """Whether a path of ours can be an instance of GitHub's template."""
    if not ours or not theirs:
        return not ours and not theirs
    head, documented = ours[0], theirs[0]
    if head == REST:
        return any(_fits(ours[1:], theirs[i:]) for i in range(1, len(theirs) + 1))
    param = documented.startswith("{")
    if param and len(theirs) == 1:
        return True  # a last parameter (`{ref}`, `{path}`) spans the rest: `heads/a/b`
    # A run-time value (ANY) may be this literal: `issues` or `pulls`.
    if head != ANY and not param and head != documented:
        return False
    return _fits(ours[1:], theirs[1:])


def test_every_path_template_in_our_code_is_in_githubs_description() -> None:
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        for segments in _templates(source):
            found.setdefault("/" + "/".join(segments), []).append(source.name)
    assert len(found) > 30, sorted(found)
    for template, where in found.items():
        ours = template.strip("/").split("/")
        ops = [
            op
            for op in contract.operations()
            if op.livebot and _fits(ours, op.path.strip("/").split("/"))
        ]
        # (Our templates carry no method: any operation of ours on that path will do.)
        assert ops, f"{template} ({where}) is in no operation of ours in the extract"
        for op in ops:
            as_app = op.enabled_for_apps or op.jwt or op.operation_id in NOT_AS_AN_APP
            assert as_app, f"{template} ({where}): {op.operation_id} is not for GitHub Apps"


def test_the_extract_covers_what_livebot_calls_in_every_ghes_version() -> None:
    versions = contract.extract()["ghes_versions"]
    assert versions and contract.extract()["source"]["package"] == "@octokit/openapi"
    ours = [op for op in contract.operations() if op.livebot]
    assert len(ours) >= 38
    for op in ours:
        assert op.ghec and list(op.ghes) == versions, (op.operation_id, op.ghes)
    replies = contract.match("POST", f"/repos/{OWNER}/{REPO}/pulls/7/comments/1/replies")
    assert replies is not None and not replies.enabled_for_apps and not replies.livebot
    assert contract.match("GET", f"/repos/{OWNER}/{REPO}/git/blobs/abc123") is not None


# ---- representative runs end to end -----------------------------------------------------------
def _bot_comment_with(fake: FakeGitHub, marker: str) -> bool:
    every = [*fake.comments.values(), *fake.review_comments.values()]
    return any(c["user"]["login"] == fake.bot_login and marker in c["body"] for c in every)


async def _run(
    session: aiohttp.ClientSession,
    server: ServerProcess,
    fake: FakeGitHub,
    sent: tuple[bytes, dict[str, str]],
) -> list[SseEvent]:
    """Deliver; once the run's placeholder is on GitHub, read the run to its end."""
    status, reply = await post_delivery(session, server, *sent)
    assert status == 202 and reply["outcome"] == "queued", reply
    marker = comments.marker(reply["run_id"])
    await eventually(lambda: _bot_comment_with(fake, marker), "the placeholder", seconds=20)
    events = await read_run(session, events_url(server, reply["run_id"]), seconds=30)
    assert events[-1].data["status"] == "succeeded", [e.data for e in events[-3:]]
    return events


def _thread_mention(fake: FakeGitHub, first: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """`@livebot-test why?` replying in the review thread that starts with `first`."""
    mention = fake.add_review_comment(
        OWNER, REPO, PR, first["path"], first["line"], f"@{SLUG} why?", in_reply_to=first["id"]
    )
    data = payload("pull_request_review_comment", "created.payload.json", body=mention["body"])
    data["pull_request"]["number"] = PR
    data["comment"].update(id=mention["id"], in_reply_to_id=first["id"])
    data["comment"]["user"].update(login="Codertocat", type="User")
    data["sender"].update(login="Codertocat", type="User")
    return delivery("pull_request_review_comment", data)


def _pr_mention(fake: FakeGitHub, words: str) -> tuple[bytes, dict[str, str]]:
    data = mention_review(fake)
    data["comment"]["body"] = fake.comments[data["comment"]["id"]]["body"] = f"@{SLUG} {words}"
    return delivery("issue_comment", data)


async def test_every_request_of_representative_runs_is_a_documented_app_operation(
    livebot: StartServe, fake_github: FakeGitHub, fake_openai: FakeOpenAI
) -> None:
    seed(fake_github)
    open_pr(fake_github)
    first = fake_github.add_review_comment(OWNER, REPO, PR, "app/calc.py", 10, "Is this safe?")
    server = await livebot()
    async with aiohttp.ClientSession() as session:
        fake_openai.script(Reply(text=ANSWER))
        _, body, headers = mention_on_github(fake_github)
        await _run(session, server, fake_github, (body, headers))
        fake_openai.script(submit(DIVISION))
        await _run(
            session, server, fake_github, delivery("issue_comment", mention_review(fake_github))
        )
        fake_openai.script(Reply(text="Because `b` may be 0."))
        await _run(session, server, fake_github, _thread_mention(fake_github, first))
        fake_openai.script(Reply(text="It documents `divide` and splits `mean`."))
        await _run(session, server, fake_github, _pr_mention(fake_github, "goal"))
        fake_openai.script(*fix_script())
        await _run(session, server, fake_github, resolve_delivery(fake_github, f"@{SLUG} fix"))

    # The thread's answer replied to the thread's first comment, the App way.
    replies = [c for c in fake_github.review_comments.values() if c.get("in_reply_to_id")]
    assert [
        c["in_reply_to_id"] for c in replies if c["user"]["login"] == fake_github.bot_login
    ] == [first["id"]]
    assert not fake_github.requests_to("POST", "/repos/*/replies")

    versions = contract.extract()["ghes_versions"]
    seen: set[str] = set()
    problems: list[str] = []
    for q in fake_github.requests:
        if contract.WEB_PAGES.match(q.path):  # the tarball's redirect target, on codeload
            continue
        op = contract.match(q.method, q.path)
        if op is None:
            problems.append(f"undocumented: {q.method} {q.path}")
            continue
        seen.add(op.operation_id)
        token = q.headers.get("authorization", "").partition(" ")[2]
        if token in fake_github.tokens and not op.enabled_for_apps:
            problems.append(f"{op.operation_id} is not enabled for GitHub Apps")
        if token not in fake_github.tokens and not op.jwt:
            problems.append(f"{op.operation_id} was called without an installation token")
        if list(op.ghes) != versions:
            problems.append(f"{op.operation_id} is only in GHES {op.ghes}")
        if str(q.status) not in op.responses:
            problems.append(f"{q.method} {q.path} answered {q.status}, not in {op.responses}")
        if op.missing_body(q.json):
            problems.append(f"{op.operation_id} lacked {op.missing_body(q.json)}")
    assert problems == []
    # The runs did what they stand for: each of these was called at least once.
    assert {
        "apps/create-installation-access-token",
        "issues/create-comment",
        "issues/update-comment",
        "reactions/create-for-issue-comment",
        "reactions/create-for-pull-request-review-comment",
        "pulls/create-review",
        "pulls/create-review-comment",
        "pulls/update-review-comment",
        "pulls/list-files",
        "repos/download-tarball-archive",
        "git/create-tree",
        "git/create-commit",
        "git/create-ref",
        "pulls/create",
    } <= seen, sorted(seen)
