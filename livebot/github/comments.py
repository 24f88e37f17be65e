"""The texts livebot posts on GitHub."""

from __future__ import annotations

import re
from typing import Final

from livebot.runs.log import RUN_PAGE

MARKER: Final = "<!-- livebot:run:{run_id} -->"
MARKER_PATTERN: Final = re.compile(r"<!-- livebot:run:([0-9a-f]+) -->")
PLACEHOLDER: Final = "👀 Working on it… [watch the answer being written live]({url}).\n\n{marker}"
PROGRESS: Final = (
    "👀 Working on it… {activity} ({elapsed} so far). "
    "[Watch the answer being written live]({url}).\n\n{marker}"
)
DELAYED: Final = (
    "👀 Working on it… delayed by an outage on our side; it goes on by itself, no need to ask "
    "again. [Watch the answer being written live]({url}).\n\n{marker}"
)
FOOTER: Final = "<sub>[Run log]({url}) · {model} · {tokens} tokens{cost} · {duration}</sub>"
COST: Final = " · ${cost:.4f}"
ESTIMATED_TOKENS: Final = "~{tokens:,} (estimated)"
OVER_BUDGET: Final = (
    "Sorry @{author}, this installation of @{slug} has used today's token budget "
    "({budget:,} tokens). It renews at midnight UTC."
)
TRUNCATED_NOTE: Final = (
    "*The answer was cut to fit GitHub's comment limit; the full text is on the [run page]({url}).*"
)
FAILED: Final = (
    "⚠️ I could not finish this: {reason}.\n\n"
    "To try again, mention @{slug} again. [Run log]({url})\n\n{marker}"
)
# GitHub takes 65,536 characters; the rest is for the note and its link.
MAX_PARTIAL_CHARS: Final = 64_000
CANCELLED: Final = "⏹️ Cancelled {by}. [Run log]({url})\n\n{marker}"
REFUSAL: Final = (
    "Hi @{author}, thanks for the mention! Only this repository's owners, members and "
    "collaborators can ask @{slug} to work. A maintainer can ask on your behalf."
)
TURNED_OFF: Final = (
    "@{author}, `{command}` is turned off in this repository's `.github/livebot.yml`."
)
PULL_REQUESTS_ONLY: Final = "@{author}, `{command}` works on pull requests; this is an issue."
NOTHING_TO_CANCEL: Final = "@{author}, nothing is running in this thread."
HELP_INTRO: Final = """\
Hi @{author}! Mention @{slug} followed by what you need:

| you write | I do |
|---|---|"""
HELP_ROW: Final = "| {usage} | {does} |"
HELP_TURNED_OFF: Final = "\n\nTurned off in this repository's `.github/livebot.yml`: {commands}."
HELP_OUTRO: Final = (
    "To start, mention @{slug} with a question in any issue or pull request of a repository it "
    "is installed on (installing it posts nothing). While I work, the link in my first reply "
    "shows the answer being written, live. Settings per repository: `.github/livebot.yml`."
)


def marker(run_id: str) -> str:
    """The hidden marker that ties a comment to its run."""
    return MARKER.format(run_id=run_id)


def with_partial(partial: str, note: str) -> str:
    """The text written before a run stopped, kept above the note that says why."""
    if not partial.strip():
        return note
    room = MAX_PARTIAL_CHARS - len(note)
    shown = partial if len(partial) <= room else partial[:room] + "…"
    return f"{shown}\n\n---\n\n{note}"


def footer(
    url: str,
    model: str,
    tokens: int,
    seconds: float,
    cost: float | None = None,
    *,
    estimated: bool = False,
) -> str:
    """The small line under a final answer: run link, model, tokens (`estimated` when the
    server counted none), estimated cost, time."""
    shown_cost = COST.format(cost=cost) if cost is not None else ""
    shown_tokens = ESTIMATED_TOKENS.format(tokens=tokens) if estimated else f"{tokens:,}"
    return FOOTER.format(
        url=url, model=model, tokens=shown_tokens, cost=shown_cost, duration=duration(seconds)
    )


def duration(seconds: float) -> str:
    """Seconds as a person reads them: `12.3 s`, `4.5 min`."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def help_text(author: str, slug: str, rows: list[tuple[str, str]]) -> str:
    """The list of commands: one row per (what you write, what happens)."""
    table = [HELP_ROW.format(usage=usage, does=does) for usage, does in rows]
    return "\n".join([HELP_INTRO, *table, "", HELP_OUTRO]).format(author=author, slug=slug)


def cancelled_by(who: str) -> str:
    """Who stopped a run, as a sentence says it: "by @login" or "from the run page"."""
    return f"from {RUN_PAGE}" if who == RUN_PAGE else f"by @{who}"
