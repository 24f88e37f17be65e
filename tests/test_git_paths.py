"""The port of git's `verify_path`: every name git (or a file system) reads as `.git` or
`.gitmodules` is refused, and the names that only look alike are not."""

from __future__ import annotations

import pytest

from livebot.code.git_paths import verify_path

ZWNJ, ZWJ, LRM, RLM, BOM = "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff"
# Each code point HFS+ ignores, inside `.git` (utf8.c `next_hfs_char`).
HFS_IGNORABLES = [
    *(chr(c) for c in range(0x200C, 0x2010)),
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x206A, 0x2070)),
    BOM,
]

REFUSED = [
    ".git/config",
    ".git",
    "a/.git/config",
    "a/b/.git/hooks/pre-commit",
    # case-folded, as git does everywhere
    ".GIT/config",
    ".Git/config",
    ".gIt/HEAD",
    # NTFS: trailing dots and spaces, alternate data streams, the 8.3 short name
    ".git./config",
    ".git../config",
    ".git /config",
    ".git. . /config",
    ".git::$INDEX_ALLOCATION/config",
    ".git:stream",
    "git~1/config",
    "GIT~1/config",
    "Git~1./config",
    "git~1 /config",
    "a/git~1/config",
    # NTFS reads a backslash as a separator
    "a\\.git\\config",
    "a\\git~1\\config",
    # HFS+: ignorable code points anywhere in the name
    f".g{ZWNJ}it/config",
    f"{LRM}.git/config",
    f".git{BOM}/config",
    f".{ZWJ}G{RLM}i{ZWNJ}T/config",
    f"a/.gi{ZWJ}t/config",
    *(f".gi{c}t/config" for c in HFS_IGNORABLES),
    # `.gitmodules` and the names file systems read as it
    ".gitmodules",
    ".GITMODULES",
    "a/.GitModules",
    ".gitmodules.",
    ".gitmodules .. ",
    ".gitmodules:$DATA",
    "gitmod~1",
    "GITMOD~4",
    "gitmod~1.",
    "gi7eba~1",
    "GI7EBA~9",
    "gi7eb~12",
    "gi7e~123",
    f".git{ZWNJ}modules",
    f".{BOM}GitModules",
    ".gitmodules/x",
    # what git's `verify_dotfile` refuses besides
    ".",
    "..",
    "a/./b",
    "a/../b",
    "a//b",
    "a/",
    "",
]

ALLOWED = [
    "README.md",
    ".github/livebot.yml",
    ".gitignore",
    ".gitattributes",
    ".git-blame-ignore-revs",
    ".gitx/config",
    "git/config",
    "a.git/config",
    "git~2/config",
    "git~1x/config",
    ".github~1/x",
    ".gitmodules-notes",
    "gitmod~5",
    "gi7eba~0",
    "gi7ebb~1",
    ".gi\u0130t/config",  # a dotted capital I is not an ASCII `i`
    "\u212a.txt",  # KELVIN SIGN folds to `k` only under Unicode rules, which git does not use
    ".hidden/file",
    "...",
]


@pytest.mark.parametrize("path", REFUSED)
def test_git_refuses_these_paths(path: str) -> None:
    assert verify_path(path) is False


@pytest.mark.parametrize("path", ALLOWED)
def test_these_paths_only_look_alike(path: str) -> None:
    assert verify_path(path) is True
