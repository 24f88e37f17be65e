"""Mentions and commands: what a comment asks of the app."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from livebot.workflows.catalog import CATALOG, DEFAULT_WORKFLOW, Catalog

# Fenced blocks, inline code spans and quoted lines are not the author speaking to the app.
_FENCED: Final = re.compile(r"^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)", re.M | re.S)
_INLINE_CODE: Final = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_QUOTED: Final = re.compile(r"^[ \t]*>.*$", re.M)


@dataclass(frozen=True)
class Command:
    """A request to the app: the command's name and the words that came with it."""

    name: str
    text: str


@functools.cache
def mention_pattern(slug: str) -> re.Pattern[str]:
    """`@slug` on a word boundary, case-insensitive (`@slug-bot` or `a@slug` are not it)."""
    return re.compile(rf"(?<![\w@/.-])@{re.escape(slug)}(?![\w-])", re.I)


def speech(body: str) -> str:
    """The body without code blocks, code spans and quoted lines."""
    return _QUOTED.sub("", _INLINE_CODE.sub("", _FENCED.sub("", body)))


def parse_command(body: str | None, slug: str, catalog: Catalog = CATALOG) -> Command | None:
    """The command a comment gives the app (one of `catalog`'s), or None when it does not
    mention the app."""
    prose = speech(body or "")
    match = mention_pattern(slug).search(prose)
    if match is None:
        return None
    rest = prose[match.end() :].lstrip(",:;- \t").strip()
    word, _, remainder = rest.partition(" ")
    name = catalog.command_words.get(word.strip(".,:;!?").lower())
    if name is None:
        return Command(DEFAULT_WORKFLOW, rest)
    return Command(name, remainder.strip())
