"""An issue or pull request thread as data for the model: quoted, trimmed to a budget."""

from __future__ import annotations

from typing import Any, Final

# Budgets in characters (about four per token): tiktoken cannot be used offline.
CONTEXT_BUDGET_CHARS: Final = 48_000
ISSUE_BODY_CHARS: Final = 16_000
COMMENT_CHARS: Final = 6_000


def _cut(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + " […cut]"


def thread_data(
    repo: dict[str, Any], issue: dict[str, Any], thread: list[dict[str, Any]], request: str
) -> dict[str, Any]:
    """The thread as data for the model, newest comments kept when the budget runs out."""
    kept: list[dict[str, Any]] = []
    spent = len(issue.get("body") or "")
    for comment in reversed(thread):
        entry = {
            "author": comment["user"]["login"],
            "association": comment.get("author_association"),
            "created_at": comment.get("created_at"),
            "body": _cut(comment.get("body"), COMMENT_CHARS),
        }
        spent += len(entry["body"]) + 100
        if spent > CONTEXT_BUDGET_CHARS:
            break
        kept.append(entry)
    kept.reverse()
    return {
        "repository": {"name": repo["full_name"], "description": repo.get("description") or ""},
        "issue": {
            "number": issue["number"],
            "kind": "pull request" if "pull_request" in issue else "issue",
            "title": issue["title"],
            "author": issue["user"]["login"],
            "state": issue.get("state"),
            "body": _cut(issue.get("body"), ISSUE_BODY_CHARS),
        },
        "comments_omitted": len(thread) - len(kept),
        "comments": kept,
        "request": request,
    }
