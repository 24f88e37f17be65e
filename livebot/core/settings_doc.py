"""README.md's settings table, written from the table in `livebot.core.settings`.

python -m livebot.core.settings_doc   # rewrites the table between the markers in README.md
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

from livebot.core.settings import SETTINGS, Setting

README: Final = Path(__file__).resolve().parents[2] / "README.md"
BEGIN: Final = "<!-- settings table: written by `python -m livebot.core.settings_doc` -->"
END: Final = "<!-- end of the settings table -->"
HEADER: Final = "| setting | meaning | value | default | needed by |\n|---|---|---|---|---|\n"


def default_cell(row: Setting[Any]) -> str:
    """The default as written in the variable, and what it means."""
    if row.default is None or row.default == ():
        return f"unset: {row.default_note}" if row.default_note else "unset"
    shown = f"`{row.parser.show(row.default)}`"
    return f"{shown} {row.default_note}" if row.default_note else shown


def _row(row: Setting[Any]) -> str:
    name = f"`{row.env}`" + (f" / `{row.file_env}`" if row.file_env else "")
    needed = ", ".join(f"`{mode}`" for mode in row.needed_by)
    if needed and row.alternative:
        needed += f" (or {row.alternative})"
    cells = (name, row.about, row.parser.expects, default_cell(row), needed)
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n"


def table() -> str:
    """The Markdown table, one row per setting, in the table's order."""
    return HEADER + "".join(_row(row) for row in SETTINGS.values())


def section(text: str) -> str:
    """What README.md holds between the markers."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def rewrite(text: str) -> str:
    """`text` with the table between the markers written anew."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + text[end:]


def main() -> None:
    """Rewrite README.md's settings table."""
    README.write_text(rewrite(README.read_text()))
    print(f"wrote {len(SETTINGS)} settings to {README}", file=sys.stderr)


if __name__ == "__main__":
    main()
