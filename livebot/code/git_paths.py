"""Paths git itself refuses to track: `.git` and `.gitmodules` under any name a file system folds.

A port of git's `verify_path` (read-cache.c), `verify_dotfile` (read-cache.c), `is_ntfs_dotgit`
and `is_ntfs_dot_generic` (path.c), and `next_hfs_char` and `is_hfs_dot_generic` (utf8.c), from
git/git at 1a3e64c6c4a623626ff0687008732a8e007e2a1c. Each function works, as git's do, on the rest
of the path from the start of one component. Git checks the NTFS and HFS+ forms only where
`core.protectNTFS` / `core.protectHFS` are on and `.gitmodules` only as a symbolic link; a commit
Livebot pushes is checked out on every kind of runner, and a `.gitmodules` file makes CI fetch
other repositories, so here every check is always on and applies to every file.
"""

from __future__ import annotations

from typing import Final

# utf8.c `next_hfs_char`: code points HFS+ ignores completely in a name.
HFS_IGNORED: Final = frozenset(
    {
        0x200C,  # ZERO WIDTH NON-JOINER
        0x200D,  # ZERO WIDTH JOINER
        0x200E,  # LEFT-TO-RIGHT MARK
        0x200F,  # RIGHT-TO-LEFT MARK
        0x202A,  # LEFT-TO-RIGHT EMBEDDING
        0x202B,  # RIGHT-TO-LEFT EMBEDDING
        0x202C,  # POP DIRECTIONAL FORMATTING
        0x202D,  # LEFT-TO-RIGHT OVERRIDE
        0x202E,  # RIGHT-TO-LEFT OVERRIDE
        0x206A,  # INHIBIT SYMMETRIC SWAPPING
        0x206B,  # ACTIVATE SYMMETRIC SWAPPING
        0x206C,  # INHIBIT ARABIC FORM SHAPING
        0x206D,  # ACTIVATE ARABIC FORM SHAPING
        0x206E,  # NATIONAL DIGIT SHAPES
        0x206F,  # NOMINAL DIGIT SHAPES
        0xFEFF,  # ZERO WIDTH NO-BREAK SPACE
    }
)
# path.c: the NTFS fall-back short name prefix of `.gitmodules` (`gi7eba~1`).
GITMODULES_SHORT_PREFIX: Final = "gi7eba"


def _at(text: str, index: int) -> str:
    """The character at `index`, or "" past the end (C's NUL)."""
    return text[index] if index < len(text) else ""


def _is_sep(char: str) -> bool:
    return char == "/"


def _is_xplatform_sep(char: str) -> bool:
    # `is_ntfs_dotgit` reads backslashes as separators, as Windows does.
    return char in ("/", "\\")


def _iprefix(text: str, index: int, word: str) -> bool:
    """Whether `text` has `word` at `index`, ASCII letters compared case-insensitively
    (strncasecmp: no Unicode case folding, so `K` (Kelvin) is not `k`)."""
    part = text[index : index + len(word)]
    if len(part) != len(word):
        return False
    return all(c in (w, w.upper()) for c, w in zip(part, word, strict=True))


def is_ntfs_dotgit(name: str) -> bool:
    """path.c `is_ntfs_dotgit`: `.git` or `git~1`, then only dots and spaces, up to a separator
    or an alternate data stream (`:`)."""
    if _at(name, 0) == ".":
        if not _iprefix(name, 1, "git"):
            return False
        index = 4
    elif _iprefix(name, 0, "git~1"):
        index = 5
    else:
        return False
    while True:
        char = _at(name, index)
        index += 1
        if not char or _is_xplatform_sep(char) or char == ":":
            return True
        if char not in ". ":
            return False


def _only_spaces_and_periods(name: str, index: int) -> bool:
    while True:
        char = _at(name, index)
        index += 1
        if not char or char == ":":
            return True
        if char not in " .":
            return False


def is_ntfs_dotgitmodules(name: str) -> bool:
    """path.c `is_ntfs_dot_generic` for `gitmodules`: `.gitmodules`, `gitmod~1`…`~4` or the
    fall-back short name `gi7eba~N`, then only spaces and dots."""
    needle = "gitmodules"
    if _at(name, 0) == "." and _iprefix(name, 1, needle):
        return _only_spaces_and_periods(name, len(needle) + 1)
    if _iprefix(name, 0, needle[:6]) and _at(name, 6) == "~" and "1" <= _at(name, 7) <= "4":
        return _only_spaces_and_periods(name, 8)
    # The fall-back short name: up to six characters of the prefix, `~`, then digits.
    index, saw_tilde = 0, False
    while index < 8:
        char = _at(name, index)
        if not char:
            return False
        if saw_tilde:
            if not "0" <= char <= "9":
                return False
        elif char == "~":
            index += 1
            if not "1" <= _at(name, index) <= "9":
                return False
            saw_tilde = True
        elif index >= 6 or ord(char) > 0x7F:
            return False
        elif char.lower() != GITMODULES_SHORT_PREFIX[index]:
            return False
        index += 1
    return _only_spaces_and_periods(name, 8)


def _next_hfs_char(name: str, index: int) -> tuple[str, int]:
    """utf8.c `next_hfs_char`: the next character HFS+ does not ignore, and where it ends."""
    while index < len(name) and ord(name[index]) in HFS_IGNORED:
        index += 1
    return _at(name, index), index + 1


def _is_hfs_dot(name: str, needle: str) -> bool:
    """utf8.c `is_hfs_dot_generic`: `.` + `needle`, case-folded, ignorable code points skipped."""
    char, index = _next_hfs_char(name, 0)
    if char != ".":
        return False
    for wanted in needle:
        char, index = _next_hfs_char(name, index)
        if not char or ord(char) > 0x7F or char.lower() != wanted:
            return False
    char, index = _next_hfs_char(name, index)
    return not char or _is_sep(char)


def is_hfs_dotgit(name: str) -> bool:
    """utf8.c `is_hfs_dotgit`."""
    return _is_hfs_dot(name, "git")


def is_hfs_dotgitmodules(name: str) -> bool:
    """utf8.c `is_hfs_dotgitmodules`."""
    return _is_hfs_dot(name, "gitmodules")


def _verify_dotfile(rest: str) -> bool:
    """read-cache.c `verify_dotfile`: `rest` follows a component's leading `.`."""
    first = _at(rest, 0)
    if not first or _is_sep(first):
        return False  # "."
    if _iprefix(rest, 0, "git"):
        after = _at(rest, 3)
        if not after or _is_sep(after):
            return False
        # Git refuses `.gitmodules` here only for a symbolic link; Livebot for every file.
        if _iprefix(rest, 3, "modules") and (not _at(rest, 10) or _is_sep(_at(rest, 10))):
            return False
    elif first == "." and (not _at(rest, 1) or _is_sep(_at(rest, 1))):
        return False  # ".."
    return True


def verify_path(path: str) -> bool:
    """read-cache.c `verify_path` for a file: False when git would refuse to track `path`."""
    start = 0
    while True:
        rest = path[start:]
        if (
            is_hfs_dotgit(rest)
            or is_hfs_dotgitmodules(rest)
            or is_ntfs_dotgit(rest)
            or is_ntfs_dotgitmodules(rest)
        ):
            return False
        first = _at(rest, 0)
        if (first == "." and not _verify_dotfile(rest[1:])) or _is_sep(first) or not first:
            return False  # a dot-name git refuses, an empty component, a trailing slash
        # A backslash separates components on NTFS: check what follows each one too.
        for index, char in enumerate(rest):
            if _is_sep(char):
                break
            if char == "\\" and (
                is_ntfs_dotgit(rest[index + 1 :]) or is_ntfs_dotgitmodules(rest[index + 1 :])
            ):
                return False
        slash = path.find("/", start)
        if slash < 0:
            return True
        start = slash + 1
