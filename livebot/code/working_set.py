"""The changes a `resolve` run makes, in memory over a snapshot, within the repository's caps.

Reads see the changes (the model can read back what it wrote); nothing reaches GitHub until the
run commits the whole set at once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Final

from livebot.code.git_paths import verify_path
from livebot.code.protected_paths import REFUSED, protecting_glob
from livebot.code.snapshots import FileUnavailable, Snapshot
from livebot.llm.tools import ToolError, clean_path

WORKFLOWS_FOLDER: Final = ".github/workflows/"
GIT_REFUSED: Final = (
    "`{path}`: git does not track this path (`.git`, `.gitmodules` or a name a file system "
    "reads as one of them), so it cannot be changed"
)
WORKFLOWS_REFUSED: Final = (
    "`{path}` is under `.github/workflows/`: GitHub refuses changes there from an app without "
    "the `workflows` permission, which Livebot does not have. Leave workflows unchanged and say "
    "in your summary what a maintainer should change."
)
TOO_MANY_FILES: Final = (
    "this would change {count} files; this repository allows at most {limit} per run "
    "(`resolve.max_files` in .github/livebot.yml). Change fewer files."
)
TOO_MANY_BYTES: Final = (
    "this would write {count:,} bytes; this repository allows at most {limit:,} per run "
    "(`resolve.max_bytes` in .github/livebot.yml). Make a smaller change."
)
NO_NEWLINE: Final = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class FileChange:
    """One changed file: its path, how, and the lines added and removed."""

    path: str
    status: str  # "added" | "modified" | "deleted"
    additions: int
    deletions: int
    diff: str

    def stat(self) -> dict[str, str | int]:
        """The file as the live page and the pull request list it."""
        return {
            "path": self.path,
            "status": self.status,
            "additions": self.additions,
            "deletions": self.deletions,
        }


def file_diff(path: str, before: str | None, after: str | None) -> FileChange:
    """The unified diff (git style) of one file, and its counts."""
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    header = [f"diff --git a/{path} b/{path}\n"]
    if before is None:
        header.append("new file mode 100644\n")
    if after is None:
        header.append("deleted file mode 100644\n")
    lines = difflib.unified_diff(
        old,
        new,
        "/dev/null" if before is None else f"a/{path}",
        "/dev/null" if after is None else f"b/{path}",
        n=3,
    )
    body: list[str] = []
    additions = deletions = 0
    for index, line in enumerate(lines):
        if index >= 2:  # past the ---/+++ lines
            additions += line.startswith("+")
            deletions += line.startswith("-")
        body.append(line if line.endswith("\n") else line + "\n" + NO_NEWLINE)
    status = "added" if before is None else "deleted" if after is None else "modified"
    return FileChange(path, status, additions, deletions, "".join(header + body))


def stat_line(change: FileChange) -> str:
    """`app/config.py: +3 −1`."""
    return f"{change.path}: +{change.additions} \u2212{change.deletions}"


class WorkingSet:
    """New file contents (None: deleted) over a snapshot, with the repository's caps."""

    def __init__(
        self, base: Snapshot, *, max_files: int, max_bytes: int, protected: tuple[str, ...]
    ) -> None:
        self.base = base
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.protected = protected
        # What the model reads: the snapshot with the changes applied.
        self.view = Snapshot(
            base.repository,
            base.sha,
            dict(base.texts),
            dict(base.skipped),
            dict(base.pending),
            base.gh,
        )
        self.original: dict[str, str | None] = {}
        self.current: dict[str, str | None] = {}

    async def files(self) -> Snapshot:
        """The files as they are now, for the read-only tools."""
        return self.view

    async def write(self, raw_path: object, content: object) -> FileChange:
        """Set a file's whole content."""
        path = self._writable(raw_path)
        if not isinstance(content, str):
            raise ToolError("`content` must be the file's whole new text")
        if "\0" in content:
            raise ToolError(f"`{path}`: binary content cannot be written; only text files")
        try:
            size = len(content.encode())
        except UnicodeEncodeError:
            raise ToolError(f"`{path}`: the content is not valid Unicode text") from None
        if size > self.max_bytes:
            raise ToolError(TOO_MANY_BYTES.format(count=size, limit=self.max_bytes))
        self._check_shape(path)
        before = await self._before(path)
        self._change(path, before, content)
        return file_diff(path, before, content)

    async def delete(self, raw_path: object) -> FileChange:
        """Remove a file."""
        path = self._writable(raw_path)
        if path not in self.view.paths:
            raise ToolError(f"`{path}` does not exist")
        before = await self._before(path)
        self._change(path, before, None)
        return file_diff(path, before, None)

    def changes(self) -> list[FileChange]:
        """Every file that differs from the snapshot, by path."""
        return [
            file_diff(path, self.original[path], after)
            for path, after in sorted(self.current.items())
        ]

    def contents(self) -> dict[str, str | None]:
        """{path: new text, None when deleted} of the files that differ."""
        return dict(sorted(self.current.items()))

    async def _before(self, path: str) -> str | None:
        if path in self.original:
            return self.original[path]
        if path in self.base.skipped:
            raise ToolError(f"`{path}` is {self.base.skipped[path]}; Livebot does not change it")
        if path not in self.base.paths:
            return None
        try:
            return await self.base.read(path)
        except FileUnavailable as exc:
            raise ToolError(str(exc)) from None

    def _writable(self, raw: object) -> str:
        """A path the run may change: inside the repository, one git tracks, neither a workflow
        nor a file CI runs."""
        path = clean_path(raw)
        try:
            path.encode()
        except UnicodeEncodeError:
            raise ToolError("the path is not valid Unicode text") from None
        if not verify_path(path):
            raise ToolError(GIT_REFUSED.format(path=path))
        if path.lower().startswith(WORKFLOWS_FOLDER):
            raise ToolError(WORKFLOWS_REFUSED.format(path=path))
        glob = protecting_glob(path, self.protected)
        if glob is not None:
            raise ToolError(REFUSED.format(path=path, glob=glob))
        return path

    def _check_shape(self, path: str) -> None:
        """A path GitHub can hold: not a folder, no file in the way of its folders."""
        paths = self.view.paths
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self.view.texts or parent in self.view.pending:
                raise ToolError(f"`{parent}` is a file, so `{path}` cannot be created")
        if any(p.startswith(path + "/") for p in paths):
            raise ToolError(f"`{path}` is a folder")

    def _change(self, path: str, before: str | None, after: str | None) -> None:
        current = dict(self.current)
        if before == after:
            current.pop(path, None)
        else:
            current[path] = after
        if len(current) > self.max_files:
            raise ToolError(TOO_MANY_FILES.format(count=len(current), limit=self.max_files))
        size = sum(len(text.encode()) for text in current.values() if text is not None)
        if size > self.max_bytes:
            raise ToolError(TOO_MANY_BYTES.format(count=size, limit=self.max_bytes))
        self.original.setdefault(path, before)
        self.current = current
        self.view.pending.pop(path, None)
        if after is None:
            self.view.texts.pop(path, None)
        else:
            self.view.texts[path] = after
