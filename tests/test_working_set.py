"""The working set of `resolve`: diffs, caps, and the paths it refuses."""

from __future__ import annotations

import pytest

from livebot.code.protected_paths import DEFAULT_PROTECTED_PATHS
from livebot.code.snapshots import Snapshot
from livebot.code.working_set import NO_NEWLINE, WorkingSet, file_diff
from livebot.llm.tools import ToolError


def working(max_files: int = 3, max_bytes: int = 100) -> WorkingSet:
    """A working set over a small snapshot."""
    snapshot = Snapshot(
        "o/r",
        "abc",
        texts={"src/app.py": "a\nb\nc\n", "README": "hi"},
        skipped={"logo.png": "binary"},
    )
    return WorkingSet(
        snapshot, max_files=max_files, max_bytes=max_bytes, protected=DEFAULT_PROTECTED_PATHS
    )


def test_a_diff_is_git_style_and_counts_lines() -> None:
    change = file_diff("src/app.py", "a\nb\nc\n", "a\nB\nc\nd")
    assert change.diff.startswith(
        "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n"
    )
    assert change.diff.endswith("+d\n" + NO_NEWLINE)
    assert (change.status, change.additions, change.deletions) == ("modified", 2, 1)
    added = file_diff("new.txt", None, "x\n")
    assert "new file mode 100644\n--- /dev/null\n+++ b/new.txt\n" in added.diff
    assert (added.status, added.additions) == ("added", 1)


async def test_reads_see_the_changes_and_the_snapshot_is_untouched() -> None:
    ws = working()
    await ws.write("src/app.py", "a\n")
    await ws.delete("README")
    view = await ws.files()
    assert view.texts["src/app.py"] == "a\n" and "README" not in view.paths
    assert ws.base.texts["src/app.py"] == "a\nb\nc\n" and "README" in ws.base.paths
    assert [(c.path, c.status) for c in ws.changes()] == [
        ("README", "deleted"),
        ("src/app.py", "modified"),
    ]


async def test_writing_a_file_back_to_its_original_undoes_the_change() -> None:
    ws = working()
    await ws.write("src/app.py", "x\n")
    await ws.write("src/app.py", "a\nb\nc\n")
    assert ws.changes() == []


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        ("../x", "x", "leaves the repository"),
        ("/etc/passwd", "x", "is absolute"),
        (".github/workflows/ci.yml", "x", "`workflows` permission"),
        (".GitHub/Workflows/ci.yml", "x", "`workflows` permission"),
        ("a/.git/config", "x", "git does not track this path"),
        ("bin.dat", "\0\1", "binary content"),
        ("logo.png", "x", "logo.png` is binary"),
        ("src", "x", "`src` is a folder"),
        ("README/x", "x", "`README` is a file"),
        ("big.txt", "x" * 101, "at most 100"),
        ("bad.txt", "\ud800", "not valid Unicode"),
    ],
)
async def test_bad_writes_are_refused(path: str, content: str, message: str) -> None:
    ws = working()
    with pytest.raises(ToolError, match=message.replace(".", r"\.")):
        await ws.write(path, content)
    assert ws.changes() == []


async def test_the_caps_count_every_changed_file() -> None:
    ws = working(max_files=2, max_bytes=10)
    await ws.write("a.txt", "12345")
    await ws.write("b.txt", "1234")
    with pytest.raises(ToolError, match="change 3 files"):
        await ws.delete("README")
    with pytest.raises(ToolError, match="write 11 bytes"):
        await ws.write("b.txt", "123456")
    with pytest.raises(ToolError, match="does not exist"):
        await ws.delete("nothing.txt")
    assert [c.path for c in ws.changes()] == ["a.txt", "b.txt"]
