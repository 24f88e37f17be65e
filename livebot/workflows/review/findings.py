"""A review's findings: checked as `submit_review` receives them, placed on diff lines or in the
review's text, and written as GitHub comments with a hidden fingerprint each."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

from livebot.config.repo_config import SEVERITIES
from livebot.github.diff import DiffLines
from livebot.llm.tools import ToolError, clean_path

MAX_FINDINGS: Final = 50
MAX_SUMMARY_CHARS: Final = 10_000
MAX_TITLE_CHARS: Final = 200
MAX_BODY_CHARS: Final = 8_000
MAX_SUGGESTION_CHARS: Final = 10_000
SIDES: Final = ("RIGHT", "LEFT")
FINGERPRINT: Final = "<!-- livebot:finding:{digest} -->"
FINGERPRINT_PATTERN: Final = re.compile(r"<!-- livebot:finding:([0-9a-f]{16}) -->")
SEVERITY_MARKS: Final = {"blocker": "🔴", "major": "🟠", "minor": "🟡", "nit": "⚪"}
HEADING: Final = "{mark} **{severity}: {title}**"
BODY_LOCATION: Final = "`{path}` {lines}{why}"
SUGGESTED_CODE: Final = "Suggested replacement:"
OUTSIDE_DIFF: Final = " (not on a line of the diff)"
LEFT_IN_INCREMENTAL: Final = " (a removed line)"
OVER_MAX: Final = " (more than `review.max_comments` inline comments)"
REFUSED: Final = " (GitHub refused it as an inline comment)"
FILES_ANCHOR: Final = "{pull_url}/files#diff-{digest}{side}{line}"

FINDING_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "the file, as in the diff"},
        "line": {"type": "integer", "minimum": 1, "description": "the (last) line it is about"},
        "start_line": {"type": "integer", "minimum": 1, "description": "first line of a range"},
        "side": {
            "type": "string",
            "enum": list(SIDES),
            "description": "RIGHT: a line of the new file (R numbers); LEFT: of the old (L)",
        },
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "title": {"type": "string", "description": "one line"},
        "body": {"type": "string", "description": "what is wrong and why, in Markdown"},
        "suggestion": {
            "type": "string",
            "description": "the exact new text of lines start_line..line of the new file",
        },
    },
    "required": ["path", "line", "severity", "title", "body"],
}


@dataclass(frozen=True)
class Finding:
    """One finding as the model submitted it."""

    path: str
    line: int
    severity: str
    title: str
    body: str
    side: str = "RIGHT"
    start_line: int | None = None
    suggestion: str | None = None

    @property
    def fingerprint(self) -> str:
        """What identifies the finding across reviews: its file and its title (lines move)."""
        title = re.sub(r"[\W_]+", " ", self.title.lower()).strip()
        return hashlib.sha256(f"{self.path}\0{title}".encode()).hexdigest()[:16]

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return SEVERITIES.index(self.severity)

    def heading(self) -> str:
        """The finding's first line."""
        mark = SEVERITY_MARKS[self.severity]
        return HEADING.format(mark=mark, severity=self.severity.capitalize(), title=self.title)

    def lines_text(self) -> str:
        """`line 12` or `lines 10–12`, with the old file's side named."""
        old = " of the old file" if self.side == "LEFT" else ""
        if self.start_line is not None and self.start_line < self.line:
            return f"lines {self.start_line}–{self.line}{old}"
        return f"line {self.line}{old}"

    def url(self, pull_url: str) -> str:
        """The finding's line in the pull request's files view."""
        digest = hashlib.sha256(self.path.encode()).hexdigest()
        side = "L" if self.side == "LEFT" else "R"
        return FILES_ANCHOR.format(pull_url=pull_url, digest=digest, side=side, line=self.line)


def _text(item: dict[str, Any], name: str, limit: int, where: str, optional: bool = False) -> Any:
    value = item.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value.strip() and not optional):
        raise ToolError(f"{where}: `{name}` must be a non-empty string")
    if len(value) > limit:
        raise ToolError(f"{where}: `{name}` is longer than {limit:,} characters")
    # A fingerprint in the model's text (a PR may ask for one) would hide a later finding.
    return FINGERPRINT_PATTERN.sub("", value)


def _line(item: dict[str, Any], name: str, where: str) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{where}: `{name}` must be a positive line number")
    return value


def parse_finding(item: Any, where: str) -> Finding:
    """One finding from the tool's arguments; ToolError says what is wrong."""
    if not isinstance(item, dict):
        raise ToolError(f"{where} must be an object")
    try:
        path = clean_path(item.get("path"))
    except ToolError as exc:
        raise ToolError(f"{where}: {exc}") from None
    line = _line(item, "line", where)
    if line is None:
        raise ToolError(f"{where}: `line` is required")
    start = _line(item, "start_line", where)
    if start is not None and start > line:
        raise ToolError(f"{where}: `start_line` must not come after `line`")
    side = item.get("side") or "RIGHT"
    if side not in SIDES:
        raise ToolError(f"{where}: `side` must be RIGHT or LEFT")
    severity = item.get("severity")
    if severity not in SEVERITIES:
        raise ToolError(f"{where}: `severity` must be one of {', '.join(SEVERITIES)}")
    title = _text(item, "title", MAX_TITLE_CHARS, where).strip().splitlines()[0]
    return Finding(
        path=path,
        line=line,
        severity=severity,
        title=title,
        body=_text(item, "body", MAX_BODY_CHARS, where).strip(),
        side=side,
        start_line=start if start != line else None,
        suggestion=_text(item, "suggestion", MAX_SUGGESTION_CHARS, where, optional=True),
    )


def parse_submission(arguments: dict[str, Any]) -> tuple[str, list[Finding]]:
    """`submit_review`'s summary and findings; ToolError names the first problem."""
    summary = _text(arguments, "summary", MAX_SUMMARY_CHARS, "the review")
    raw = arguments.get("findings", [])
    if not isinstance(raw, list):
        raise ToolError("`findings` must be a list (empty when there is nothing to report)")
    if len(raw) > MAX_FINDINGS:
        raise ToolError(f"at most {MAX_FINDINGS} findings; keep the most important ones")
    findings = [parse_finding(item, f"finding {n}") for n, item in enumerate(raw, 1)]
    return summary.strip(), findings


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def code_block(text: str, info: str = "") -> str:
    """`text` in a fenced block that its own backticks cannot close."""
    fence = _fence(text)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


@dataclass
class Placed:
    """A finding and where it goes: an inline comment (with a suggestion block?) or the body."""

    finding: Finding
    inline: bool
    # The comment covers start_line..line (one hunk), not just `line`.
    spans: bool = False
    why: str = ""
    # The lines a suggestion replaces, as the diff shows them (the page shows them in red).
    replaced: str | None = None

    @property
    def suggestion_block(self) -> bool:
        """Whether the suggestion replaces exactly the new file's lines the comment covers."""
        f = self.finding
        covers = f.start_line is None or self.spans
        return self.inline and f.suggestion is not None and f.side == "RIGHT" and covers

    def comment(self) -> dict[str, Any]:
        """The `comments[]` entry of the review."""
        f = self.finding
        entry: dict[str, Any] = {"path": f.path, "line": f.line, "side": f.side}
        if self.spans and f.start_line is not None:
            entry.update(start_line=f.start_line, start_side=f.side)
        entry["body"] = self.text(in_body=False)
        return entry

    def text(self, *, in_body: bool) -> str:
        """The finding in Markdown, ending with its hidden fingerprint."""
        f = self.finding
        parts = [f.heading()]
        if in_body:
            where = BODY_LOCATION.format(path=f.path, lines=f.lines_text(), why=self.why)
            parts.append(where)
        parts.append(f.body)
        if f.suggestion is not None:
            if self.suggestion_block:
                parts.append(code_block(f.suggestion, "suggestion"))
            else:
                parts.append(SUGGESTED_CODE + "\n\n" + code_block(f.suggestion))
        parts.append(FINGERPRINT.format(digest=f.fingerprint))
        return "\n\n".join(parts)

    def details(self, pull_url: str) -> dict[str, Any]:
        """The finding as the live page shows it."""
        f = self.finding
        item: dict[str, Any] = {
            "path": f.path,
            "line": f.line,
            "side": f.side,
            "severity": f.severity,
            "title": f.title,
            "body": f.body,
            "url": f.url(pull_url),
            "placement": "inline" if self.inline else "body",
        }
        if f.start_line is not None:
            item["start_line"] = f.start_line
        if f.suggestion is not None:
            item["suggestion"] = f.suggestion
        if self.replaced is not None:
            item["replaced"] = self.replaced
        return item


@dataclass
class Plan:
    """Where each finding goes, and what was left out."""

    placed: list[Placed] = field(default_factory=list)
    below_min_severity: int = 0
    repeated: int = 0

    @property
    def inline(self) -> list[Placed]:
        """The findings posted as inline comments."""
        return [p for p in self.placed if p.inline]

    @property
    def in_body(self) -> list[Placed]:
        """The findings written in the review's text."""
        return [p for p in self.placed if not p.inline]

    def all_in_body(self, why: str) -> None:
        """Move every inline comment into the review's text."""
        for p in self.placed:
            if p.inline:
                p.inline, p.why = False, why


def replaced_lines(f: Finding, lines: DiffLines | None) -> str | None:
    """The new file's lines `start_line..line` that a suggestion replaces, when the diff shows
    every one of them."""
    if f.suggestion is None or f.side != "RIGHT" or lines is None:
        return None
    numbers = range(f.start_line or f.line, f.line + 1)
    if any(n not in lines.right_text for n in numbers):
        return None
    return "\n".join(lines.right_text[n] for n in numbers)


def _where(f: Finding, lines: DiffLines | None, left_ok: bool) -> tuple[bool, bool, str]:
    """(inline, the comment spans start_line..line, why not inline) for one finding."""
    if f.side == "LEFT" and not left_ok:
        return False, False, LEFT_IN_INCREMENTAL
    if lines is None or lines.hunk(f.side, f.line) is None:
        return False, False, OUTSIDE_DIFF
    spans = f.start_line is not None and lines.spans(f.side, f.start_line, f.line)
    return True, spans, ""


def place(
    findings: list[Finding],
    lines: dict[str, DiffLines],
    *,
    max_comments: int,
    min_severity: str,
    seen: set[str],
    left_ok: bool = True,
) -> Plan:
    """Most severe first: those on diff lines inline (up to `max_comments`), the rest in the
    body; below `min_severity` or posted before (their fingerprint `seen`), left out."""
    plan = Plan()
    floor = SEVERITIES.index(min_severity)
    fingerprints = set(seen)
    for f in sorted(findings, key=lambda f: f.rank):
        if f.rank > floor:
            plan.below_min_severity += 1
            continue
        if f.fingerprint in fingerprints:
            plan.repeated += 1
            continue
        fingerprints.add(f.fingerprint)
        inline, spans, why = _where(f, lines.get(f.path), left_ok)
        if inline and len(plan.inline) >= max_comments:
            inline, why = False, OVER_MAX
        replaced = replaced_lines(f, lines.get(f.path))
        plan.placed.append(Placed(f, inline, spans, why, replaced))
    return plan


def fingerprints_in(text: str | None) -> set[str]:
    """The finding fingerprints hidden in a comment or review body."""
    return set(FINGERPRINT_PATTERN.findall(text or ""))
