"""The tools a model may call, and the read-only repository tools every workflow has.

A tool that fails returns an error text to the model, which can correct itself; it never crashes
the run. Every result is capped and says when it was cut.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from openai.types.chat import ChatCompletionToolParam

from livebot.code.search import SearchError, search
from livebot.code.snapshots import FileUnavailable, Snapshot

MAX_LISTED: Final = 400
MAX_READ_LINES: Final = 400
MAX_READ_CHARS: Final = 40_000
MAX_PATTERN_CHARS: Final = 300


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns: text for the model, a one-line summary for the page, extra fields."""

    content: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    # The workflow's closing call (submit_review, finish): the conversation ends with it.
    ends: bool = False


ToolFunction = Callable[[dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    """A function the model can call: its name, what it is for, its JSON Schema, its code."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolFunction

    def schema(self) -> ChatCompletionToolParam:
        """The tool as Chat Completions offers it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def clean_path(raw: Any, *, allow_root: bool = False) -> str:
    """A repository-relative path, or ToolError for anything that could leave the repository."""
    if not isinstance(raw, str) or "\0" in raw or "\\" in raw:
        raise ToolError("path must be a repository-relative path such as `src/app.py`")
    text = raw.strip()
    if text.startswith("/") or text.startswith("~"):
        raise ToolError(f"`{raw}` is absolute; use a path relative to the repository's root")
    if ".." in text.split("/"):
        raise ToolError(f"`{raw}` leaves the repository (`..` is not allowed)")
    path = posixpath.normpath(text) if text else ""
    path = "" if path == "." else path
    if not path and not allow_root:
        raise ToolError("path is required")
    return path


def _int(arguments: dict[str, Any], name: str) -> int | None:
    value = arguments.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"`{name}` must be a positive line number")
    return value


def repository_tools(files: Callable[[], Awaitable[Snapshot]]) -> list[Tool]:
    """`list_files`, `read_file` and `search_code` over one commit of the repository."""

    async def list_files(arguments: dict[str, Any]) -> ToolResult:
        folder = clean_path(arguments.get("path") or "", allow_root=True)
        pattern = arguments.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise ToolError("`pattern` must be a glob such as `*.py`")
        prefix = f"{folder}/" if folder else ""
        snapshot = await files()
        found = [p for p in snapshot.paths if p.startswith(prefix)]
        if pattern:
            found = [
                p
                for p in found
                if fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(posixpath.basename(p), pattern)
            ]
        if not found:
            raise ToolError(
                f"no files under `{folder or '/'}`" + (f" match `{pattern}`" if pattern else "")
            )
        shown = found[:MAX_LISTED]
        cut = (
            f"\n[…{len(found) - len(shown)} more files not listed]"
            if len(found) > len(shown)
            else ""
        )
        where = f"under {folder}/" if folder else "in the repository"
        return ToolResult("\n".join(shown) + cut, f"{len(found)} files {where}")

    async def read_file(arguments: dict[str, Any]) -> ToolResult:
        path = clean_path(arguments.get("path"))
        snapshot = await files()
        try:
            text = await snapshot.read(path)
        except FileUnavailable as exc:
            raise ToolError(str(exc)) from None
        lines = text.splitlines()
        start = _int(arguments, "start_line") or 1
        wanted = min(_int(arguments, "end_line") or len(lines), len(lines))
        if start > max(len(lines), 1):
            raise ToolError(f"{path} has {len(lines)} lines; start_line {start} is past the end")
        end = min(wanted, start + MAX_READ_LINES - 1)
        numbered: list[str] = []
        size = 0
        for number in range(start, end + 1):
            line = f"{number:>5}  {lines[number - 1]}"
            size += len(line) + 1
            if size > MAX_READ_CHARS:
                end = number - 1
                break
            numbered.append(line)
        cut = ""
        if end < wanted:
            cut = f"\n[…cut at line {end} of {len(lines)}; ask for start_line {end + 1} to read on]"
        span = (
            f"lines {start}–{end} of {path}"
            if (start, end) != (1, len(lines))
            else f"{len(lines)} lines of {path}"
        )
        return ToolResult("\n".join(numbered) + cut, span)

    async def search_code(arguments: dict[str, Any]) -> ToolResult:
        query = arguments.get("query")
        if not isinstance(query, str) or not query or len(query) > MAX_PATTERN_CHARS:
            raise ToolError(
                f"`query` must be a literal or a regular expression of 1–{MAX_PATTERN_CHARS} "
                "characters"
            )
        glob = arguments.get("path")
        if glob is not None and (not isinstance(glob, str) or len(glob) > MAX_PATTERN_CHARS):
            raise ToolError(
                f"`path` must be a glob of at most {MAX_PATTERN_CHARS} characters, "
                "such as `src/**/*.py`"
            )
        snapshot = await files()
        try:
            found = await search(list(snapshot.texts.items()), query, glob)
        except SearchError as exc:
            raise ToolError(str(exc)) from None
        if not found.lines:
            raise ToolError(f"no line matches `{query}`" + (f" in `{glob}`" if glob else ""))
        notes = []
        if found.total > len(found.lines):
            notes.append(f"[…{found.total - len(found.lines)} more matches not shown]")
        if not snapshot.complete:
            notes.append("[the repository is large: only files already read were searched]")
        content = "\n".join([*found.lines, *notes])
        return ToolResult(content, f"{found.total} matches for `{query}` in {found.files} files")

    return [
        Tool(
            "list_files",
            "List the repository's files under a folder, optionally filtered by a glob.",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "a folder; default the root"},
                    "pattern": {"type": "string", "description": "a glob such as *.py"},
                },
            },
            list_files,
        ),
        Tool(
            "read_file",
            "Read a file of the repository, with line numbers (capped; ask for ranges).",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": "integer", "minimum": 1},
                    "end_line": {"type": "integer", "minimum": 1},
                },
                "required": ["path"],
            },
            read_file,
        ),
        Tool(
            "search_code",
            "Search the repository's files for a literal or regular expression.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "path": {"type": "string", "description": "a glob such as src/**/*.py"},
                },
                "required": ["query"],
            },
            search_code,
        ),
    ]
