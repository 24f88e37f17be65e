"""Unified diff patches as GitHub gives them (`files[].patch`): the lines a review comment may
sit on, and the patch with every line numbered for the model, clipped to a budget."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

HUNK_HEADER: Final = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
CLIPPED_NOTE: Final = "[…{count} more lines of this patch not shown; read the file to see them]"


@dataclass
class DiffLines:
    """The lines of one file's diff: {line number: hunk index} on each side, and the new file's
    lines' text."""

    right: dict[int, int] = field(default_factory=dict)  # new file: added and context lines
    left: dict[int, int] = field(default_factory=dict)  # old file: removed and context lines
    right_text: dict[int, str] = field(default_factory=dict)  # new file: {line number: text}

    def hunk(self, side: str, line: int) -> int | None:
        """The hunk a line is in on that side, None when it is not part of the diff."""
        return (self.left if side == "LEFT" else self.right).get(line)

    def spans(self, side: str, start: int, end: int) -> bool:
        """Whether lines start..end of one side sit in one hunk (GitHub's rule for a range)."""
        first = self.hunk(side, start)
        return first is not None and start <= end and first == self.hunk(side, end)


def _walk(patch: str) -> list[tuple[str, int | None, int | None, str]]:
    """(kind, old line, new line, text) for each line: kind is @ (hunk), +, -, space, or \\."""
    out: list[tuple[str, int | None, int | None, str]] = []
    old = new = 0
    for text in patch.splitlines():
        header = HUNK_HEADER.match(text)
        if header:
            old, new = int(header[1]), int(header[2])
            out.append(("@", None, None, text))
        elif text.startswith("+"):
            out.append(("+", None, new, text[1:]))
            new += 1
        elif text.startswith("-"):
            out.append(("-", old, None, text[1:]))
            old += 1
        elif text.startswith(" ") or text == "":
            out.append((" ", old, new, text[1:]))
            old += 1
            new += 1
        else:  # "\ No newline at end of file"
            out.append(("\\", None, None, text))
    return out


def diff_lines(patch: str | None) -> DiffLines:
    """The lines of a patch a review comment may sit on."""
    lines = DiffLines()
    hunk = -1
    for kind, old, new, text in _walk(patch or ""):
        if kind == "@":
            hunk += 1
            continue
        if new is not None:
            lines.right[new] = hunk
            lines.right_text[new] = text
        if old is not None:
            lines.left[old] = hunk
    return lines


def touched_lines(patch: str | None) -> set[int]:
    """The old file's lines a patch removes or changes, and those either side of an insertion."""
    touched: set[int] = set()
    old = 0
    for kind, old_line, _, text in _walk(patch or ""):
        if kind == "@":
            header = HUNK_HEADER.match(text)
            old = int(header[1]) if header else 0
        elif old_line is not None:  # the next old line follows this one
            old = old_line + 1
            if kind == "-":
                touched.add(old_line)
        elif kind == "+":  # inserted between old lines old - 1 and old
            touched.update((old - 1, old))
    return touched


def numbered(patch: str, max_chars: int) -> tuple[str, bool]:
    """The patch with each line's number (`R12` new file, `L7` old file), cut to `max_chars`
    at a line boundary; (text, whether it was cut)."""
    rows: list[str] = []
    size = 0
    walked = _walk(patch)
    for index, (kind, old, new, text) in enumerate(walked):
        if kind == "@" or kind == "\\":
            row = text
        elif kind == "-":
            row = f"L{old} -{text}"
        else:
            row = f"R{new} {'+' if kind == '+' else ' '}{text}"
        size += len(row) + 1
        if size > max_chars:
            rows.append(CLIPPED_NOTE.format(count=len(walked) - index))
            return "\n".join(rows), True
        rows.append(row)
    return "\n".join(rows), False
