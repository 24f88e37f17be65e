"""A pull request's review threads, read and resolved through GitHub's GraphQL API (REST has no
threads: it lists comments, not whether their conversation is resolved or outdated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

# Bounds: a pull request with more threads than this is read up to it (newest reviews last).
THREAD_PAGE: Final = 50
MAX_THREAD_PAGES: Final = 10
COMMENTS_PER_THREAD: Final = 50
THREADS_QUERY: Final = """
query($owner: String!, $name: String!, $number: Int!, $page: Int!, $comments: Int!,
      $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: $page, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved isOutdated path line originalLine startLine originalStartLine
          resolvedBy { login }
          comments(first: $comments) {
            nodes {
              databaseId body url authorAssociation createdAt
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
RESOLVE_MUTATION: Final = """
mutation($id: ID!) {
  resolveReviewThread(input: {threadId: $id}) { thread { id isResolved } }
}
"""


class GraphQLClient(Protocol):
    """What reading threads needs of the installation's client."""

    async def graphql(self, query: str, **variables: Any) -> Any: ...


@dataclass(frozen=True)
class ThreadComment:
    """One comment of a thread."""

    database_id: int
    author: str  # GraphQL's login: an app's bot is its slug, without REST's "[bot]"
    is_bot: bool
    association: str
    body: str
    url: str
    thumbs_up: int = 0
    thumbs_down: int = 0
    created_at: str = ""  # ISO 8601, as GitHub gives it


@dataclass(frozen=True)
class ReviewThread:
    """One review thread: where it is, its state on GitHub, its comments (first one first)."""

    id: str
    path: str
    line: int | None  # None once GitHub calls it outdated
    original_line: int | None
    start_line: int | None
    is_resolved: bool
    is_outdated: bool
    resolved_by: str | None
    comments: tuple[ThreadComment, ...]


async def read_threads(gh: GraphQLClient, repository: str, number: int) -> list[ReviewThread]:
    """The pull request's review threads, oldest first, up to the bounds above."""
    owner, _, name = repository.partition("/")
    threads: list[ReviewThread] = []
    after: str | None = None
    for _ in range(MAX_THREAD_PAGES):
        data = await gh.graphql(
            THREADS_QUERY,
            owner=owner,
            name=name,
            number=number,
            page=THREAD_PAGE,
            comments=COMMENTS_PER_THREAD,
            after=after,
        )
        page = data["repository"]["pullRequest"]["reviewThreads"]
        threads.extend(_thread(node) for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return threads


async def resolve_thread(gh: GraphQLClient, thread_id: str) -> None:
    """Mark the thread resolved (GraphQLException when GitHub refuses)."""
    await gh.graphql(RESOLVE_MUTATION, id=thread_id)


def _thread(node: dict[str, Any]) -> ReviewThread:
    resolved_by = node.get("resolvedBy") or {}
    return ReviewThread(
        id=node["id"],
        path=node["path"],
        line=node.get("line"),
        original_line=node.get("originalLine"),
        start_line=node.get("startLine"),
        is_resolved=bool(node["isResolved"]),
        is_outdated=bool(node["isOutdated"]),
        resolved_by=resolved_by.get("login"),
        comments=tuple(_comment(c) for c in node["comments"]["nodes"]),
    )


def _comment(node: dict[str, Any]) -> ThreadComment:
    # A deleted account is GitHub's "ghost": author null.
    author = node.get("author") or {"__typename": "User", "login": "ghost"}
    reactions = {
        group["content"]: group["reactors"]["totalCount"]
        for group in node.get("reactionGroups") or []
    }
    return ThreadComment(
        database_id=node["databaseId"],
        author=author["login"],
        is_bot=author["__typename"] == "Bot",
        association=node.get("authorAssociation") or "NONE",
        body=node.get("body") or "",
        url=node.get("url") or "",
        thumbs_up=reactions.get("THUMBS_UP", 0),
        thumbs_down=reactions.get("THUMBS_DOWN", 0),
        created_at=node.get("createdAt") or "",
    )
