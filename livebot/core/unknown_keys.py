"""Variables that look like settings but are none: a warning each, with what was likely meant."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

# The prefixes of livebot's own settings (and of the services they name).
PREFIXES: Final = ("LIVEBOT_", "GITHUB_", "OPENAI_")
# Read from the same `.env` by others: Compose interpolates compose.yaml with these.
OTHER_READERS: Final = frozenset(
    {"LIVEBOT_HTTP_PORT", "GITHUB_APP_KEY_FILE", "LIVEBOT_METRICS_TOKEN_FILE"}
)
# Names other tools use for what livebot calls otherwise (the openai package before 1.0).
RENAMED: Final = {"OPENAI_API_BASE": "OPENAI_BASE_URL"}
# How alike a name in the process environment must be to one of ours to be taken for a
# misspelling: GitHub Actions' GITHUB_* and other tools' OPENAI_* stay below it (GITHUB_USER
# against GITHUB_URL is 0.86; OPENAI_APIKEY against OPENAI_API_KEY is 0.96).
TYPO_CUTOFF: Final = 0.88
# `.env` is ours: every unknown name there is named, with a guess down to this likeness.
GUESS_CUTOFF: Final = 0.8


@dataclass(frozen=True)
class UnknownKey:
    """A variable with one of our prefixes that no setting reads, and what it may have meant."""

    name: str
    source: str
    meant: str | None

    @property
    def text(self) -> str:
        """The warning, in one line."""
        guess = f"; did you mean {self.meant}?" if self.meant else ""
        return f"{self.name} (in {self.source}) is not a livebot setting{guess}"


def _guess(name: str, known: Collection[str], cutoff: float) -> str | None:
    if name in RENAMED:
        return RENAMED[name]
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_keys(
    known: Collection[str],
    file_names: Iterable[str],
    env_file: str,
    process_names: Iterable[str],
) -> list[UnknownKey]:
    """Every unknown name in `.env`; those in the environment only when one of ours is close."""
    found = [
        UnknownKey(name, env_file, _guess(name, known, GUESS_CUTOFF))
        for name in file_names
        if name.startswith(PREFIXES) and name not in known and name not in OTHER_READERS
    ]
    for name in process_names:
        if not name.startswith(PREFIXES) or name in known or name in OTHER_READERS:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=TYPO_CUTOFF)
        if close:
            found.append(UnknownKey(name, "the environment", close[0]))
    return found
