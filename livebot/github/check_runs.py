"""A run's Check Run on the pull request's head commit: in progress with the live page as its
Details link, then completed with a summary and one annotation per finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from livebot.github.paths import repo_path

CHECK_NAME: Final = "Livebot {workflow}"
# GitHub takes at most 50 annotations a request; later updates append to the earlier ones.
ANNOTATIONS_PER_REQUEST: Final = 50
MAX_ANNOTATIONS: Final = 500
MAX_OUTPUT_CHARS: Final = 65_535
MAX_TITLE_CHARS: Final = 200
LEVELS: Final = {"blocker": "failure", "major": "warning", "minor": "notice", "nit": "notice"}
# Never `failure`: Livebot blocks a merge only when asked to (`review.blocking`).
NEUTRAL: Final = "neutral"
ACTION_REQUIRED: Final = "action_required"
CANCELLED: Final = "cancelled"
SUPERSEDED: Final = "Superseded by a newer run: {url}"
# The trigger of a review someone asked for with the check's Re-run button.
RERUN: Final = "rerequested"
# What a check carries to be re-run: its workflow, the pull request's number, the run's id.
EXTERNAL_ID: Final = "{workflow}:{number}:{run_id}"


class RestClient(Protocol):
    """What a check run needs of the installation's client."""

    async def post(self, url: str, *, data: Any) -> Any: ...

    async def patch(self, url: str, *, data: Any) -> Any: ...


@dataclass(frozen=True)
class Annotation:
    """One finding on the check's Files tab."""

    path: str
    start_line: int
    end_line: int
    severity: str
    title: str
    message: str

    def json(self) -> dict[str, Any]:
        """As the Checks API takes it."""
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "annotation_level": LEVELS.get(self.severity, "notice"),
            "title": self.title[:MAX_TITLE_CHARS],
            "message": self.message[:MAX_OUTPUT_CHARS],
        }


def external_id(workflow: str, number: int, run_id: str) -> str:
    """The check's `external_id`: what a re-run needs, even where `pull_requests` is empty
    (a pull request from a fork)."""
    return EXTERNAL_ID.format(workflow=workflow, number=number, run_id=run_id)


def rerun_target(external: str) -> tuple[str, int] | None:
    """(workflow, pull request number) of a check Livebot made; None for any other."""
    workflow, _, rest = external.partition(":")
    number, _, run_id = rest.partition(":")
    if not (workflow and number.isdecimal() and 0 < int(number) < 2**53 and run_id):
        return None
    return workflow, int(number)


def _output(title: str, summary: str) -> dict[str, str]:
    return {"title": title[:MAX_TITLE_CHARS], "summary": summary[:MAX_OUTPUT_CHARS]}


async def start(
    gh: RestClient,
    repository: str,
    *,
    head_sha: str,
    workflow: str,
    details_url: str,
    external_id: str,
    title: str,
) -> int:
    """Create the check run, in progress; its id."""
    run = await gh.post(
        repo_path(repository, "check-runs"),
        data={
            "name": CHECK_NAME.format(workflow=workflow),
            "head_sha": head_sha,
            "status": "in_progress",
            "details_url": details_url,
            "external_id": external_id,
            "output": _output(title, f"[Watch it live]({details_url})."),
        },
    )
    check_id: int = run["id"]
    return check_id


async def show(
    gh: RestClient, repository: str, check_id: int, *, title: str, details_url: str
) -> None:
    """Show what the run is doing now as the check's title."""
    await gh.patch(
        repo_path(repository, "check-runs", check_id),
        data={"output": _output(title, f"[Watch it live]({details_url}).")},
    )


async def complete(
    gh: RestClient,
    repository: str,
    check_id: int,
    *,
    conclusion: str,
    title: str,
    summary: str,
    annotations: Sequence[Annotation] = (),
) -> None:
    """Complete the check: annotations in batches of 50, the last request with the conclusion
    (so a check is never completed without all of its annotations)."""
    url = repo_path(repository, "check-runs", check_id)
    output = _output(title, summary)
    batch = [a.json() for a in annotations[:MAX_ANNOTATIONS]]
    while len(batch) > ANNOTATIONS_PER_REQUEST:
        await gh.patch(
            url, data={"output": {**output, "annotations": batch[:ANNOTATIONS_PER_REQUEST]}}
        )
        batch = batch[ANNOTATIONS_PER_REQUEST:]
    last: dict[str, Any] = {**output, "annotations": batch} if batch else output
    await gh.patch(url, data={"conclusion": conclusion, "output": last})
