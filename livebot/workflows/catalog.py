"""Every command's name, words and help line: a leaf that intake, settings and help all read.

Adding a workflow: an entry here, its module (a `Workflow` over the entry), and one line in
livebot/queue/registry.py `WORKFLOWS`. Command words, job kinds, the `commands` keys of
`.github/livebot.yml`, metric labels and `@livebot help` all follow from these entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Entry:
    """A workflow as people call it: its one name (job kind, run metadata, metric label, the
    settings' `commands` key), the words that start it, and its line in `@livebot help`."""

    name: str
    words: tuple[str, ...]
    usage: str
    does: str
    pull_requests_only: bool = False


ANSWER: Final = Entry(
    name="answer",
    words=(),
    usage="`@{slug} <question or request>`",
    does="answer in this thread, reading the code",
)
REVIEW: Final = Entry(
    name="review",
    words=("review",),
    usage="`@{slug} review` (on a pull request)",
    does="review the pull request: one review with inline comments and suggestions",
    pull_requests_only=True,
)
GOAL: Final = Entry(
    name="goal",
    words=("goal", "describe"),
    usage="`@{slug} goal` or `describe` (pull request)",
    does="say what the pull request is for, what it changes and what it lacks",
    pull_requests_only=True,
)
RESOLVE: Final = Entry(
    name="resolve",
    words=("resolve", "fix"),
    usage="`@{slug} resolve` or `@{slug} fix`",
    does="write a fix for this issue as a draft pull request (on my own PR: add a commit)",
)
# In the order `@livebot help` lists them.
ENTRIES: Final = (ANSWER, REVIEW, GOAL, RESOLVE)
WORKFLOW_NAMES: Final = tuple(entry.name for entry in ENTRIES)
DEFAULT_WORKFLOW: Final = ANSWER.name
CANCEL: Final = "cancel"
HELP: Final = "help"
# The job of a mention whose author the repository does not trust.
REFUSE: Final = "refuse"
COMMAND_WORDS: Final[dict[str, str]] = {
    **{word: entry.name for entry in ENTRIES for word in entry.words},
    CANCEL: CANCEL,
    HELP: HELP,
}
