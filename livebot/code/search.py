"""`search_code`'s engine: RE2 over the files' texts, in a thread, under one deadline.

Why RE2 in a thread: RE2 matches in time linear in the text, within the memory `max_mem` gives
it, and refuses what needs backtracking; and it releases the GIL while it matches, so the event
loop keeps serving pages while a thread scans (measured: a thread running one RE2 call left a
pure-Python loop on the main thread at half its idle speed, on 2 busy cores, where `bytes.find`
stopped it at 3 %). A worker process would have to be sent the snapshot's texts (tens of MB)
for each search, and would still run a backtracking engine until its deadline.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import re2

MAX_MATCHES: Final = 100
MAX_MATCH_LINE_CHARS: Final = 300
SEARCH_SECONDS: Final = 10.0  # the whole search; 52 MB of code takes under half a second
# RE2's memory for one pattern: a program that needs more is refused; a DFA that needs more
# gives way to a slower automaton, still linear.
PATTERN_MEMORY: Final = 8 << 20
# The most one RE2 call scans: the deadline is checked between calls.
CHUNK_BYTES: Final = 256 * 1024
# Searches at once, each a thread; more wait their turn (their deadline runs meanwhile). Not
# the default executor, which aiohttp's DNS lookups need.
_searches = ThreadPoolExecutor(max_workers=2, thread_name_prefix="search")

UNSUPPORTED: Final = (
    "lookarounds, backreferences, atomic groups and possessive quantifiers are not supported, "
    "and repeat counts may reach 1,000 in all"
)


class SearchError(Exception):
    """The search could not run or finish; the message tells the model what to do instead."""


@dataclass(frozen=True)
class Found:
    """The first matching lines (`path:number: text`), how many lines matched, in how many files."""

    lines: list[str]
    total: int
    files: int


def _compile(pattern: str, *, literal: bool = False) -> re2._Regexp:
    options = re2.Options()
    options.max_mem = PATTERN_MEMORY
    # No match spans a line break, so a whole file is searched at once, line by line in effect.
    options.never_nl = True
    options.never_capture = True
    options.literal = literal
    options.log_errors = False
    # Not `re2.compile`: it keeps the last 128 patterns, each with up to `max_mem` of DFA.
    return re2._Regexp(pattern, options)


# The line breaks `str.splitlines` (and so `read_file`) knows besides "\n".
_OTHER_BREAKS: Final = _compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


# On one line, `\A`, `\Z` and `\z` are where the line starts and ends: in a whole file, `^` and `$`.
_LINE_ANCHORS: Final = {"A": "^", "Z": "$", "z": "$"}


def _per_line(query: str) -> str:
    """The query over a whole file, with the meaning it has on each of its lines."""
    escapes = re.sub(r"\\(.)", lambda m: _LINE_ANCHORS.get(m[1], m[0]), query, flags=re.S)
    return f"(?m){escapes}"


def compile_query(query: str) -> re2._Regexp:
    """The query as a regular expression if it is one, else as literal text."""
    try:
        return _compile(_per_line(query))
    except re2.error as exc:
        said = exc.args[0]  # RE2's message, in bytes
        reason = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    try:
        re.compile(query)
    except re.error:
        return _compile(query, literal=True)
    except OverflowError:
        pass  # a repeat count past even Python's limit: a regular expression, refused below
    raise SearchError(
        f"use a literal or a simpler pattern: `{query}` cannot be searched ({reason}); "
        f"{UNSUPPORTED}"
    )


def _lines(text: str) -> bytes:
    """The text in UTF-8 with "\n" after each line, numbered as `read_file` numbers them."""
    data = text.encode()
    if _OTHER_BREAKS.search(data) is not None:
        return "".join(f"{line}\n" for line in text.splitlines()).encode()
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _matching_lines(
    data: bytes, pattern: re2._Regexp, deadline: float
) -> Iterator[tuple[int, bytes]]:
    """Each line of `data` that `pattern` matches, with its number."""
    position, number, counted = 0, 1, 0
    while position < len(data):
        if time.monotonic() >= deadline:
            raise SearchError(
                "the search took too long; use a literal or a simpler pattern, or narrow `path`"
            )
        end = data.find(b"\n", position + CHUNK_BYTES)
        end = len(data) - 1 if end < 0 else end
        match = pattern.search(data, position, end)
        if match is None:
            position = end + 1
            continue
        start = data.rfind(b"\n", 0, match.start()) + 1
        stop = data.index(b"\n", match.start())
        number += data.count(b"\n", counted, start)
        counted = start
        yield number, data[start:stop]
        position = stop + 1


def _scan(
    texts: list[tuple[str, str]], pattern: re2._Regexp, glob: str | None, deadline: float
) -> Found:
    lines: list[str] = []
    total = files = 0
    for path, text in sorted(texts):
        if glob and not fnmatch.fnmatch(path, glob):
            continue
        found = 0
        for number, line in _matching_lines(_lines(text), pattern, deadline):
            found += 1
            if len(lines) < MAX_MATCHES:
                lines.append(f"{path}:{number}: {line.decode()[:MAX_MATCH_LINE_CHARS]}")
        total += found
        files += found > 0
    return Found(lines, total, files)


async def search(
    texts: list[tuple[str, str]], query: str, glob: str | None, seconds: float = SEARCH_SECONDS
) -> Found:
    """The lines of `texts` (path, text) matching `query`, among paths matching `glob`."""
    deadline = time.monotonic() + seconds

    def run() -> Found:
        return _scan(texts, compile_query(query), glob, deadline)

    return await asyncio.get_running_loop().run_in_executor(_searches, run)
