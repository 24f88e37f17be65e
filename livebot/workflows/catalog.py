"""Every command's name, words and help line: a leaf that intake, settings and help all read.

Adding a workflow: an entry here, its module (a `Workflow` over the entry), and one line in
livebot/queue/registry.py `WORKFLOWS`. Command words, job kinds, the `commands` keys of
`.github/livebot.yml`, metric labels and `@livebot help` all follow from these entries: each reader
takes a `Catalog` (this one unless told), so a test can hand it one with another workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
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
DEFAULT_WORKFLOW: Final = ANSWER.name
CANCEL: Final = "cancel"
HELP: Final = "help"
# A repository's learnings: rules its maintainers teach (livebot/workflows/teach.py).
LEARN: Final = "learn"
LEARNINGS: Final = "learnings"
FORGET: Final = "forget"
# The job of a mention whose author the repository does not trust.
REFUSE: Final = "refuse"
# The job that reads what people made of a pull request's review findings (no command).
FEEDBACK: Final = "feedback"


@dataclass(frozen=True)
class Catalog:
    """The workflows people can call, in the order `@livebot help` lists them."""

    entries: tuple[Entry, ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Every workflow's name: its job kind and its key under `commands:` in the settings."""
        return tuple(entry.name for entry in self.entries)

    @cached_property
    def command_words(self) -> Mapping[str, str]:
        """The word after the mention -> the command it starts (`cancel`, `help` and the
        learnings' commands included)."""
        words = {word: entry.name for entry in self.entries for word in entry.words}
        fixed = {name: name for name in (CANCEL, HELP, LEARN, LEARNINGS, FORGET)}
        return MappingProxyType({**words, **fixed})


CATALOG: Final = Catalog((ANSWER, REVIEW, GOAL, RESOLVE))
WORKFLOW_NAMES: Final = CATALOG.names
COMMAND_WORDS: Final = CATALOG.command_words
