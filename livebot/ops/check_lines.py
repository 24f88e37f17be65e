"""The rows of `livebot check`'s table: ✓, ✗ with the fix, or – for what Livebot does without."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One row of the table; an `ok` row with a `fix` is something missing that is not fatal."""

    ok: bool
    name: str
    detail: str
    fix: str = ""

    @property
    def mark(self) -> str:
        """✓, ✗, or – (missing, and Livebot works without it)."""
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
