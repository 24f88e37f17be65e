"""The rows of `livebot check`'s table: ✓, ✗ with the fix, – for what Livebot does without, or ?
for a check that could not run because another failed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One row of the table; an `ok` row with a `fix` is something missing that is not fatal."""

    ok: bool
    name: str
    detail: str
    fix: str = ""
    skipped: bool = False

    @property
    def mark(self) -> str:
        """✓, ✗, – (missing, and Livebot works without it) or ? (not checked)."""
        if self.skipped:
            return "?"
        return "✗" if not self.ok else "–" if self.fix else "✓"


def passed(name: str, detail: str) -> Line:
    """A ✓ row."""
    return Line(True, name, detail)


def failed(name: str, detail: str, fix: str) -> Line:
    """A ✗ row with what to do."""
    return Line(False, name, detail, fix)


def lacking(name: str, detail: str, fix: str) -> Line:
    """A – row: missing, Livebot works without it, and what would add it."""
    return Line(True, name, detail, fix)


def skipped(name: str, needs: str) -> Line:
    """A ? row: not checked, because what it needs failed (that row says what to do)."""
    return Line(False, name, f"skipped: needs {needs}", skipped=True)
