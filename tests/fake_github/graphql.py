"""GitHub's GraphQL endpoint, as much of it as Livebot uses: a pull request's review threads,
their comments and reactions, and resolving a thread.

Every query is parsed, validated and executed by graphql-core against GitHub's own public schema
(`tests/fixtures/github-graphql/schema.graphql`, from `@octokit/graphql-schema`), so a field or
argument GitHub does not have is refused, as GitHub refuses it, with HTTP 200 and `errors`, and
every answer has the schema's shapes. The messages of validation errors are graphql-core's words,
not graphql-ruby's; the errors a resolver raises (NOT_FOUND, FORBIDDEN, pagination limits) carry
GitHub's `type` and its texts. The resolvers read the REST state of the fake: a thread is a
top-level review comment with its replies.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)

from tests.fake_github.common import Reply, iso

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub

SCHEMA = Path(__file__).parents[1] / "fixtures" / "github-graphql" / "schema.graphql"
GRAPHQL_DOCS = "https://docs.github.com/graphql"
# GitHub's connections take at most 100 nodes and need `first` or `last`.
MAX_NODES = 100
# The lines either side of a commented line whose change makes GitHub call a thread outdated.
DIFF_CONTEXT = 3
REACTION_CONTENT = {
    "+1": "THUMBS_UP",
    "-1": "THUMBS_DOWN",
    "laugh": "LAUGH",
    "confused": "CONFUSED",
    "heart": "HEART",
    "hooray": "HOORAY",
    "rocket": "ROCKET",
    "eyes": "EYES",
}


@functools.cache
def schema() -> GraphQLSchema:
    """GitHub's schema (built once per process: ~2 s). GitHub's SDL defines a few fields twice,
    which graphql-core's SDL check refuses: the schema is taken as GitHub serves it."""
    return build_schema(SCHEMA.read_text(), assume_valid_sdl=True)


def _error(kind: str, message: str, **extensions: Any) -> GraphQLError:
    """A resolver's error, with GitHub's `type` (moved to the top level when answered)."""
    return GraphQLError(message, extensions={"type": kind, **extensions})


def _page(field: str, items: list[Any], args: dict[str, Any], listed: bool) -> dict[str, Any]:
    """A connection over `items` as GitHub pages one: `first`/`last` required (unless the query
    asks only for `totalCount`), at most 100."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None and listed:
        raise _error(
            "MISSING_PAGINATION_BOUNDARIES",
            f"You must provide a `first` or `last` value to properly paginate the `{field}` "
            "connection.",
        )
    for name, value in (("first", first), ("last", last)):
        if value is not None and value > MAX_NODES:
            raise _error(
                "EXCESSIVE_PAGINATION",
                f"Requesting {value} records on the `{field}` connection exceeds the `{name}` "
                f"limit of {MAX_NODES} records.",
            )
    start = int(args["after"]) + 1 if args.get("after") else 0
    end = int(args["before"]) if args.get("before") else len(items)
    window = list(range(start, min(end, len(items))))
    if first is not None:
        window = window[:first]
    if last is not None:
        window = window[-last:] if last else []
    nodes = [items[i] for i in window]
    return {
        "totalCount": len(items),
        "nodes": nodes,
        "edges": [{"cursor": str(i), "node": items[i]} for i in window],
        "pageInfo": {
            "hasNextPage": bool(window) and window[-1] < len(items) - 1,
            "hasPreviousPage": bool(window) and window[0] > 0,
            "startCursor": str(window[0]) if window else None,
            "endCursor": str(window[-1]) if window else None,
        },
    }


def thread_id(root: int) -> str:
    """The global node id of the thread a top-level review comment starts."""
    return f"PRRT_kwDO{root:x}"


class GraphQL:
    """`POST /graphql`; mixed into FakeGitHub."""

    def _graphql_routes(self: FakeGitHub, r: web.UrlDispatcher) -> None:
        r.add_post("/graphql", self._graphql)

    def resolve_thread(self: FakeGitHub, root: int, by: str = "octocat") -> None:
        """A person resolves the thread review comment `root` starts (the test's side)."""
        self.resolved_threads[root] = by

    def react_review_comment(self: FakeGitHub, cid: int, content: str, user: str) -> None:
        """A person reacts to review comment `cid` (the test's side)."""
        reaction = {"id": self._new_id(), "user": self._user(user), "content": content}
        reaction["created_at"] = iso()
        self.review_comment_reactions.setdefault(cid, []).append(reaction)

    async def _graphql(self: FakeGitHub, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            raise Reply(
                401,
                "This endpoint requires you to be authenticated.",
                documentation_url=GRAPHQL_DOCS + "/guides/forming-calls-with-graphql"
                "#authenticating-with-graphql",
            )
        installation = self._check_token(request)
        data = await request.json()
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            raise Reply(400, "Problems parsing JSON")
        self.graphql_requests.append(data)
        try:
            document = parse(data["query"])
        except GraphQLError as e:
            return web.json_response({"errors": [_formatted(e)]})
        problems = validate(schema(), document)
        if problems:
            return web.json_response({"errors": [_formatted(e) for e in problems]})
        result = execute_sync(
            schema(),
            document,
            root_value=_Root(self, installation),
            variable_values=data.get("variables") or {},
            field_resolver=_field,
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [_formatted(e) for e in result.errors]
        return web.json_response(answer)


def _formatted(error: GraphQLError) -> dict[str, Any]:
    """An error as GitHub answers it: its `type` at the top level, next to `path`."""
    out: dict[str, Any] = dict(error.formatted)
    extensions = dict(out.pop("extensions", None) or {})
    if "type" in extensions:
        out["type"] = extensions.pop("type")
    if extensions:
        out["extensions"] = extensions
    return out


def _field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Dicts answer by key, objects by method; a callable value is called with the arguments."""
    name = info.field_name
    value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
    return value(info, **args) if callable(value) else value


class _Root:
    """Query and Mutation fields, as the installation `installation` sees them."""

    def __init__(self, fake: FakeGitHub, installation: int) -> None:
        self.fake = fake
        self.installation = installation

    def repository(self, info: GraphQLResolveInfo, owner: str, name: str, **_: Any) -> Any:
        if (owner, name) not in self.fake.repos:
            raise _error(
                "NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'."
            )
        return {
            "__typename": "Repository",
            "id": self.fake.repos[(owner, name)]["node_id"],
            "nameWithOwner": f"{owner}/{name}",
            "pullRequest": functools.partial(self._pull_request, owner, name),
        }

    def _pull_request(self, owner: str, name: str, info: GraphQLResolveInfo, number: int) -> Any:
        if (owner, name, number) not in self.fake.pulls:
            raise _error(
                "NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}."
            )
        return {
            "__typename": "PullRequest",
            "number": number,
            "reviewThreads": _connection(
                "reviewThreads", lambda: _threads(self.fake, owner, name, number)
            ),
        }

    def node(self, info: GraphQLResolveInfo, id: str) -> Any:
        for (owner, name, number), _pr in self.fake.pulls.items():
            for thread in _threads(self.fake, owner, name, number):
                if thread["id"] == id:
                    return thread
        raise _error("NOT_FOUND", f"Could not resolve to a node with the global id of '{id}'")

    def resolveReviewThread(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
        return self._set_resolved(input, resolved=True)

    def unresolveReviewThread(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
        return self._set_resolved(input, resolved=False)

    def _set_resolved(self, data: dict[str, Any], *, resolved: bool) -> Any:
        root = _thread_root(self.fake, data["threadId"])
        if root is None:
            raise _error(
                "NOT_FOUND",
                f"Could not resolve to a node with the global id of '{data['threadId']}'",
            )
        permissions = self.fake._permissions(self.installation)
        if permissions.get("pull_requests") != "write":
            raise _error("FORBIDDEN", "Resource not accessible by integration", saml_failure=False)
        if resolved:
            self.fake.resolved_threads[root] = self.fake.bot_login
        else:
            self.fake.resolved_threads.pop(root, None)
        owner, name, number = self.fake._review_comment_pr[root]
        thread = next(t for t in _threads(self.fake, owner, name, number) if t["_root"] == root)
        return {"clientMutationId": data.get("clientMutationId"), "thread": thread}


def _connection(field: str, items: Callable[[], list[Any]]) -> Callable[..., Any]:
    """A connection field: its items, paged by the query's arguments."""

    def resolve(info: GraphQLResolveInfo, **args: Any) -> Any:
        selected = {
            getattr(selection, "name", None) and selection.name.value  # type: ignore[attr-defined]
            for node in info.field_nodes
            for selection in (node.selection_set.selections if node.selection_set else ())
        }
        return _page(field, items(), args, listed=bool(selected & {"nodes", "edges"}))

    return resolve


def _thread_root(fake: FakeGitHub, node_id: str) -> int | None:
    """The top-level review comment of thread `node_id`, if there is such a thread."""
    for cid, comment in fake.review_comments.items():
        if "in_reply_to_id" not in comment and thread_id(cid) == node_id:
            return cid
    return None


def _threads(fake: FakeGitHub, owner: str, name: str, number: int) -> list[dict[str, Any]]:
    """The pull request's review threads, oldest first, with GitHub's fields."""
    comments = fake.review_comments_on(owner, name, number)
    pr = fake.pulls[(owner, name, number)]
    head = fake._pr_head_sha(pr)
    threads = []
    for root in (c for c in comments if "in_reply_to_id" not in c):
        replies = [c for c in comments if c.get("in_reply_to_id") == root["id"]]
        outdated = _outdated(fake, root, head)
        resolved_by = fake.resolved_threads.get(root["id"])
        nodes = [_comment(fake, c, outdated) for c in [root, *replies]]
        threads.append(
            {
                "__typename": "PullRequestReviewThread",
                "_root": root["id"],
                "id": thread_id(root["id"]),
                "path": root["path"],
                "line": None if outdated else root["line"],
                "originalLine": root["original_line"],
                "startLine": None if outdated else root.get("start_line"),
                "originalStartLine": root.get("original_start_line"),
                "diffSide": root["side"],
                "subjectType": "LINE",
                "isOutdated": outdated,
                "isResolved": resolved_by is not None,
                "isCollapsed": resolved_by is not None,
                "resolvedBy": None if resolved_by is None else _actor(fake, resolved_by),
                "viewerCanResolve": resolved_by is None,
                "viewerCanUnresolve": resolved_by is not None,
                "viewerCanReply": True,
                "comments": _connection("comments", lambda nodes=nodes: nodes),
            }
        )
    return threads


def _actor(fake: FakeGitHub, login: str) -> dict[str, Any]:
    """An `Actor`: GraphQL names a bot by its app's slug, without REST's `[bot]`."""
    user = fake._user(login)
    bot = user["type"] == "Bot"
    return {
        "__typename": "Bot" if bot else "User",
        "login": login.removesuffix("[bot]") if bot else login,
        "url": user["html_url"],
        "avatarUrl": user["avatar_url"],
    }


def _comment(fake: FakeGitHub, c: dict[str, Any], outdated: bool) -> dict[str, Any]:
    """A `PullRequestReviewComment` from the REST comment."""
    reactions = fake.review_comment_reactions.get(c["id"], [])
    groups = []
    for rest, content in REACTION_CONTENT.items():
        users = [r["user"]["login"] for r in reactions if r["content"] == rest]
        groups.append(
            {
                "content": content,
                "reactors": _connection("reactors", lambda u=users: [_actor(fake, x) for x in u]),
            }
        )
    return {
        "__typename": "PullRequestReviewComment",
        "id": c["node_id"],
        "databaseId": c["id"],
        "fullDatabaseId": str(c["id"]),
        "body": c["body"],
        "author": _actor(fake, c["user"]["login"]),
        "authorAssociation": c["author_association"],
        "createdAt": c["created_at"],
        "url": c["html_url"],
        "path": c["path"],
        "line": None if outdated else c.get("line"),
        "originalLine": c.get("original_line"),
        "outdated": outdated,
        "reactionGroups": groups,
    }


def _outdated(fake: FakeGitHub, root: dict[str, Any], head: str | None) -> bool:
    """GitHub's outdated: the commented lines (or their diff context) changed since the comment's
    commit, or the file is gone."""
    commit = root["commit_id"]
    if head is None or head == commit or commit not in fake.git.commits:
        return False
    before, after = fake.git.flat(commit), fake.git.flat(head)
    path = root["path"]
    if path not in after:
        return True
    if path not in before or before[path] == after[path]:
        return False
    old = fake.git.blobs[before[path][1]].decode(errors="replace").splitlines()
    new = fake.git.blobs[after[path][1]].decode(errors="replace").splitlines()
    first = (root.get("original_start_line") or root["original_line"] or 1) - DIFF_CONTEXT
    last = (root["original_line"] or 1) + DIFF_CONTEXT
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        # 1-based old lines i1+1..i2 changed (an insertion touches the gap before i1+1).
        if tag != "equal" and i1 + 1 <= last and max(i2, i1 + 1) >= first:
            return True
    return False
