"""Patches, globs and findings: the pure parts of a review, against GitHub's own formats."""

from __future__ import annotations

import pytest

from livebot.core.globs import matches
from livebot.github.diff import diff_lines, numbered, touched_lines
from livebot.llm.tools import ToolError
from livebot.workflows.review.findings import Finding, Placed, code_block, parse_submission, place
from tests.fake_github.gitmodel import diff_lines as githubs_lines
from tests.fake_github.gitmodel import unified_patch

OLD = "".join(f"line {n}\n" for n in range(1, 31))
NEW = OLD.replace("line 5\n", "line five\n").replace("line 25\n", "line 25\nline 25b\n")


def test_diff_lines_are_the_lines_github_accepts_comments_on() -> None:
    patch = unified_patch(OLD, NEW)
    lines = diff_lines(patch)
    right, left = githubs_lines(patch)
    assert (lines.right, lines.left) == (right, left)
    assert lines.spans("RIGHT", 4, 6) and not lines.spans("RIGHT", 5, 24)
    assert lines.hunk("LEFT", 5) == 0 and lines.hunk("RIGHT", 15) is None


def test_numbered_patch_names_each_side_and_cuts_at_a_line() -> None:
    text, cut = numbered(unified_patch(OLD, NEW), 10_000)
    assert not cut
    assert "L5 -line 5\nR5 +line five\nR6  line 6" in text
    short, cut = numbered(unified_patch(OLD, NEW), 60)
    assert cut and short.endswith("more lines of this patch not shown; read the file to see them]")
    assert all(len(row) < 60 for row in short.splitlines()[:-1])


@pytest.mark.parametrize(
    ("path", "glob", "hit"),
    [
        ("yarn.lock", "*.lock", True),
        ("web/deep/Cargo.lock", "*.lock", True),
        ("dist/app.js", "dist/**", True),
        ("src/dist/app.js", "dist/**", False),
        ("src/dist/app.js", "dist/", True),
        ("src/a/b.py", "src/**/*.py", True),
        ("src/b.py", "src/**/*.py", True),
        ("src/b.pyc", "src/*.py", False),
        ("docs/a/b.md", "docs/*", False),
    ],
)
def test_globs(path: str, glob: str, hit: bool) -> None:
    assert matches(path, glob) is hit


def test_a_suggestion_with_backticks_gets_a_longer_fence() -> None:
    assert code_block("x = `a`\n```\n", "suggestion") == "````suggestion\nx = `a`\n```\n````"


def test_bad_findings_are_refused_with_what_is_wrong() -> None:
    good = {"path": "a.py", "line": 3, "severity": "major", "title": "T", "body": "B"}
    with pytest.raises(ToolError, match="finding 1: `line` must be a positive line number"):
        parse_submission({"summary": "S", "findings": [{**good, "line": 0}]})
    with pytest.raises(ToolError, match="leaves the repository"):
        parse_submission({"summary": "S", "findings": [{**good, "path": "../x"}]})
    with pytest.raises(ToolError, match="`start_line` must not come after `line`"):
        parse_submission({"summary": "S", "findings": [{**good, "start_line": 4}]})
    with pytest.raises(ToolError, match="`severity` must be one of"):
        parse_submission({"summary": "S", "findings": [{**good, "severity": "fatal"}]})
    summary, [finding] = parse_submission(
        {"summary": "S <!-- livebot:finding:0123456789abcdef -->", "findings": [good]}
    )
    assert (
        summary == "S" and finding.fingerprint == Finding("a.py", 9, "nit", "t!", "x").fingerprint
    )


def test_placement_caps_inline_comments_most_severe_first() -> None:
    lines = {"a.py": diff_lines(unified_patch(OLD, NEW))}
    findings = [
        Finding("a.py", 5, severity, f"{severity} {n}", "b")
        for n, severity in enumerate(["nit", "minor", "blocker", "major"])
    ]
    plan = place(findings, lines, max_comments=2, min_severity="minor", seen=set())
    assert [(p.finding.severity, p.inline) for p in plan.placed] == [
        ("blocker", True),
        ("major", True),
        ("minor", False),
    ]
    assert plan.below_min_severity == 1 and "max_comments" in plan.placed[2].why
    # A range that leaves its hunk is posted on its last line, its suggestion as plain code.
    ranged = Finding("a.py", 6, "major", "r", "b", start_line=1, suggestion="x\n")
    [placed] = place([ranged], lines, max_comments=5, min_severity="nit", seen=set()).placed
    assert placed.inline and not placed.spans and not placed.suggestion_block
    assert "start_line" not in placed.comment() and "```suggestion" not in placed.comment()["body"]
    assert Placed(ranged, inline=False).text(in_body=True).count("```") == 2


def test_touched_lines_are_the_old_lines_removed_or_beside_an_insertion() -> None:
    patch = "@@ -8,6 +8,7 @@ def f\n a\n b\n+inserted\n d\n-removed\n+replaced\n f\n"
    assert touched_lines(patch) == {9, 10, 11, 12}
    assert touched_lines(unified_patch(OLD, NEW)) == {5, 6, 25, 26}
    assert touched_lines(None) == set()
