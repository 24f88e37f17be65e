"""The prompt builders as pure functions: exact inputs, exact outputs."""

from __future__ import annotations

import json
from typing import Any

from livebot.llm.prompts import CONTINUE_PROMPT, chat
from livebot.llm.thread import COMMENT_CHARS, CONTEXT_BUDGET_CHARS, ISSUE_BODY_CHARS, thread_data
from livebot.workflows.answer import system_prompt

REPO = {"full_name": "octo/hello", "description": None}
ISSUE = {
    "number": 7,
    "title": "It crashes",
    "user": {"login": "alice"},
    "state": "open",
    "body": "Steps: run it.",
}


def comment(login: str, body: str, when: str = "2026-11-24T10:00:00Z") -> dict[str, Any]:
    """A comment as GitHub's REST API lists it."""
    return {
        "user": {"login": login},
        "author_association": "MEMBER",
        "created_at": when,
        "body": body,
    }


def test_thread_data_quotes_the_issue_and_its_comments() -> None:
    data = thread_data(REPO, ISSUE, [comment("bob", "Same here")], "why?")
    assert data == {
        "repository": {"name": "octo/hello", "description": ""},
        "issue": {
            "number": 7,
            "kind": "issue",
            "title": "It crashes",
            "author": "alice",
            "state": "open",
            "body": "Steps: run it.",
        },
        "comments_omitted": 0,
        "comments": [
            {
                "author": "bob",
                "association": "MEMBER",
                "created_at": "2026-11-24T10:00:00Z",
                "body": "Same here",
            }
        ],
        "request": "why?",
    }


def test_a_pull_request_is_called_one() -> None:
    data = thread_data(REPO, {**ISSUE, "pull_request": {}}, [], "")
    assert data["issue"]["kind"] == "pull request"


def test_long_texts_are_cut_with_a_mark() -> None:
    issue = {**ISSUE, "body": "x" * (ISSUE_BODY_CHARS + 10)}
    data = thread_data(REPO, issue, [comment("bob", "y" * (COMMENT_CHARS + 10))], "")
    assert data["issue"]["body"] == "x" * ISSUE_BODY_CHARS + " […cut]"
    assert data["comments"][0]["body"] == "y" * COMMENT_CHARS + " […cut]"


def test_the_newest_comments_are_kept_when_the_budget_runs_out() -> None:
    per_comment = COMMENT_CHARS
    count = CONTEXT_BUDGET_CHARS // per_comment + 3
    thread = [comment(f"user{n}", str(n) * per_comment) for n in range(count)]
    data = thread_data(REPO, ISSUE, thread, "")
    kept = [entry["author"] for entry in data["comments"]]
    assert kept == [f"user{n}" for n in range(count - len(kept), count)]
    assert data["comments_omitted"] == count - len(kept) > 0


def test_the_chat_puts_the_data_in_a_user_message_as_json() -> None:
    data = {"request": "why?"}
    assert chat("Be brief.", data) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": json.dumps(data, ensure_ascii=False, indent=1)},
    ]


def test_an_interrupted_answer_is_continued_not_repeated() -> None:
    assert chat("Be brief.", {}, "The cause is")[-2:] == [
        {"role": "assistant", "content": "The cause is"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]


def test_the_answer_prompt_names_the_app_the_asker_and_the_commit() -> None:
    prompt = system_prompt("livebot", "octo/hello", "alice", "0123abc")
    assert prompt.startswith("You are livebot, a GitHub App")
    assert "octo/hello" in prompt and "@alice" in prompt and "commit 0123abc" in prompt
    assert "{" not in prompt
