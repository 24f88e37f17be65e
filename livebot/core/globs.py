"""Path globs as `.github/livebot.yml` writes them: `*` within a folder, `**` across folders, and
a pattern without `/` matches a file's name in any folder (as in `.gitignore`)."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression a glob stands for."""
    glob = pattern.strip().lstrip("/")
    if "/" not in glob.rstrip("/"):
        glob = "**/" + glob
    if glob.endswith("/"):
        glob += "**"
    out: list[str] = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            out.append(".*")
            index += 2
        elif glob[index] == "*":
            out.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(out))


def matches(path: str, pattern: str) -> bool:
    """Whether a repository path matches a glob."""
    return compile_glob(pattern).fullmatch(path) is not None


def first_match(path: str, patterns: tuple[str, ...]) -> str | None:
    """The first glob that matches the path, if any."""
    return next((p for p in patterns if matches(path, p)), None)
