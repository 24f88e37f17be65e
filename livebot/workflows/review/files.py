"""What a review reads: the pull request's files (or those changed since the last review) under
a budget in characters, with the files it skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from livebot.core.globs import first_match
from livebot.github.diff import DiffLines, diff_lines, numbered

# Characters of numbered patches given to the model (about four per token: tiktoken is offline);
# every turn of the conversation sends them again, so they stay well within `limits.max_tokens`.
DIFF_BUDGET_CHARS: Final = 60_000
MAX_PATCH_CHARS: Final = 8_000
MIN_PATCH_CHARS: Final = 1_000  # less room than this left: the budget is spent
ENTRY_OVERHEAD_CHARS: Final = 120  # the JSON around one file's patch
MAX_REVIEWED_FILES: Final = 150
MAX_SKIPPED_LISTED: Final = 100
GITHUB_MAX_PR_FILES: Final = 3000  # GitHub lists at most this many files of a pull request
OVER_BUDGET: Final = "over the review's size budget"
NO_PATCH: Final = "no text diff (binary, or too large for GitHub to show)"
BUILT_IN_SKIPS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "lock file",
        ("*.lock", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "go.sum"),
    ),
    (
        "generated",
        (
            "*.min.js",
            "*.min.css",
            "*.map",
            "*_pb2.py",
            "*_pb2_grpc.py",
            "*.pb.go",
            "*.generated.*",
            "*.snap",
            "dist/",
        ),
    ),
    ("vendored", ("vendor/", "node_modules/", "third_party/", "third-party/")),
    (
        "binary",
        (
            "*.png",
            "*.jpg",
            "*.jpeg",
            "*.gif",
            "*.webp",
            "*.ico",
            "*.pdf",
            "*.zip",
            "*.gz",
            "*.tgz",
            "*.jar",
            "*.woff",
            "*.woff2",
            "*.ttf",
            "*.exe",
            "*.dll",
            "*.so",
            "*.dylib",
            "*.bin",
            "*.mp3",
            "*.mp4",
        ),
    ),
)


def skip_reason(path: str, entry: dict[str, Any], ignore: tuple[str, ...]) -> str | None:
    """Why a changed file is not reviewed, or None when it is."""
    for reason, globs in BUILT_IN_SKIPS:
        if first_match(path, globs):
            return reason
    pattern = first_match(path, ignore)
    if pattern is not None:
        return f"ignored by `review.ignore` (`{pattern}`)"
    if not entry.get("patch"):
        return NO_PATCH
    return None


@dataclass
class Selection:
    """The files given to the model, the files skipped, and the diff lines of every file seen."""

    ignore: tuple[str, ...]
    budget: int = DIFF_BUDGET_CHARS
    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Files listed by the pull request but never read (the budget was spent first).
    unread: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """Whether the budget is spent."""
        return self.budget < MIN_PATCH_CHARS or len(self.files) >= MAX_REVIEWED_FILES

    @property
    def paths(self) -> list[str]:
        """The paths of the files given to the model."""
        return [f["path"] for f in self.files]

    def add(self, entry: dict[str, Any]) -> None:
        """Take one `files[]` entry of GitHub: review it (clipped to the budget) or skip it."""
        path = str(entry.get("filename") or "")
        reason = skip_reason(path, entry, self.ignore)
        if reason is None and self.full:
            reason = OVER_BUDGET
        if reason is not None:
            self.skipped.append((path, reason))
            return
        text, cut = numbered(str(entry["patch"]), min(MAX_PATCH_CHARS, self.budget))
        item: dict[str, Any] = {
            "path": path,
            "status": entry.get("status"),
            "additions": entry.get("additions", 0),
            "deletions": entry.get("deletions", 0),
            "patch": text,
        }
        if entry.get("previous_filename"):
            item["previous_path"] = entry["previous_filename"]
        if cut:
            item["patch_cut"] = True
        self.files.append(item)
        self.budget -= len(text) + ENTRY_OVERHEAD_CHARS

    def data(self) -> dict[str, Any]:
        """The files and the omissions, as data for the model."""
        listed = [{"path": p, "reason": r} for p, r in self.skipped[:MAX_SKIPPED_LISTED]]
        more = len(self.skipped) - len(listed) + self.unread
        return {
            "files": self.files,
            "not_reviewed": listed,
            "not_reviewed_more": more,
            "notes": self.notes,
        }


@dataclass
class PullFiles:
    """The pull request's files as GitHub lists them: each file's diff lines, for placing
    comments, and how many files were read."""

    lines: dict[str, DiffLines] = field(default_factory=dict)
    read: int = 0

    def add(self, entry: dict[str, Any]) -> None:
        """Take one `files[]` entry."""
        self.lines[str(entry.get("filename") or "")] = diff_lines(entry.get("patch"))
        self.read += 1
