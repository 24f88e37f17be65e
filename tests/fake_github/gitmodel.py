"""An in-memory git object store with git's real object ids, and GitHub-style diffs."""

from __future__ import annotations

import difflib
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

BLOB_MODE = "100644"
MAX_PATCH_CHARS = 1_000_000  # a larger diff is listed without its patch, as GitHub does
NO_NEWLINE = "\\ No newline at end of file"


def git_sha(kind: str, raw: bytes) -> str:
    """The object id git gives `raw` stored as `kind`."""
    return hashlib.sha1(f"{kind} {len(raw)}\0".encode() + raw).hexdigest()


def is_binary(raw: bytes) -> bool:
    """Git's test: a NUL byte in the first 8000 bytes, or (here) not UTF-8 text."""
    if b"\0" in raw[:8000]:
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


@dataclass
class Commit:
    """A commit: the tree is a flat {path: (mode, blob sha)} for easy diffs."""

    sha: str
    tree: str
    parents: list[str]
    message: str
    author: dict[str, str]
    committer: dict[str, str]


@dataclass
class GitStore:
    """Blobs, trees and commits shared by every repository (forks reach each other's objects)."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    _diffs: dict[tuple[str | None, str], list[dict[str, Any]]] = field(default_factory=dict)

    def diff(self, old_commit: str | None, new_commit: str) -> list[dict[str, Any]]:
        """`diff_files` between two commits (None: the empty tree), cached: every page of a
        large pull request's files asks again."""
        key = (self.commits[old_commit].tree if old_commit else None, self.commits[new_commit].tree)
        if key not in self._diffs:
            old = self.flat(old_commit) if old_commit else {}
            self._diffs[key] = diff_files(self, old, self.flat(new_commit))
        return [dict(f) for f in self._diffs[key]]

    def put_blob(self, raw: bytes) -> str:
        """Store a blob; its sha."""
        sha = git_sha("blob", raw)
        self.blobs[sha] = raw
        return sha

    def put_tree(self, flat: dict[str, tuple[str, str]]) -> str:
        """Store a flat tree {path: (mode, blob sha)} and its subtrees; the root tree's sha."""
        return self._tree_sha(flat)

    def _tree_sha(self, flat: dict[str, tuple[str, str]]) -> str:
        entries, subdirs = _split(flat)
        for name, sub in subdirs.items():
            entries[name] = ("40000", self._tree_sha(sub))
        # git sorts entries by name, a tree's name compared as if it ended with "/"
        order = sorted(entries, key=lambda n: n + "/" if entries[n][0] == "40000" else n)
        raw = b"".join(
            f"{entries[n][0]} {n}\0".encode() + bytes.fromhex(entries[n][1]) for n in order
        )
        sha = git_sha("tree", raw)
        self.trees[sha] = dict(flat)
        return sha

    def walk(
        self, flat: dict[str, tuple[str, str]], recursive: bool, prefix: str = ""
    ) -> list[tuple[str, str, str, str]]:
        """(path, "blob"|"tree", mode, sha) of a tree's entries in git's order, subtrees
        followed by their contents when `recursive`."""
        entries, subdirs = _split(flat)
        out = []
        for name in sorted([*entries, *subdirs], key=lambda n: n + "/" if n in subdirs else n):
            if name in entries:
                out.append((prefix + name, "blob", *entries[name]))
                continue
            out.append((prefix + name, "tree", "040000", self._tree_sha(subdirs[name])))
            if recursive:
                out += self.walk(subdirs[name], True, prefix + name + "/")
        return out

    def put_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: dict[str, str] | None = None,
        committer: dict[str, str] | None = None,
    ) -> Commit:
        """Store a commit."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        author = author or {"name": "Octo Cat", "email": "octocat@example.com", "date": now}
        committer = committer or {**author, "date": author.get("date", now)}
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        for role, who in (("author", author), ("committer", committer)):
            lines.append(f"{role} {who['name']} <{who['email']}> {int(time.time())} +0000")
        raw = ("\n".join(lines) + "\n\n" + message).encode()
        commit = Commit(git_sha("commit", raw), tree, list(parents), message, author, committer)
        self.commits[commit.sha] = commit
        return commit

    def flat(self, commit_sha: str) -> dict[str, tuple[str, str]]:
        """The commit's files {path: (mode, blob sha)}."""
        return self.trees[self.commits[commit_sha].tree]

    def ancestors(self, sha: str) -> list[str]:
        """`sha` and every commit it descends from, nearest first."""
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.commits:
                continue
            seen.append(current)
            queue += self.commits[current].parents
        return seen

    def merge_base(self, a: str, b: str) -> str | None:
        """The nearest common ancestor of two commits, None if their histories are disjoint."""
        of_a = set(self.ancestors(a))
        return next((c for c in self.ancestors(b) if c in of_a), None)


def _split(
    flat: dict[str, tuple[str, str]],
) -> tuple[dict[str, tuple[str, str]], dict[str, dict[str, tuple[str, str]]]]:
    """A flat tree's own files, and its subfolders as flat trees of their own."""
    entries: dict[str, tuple[str, str]] = {}
    subdirs: dict[str, dict[str, tuple[str, str]]] = {}
    for path, (mode, sha) in flat.items():
        head, sep, rest = path.partition("/")
        if sep:
            subdirs.setdefault(head, {})[rest] = (mode, sha)
        else:
            entries[head] = (mode, sha)
    return entries, subdirs


def diff_files(
    store: GitStore, old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """GitHub's `files` entries (no URLs) for old → new, renames detected by identical blobs."""
    removed = {p: old[p] for p in old if p not in new}
    added = {p: new[p] for p in new if p not in old}
    renames: dict[str, str] = {}
    by_blob = {sha: p for p, (_, sha) in removed.items()}
    for path, (_, sha) in added.items():
        if sha in by_blob and by_blob[sha] not in renames.values():
            renames[path] = by_blob[sha]
    out = []
    for path in sorted(set(old) | set(new)):
        if path in renames.values() or (path in old and path in new and old[path] == new[path]):
            continue
        before = old.get(renames.get(path, path))
        after = new.get(path)
        status = (
            "renamed"
            if path in renames
            else "added"
            if before is None
            else ("removed" if after is None else "modified")
        )
        entry: dict[str, Any] = {
            "sha": (after or before or ("", ""))[1],
            "filename": path,
            "status": status,
        }
        a = store.blobs[before[1]] if before else b""
        b = store.blobs[after[1]] if after else b""
        patch = None if is_binary(a) or is_binary(b) else unified_patch(a.decode(), b.decode())
        adds = dels = 0
        if patch is not None:
            for line in patch.splitlines():
                adds += line.startswith("+")
                dels += line.startswith("-")
            if len(patch) > MAX_PATCH_CHARS:
                patch = None
        entry.update(additions=adds, deletions=dels, changes=adds + dels)
        if patch:
            entry["patch"] = patch
        if path in renames:
            entry["previous_filename"] = renames[path]
        out.append(entry)
    return out


def unified_patch(old: str, new: str) -> str:
    """The hunks of a unified diff with 3 lines of context, as GitHub's `patch` field holds them."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    lines = []
    for line in list(difflib.unified_diff(a, b, n=3))[2:]:
        if line.endswith("\n"):
            lines.append(line[:-1])
        else:
            lines += [line, NO_NEWLINE]
    return "\n".join(lines)


def diff_lines(patch: str | None) -> tuple[dict[int, int], dict[int, int]]:
    """The lines a review comment may sit on: ({new line: hunk index}, {old line: hunk index})."""
    right: dict[int, int] = {}
    left: dict[int, int] = {}
    hunk = -1
    old_no = new_no = 0
    for line in (patch or "").splitlines():
        if line.startswith("@@"):
            hunk += 1
            spans = line.split("@@")[1].split()
            old_no = int(spans[0][1:].split(",")[0])
            new_no = int(spans[1][1:].split(",")[0])
        elif line.startswith("+"):
            right[new_no] = hunk
            new_no += 1
        elif line.startswith("-"):
            left[old_no] = hunk
            old_no += 1
        elif line.startswith(" "):
            right[new_no] = left[old_no] = hunk
            new_no += 1
            old_no += 1
    return right, left
