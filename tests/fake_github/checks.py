"""Check runs in the fake GitHub: create, update (annotations appended), read, list annotations.

As GitHub documents them (`@octokit/openapi`, `checks/create`, `checks/update`): `name` and
`head_sha` are required, `output` needs `title` and `summary`, at most 50 annotations a request
(more are added by further updates, appended to the earlier ones), each with `path`,
`start_line`, `end_line`, `annotation_level` (notice, warning, failure) and `message`, columns only
on a one-line annotation; a `conclusion` completes the run; an installation without
`checks: write` is refused. Where GitHub's exact words for a refusal are not documented the
status is GitHub's and the message says what was wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_github.common import (
    Reply,
    forbidden_integration,
    iso,
    json_body,
    not_found,
    paginate,
)

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub

MAX_ANNOTATIONS = 50
STATUSES = {"queued", "in_progress", "completed"}
CONCLUSIONS = {
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
}
LEVELS = {"notice", "warning", "failure"}
ANNOTATION_FIELDS = ("path", "start_line", "end_line", "annotation_level", "message")
MAX_TEXT = 65535


def _invalid(detail: str) -> Reply:
    """GitHub's 422 for a request its schema refuses."""
    return Reply(422, f"Invalid request.\n\n{detail}")


class CheckRuns:
    """`/repos/{owner}/{repo}/check-runs…`; mixed into FakeGitHub."""

    def _check_routes(self: FakeGitHub, r: web.UrlDispatcher, repo: str) -> None:
        r.add_post(repo + "/check-runs", self._create_check_run)
        r.add_get(repo + "/check-runs/{crid:\\d+}", self._get_check_run)
        r.add_patch(repo + "/check-runs/{crid:\\d+}", self._update_check_run)
        r.add_get(repo + "/check-runs/{crid:\\d+}/annotations", self._list_annotations)

    def check_runs_on(self: FakeGitHub, owner: str, name: str) -> list[dict[str, Any]]:
        """The repository's check runs, oldest first (the test's side)."""
        return [
            self._check_run_json(run)
            for run in self.check_runs.values()
            if run["repo"] == (owner, name)
        ]

    def annotations_of(self: FakeGitHub, check_run_id: int) -> list[dict[str, Any]]:
        """Every annotation of a check run, in the order they were added (the test's side)."""
        return list(self.check_runs[check_run_id]["annotations"])

    async def _create_check_run(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo_for_checks(request)
        data = await json_body(request)
        if not isinstance(data.get("head_sha"), str) or data["head_sha"] not in self.git.commits:
            raise Reply(422, f"No commit found for SHA: {data.get('head_sha')}")
        run: dict[str, Any] = {
            "id": self._new_id(),
            "repo": (owner, name),
            "head_sha": data["head_sha"],
            "status": "queued",
            "conclusion": None,
            "started_at": iso(),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None},
            "annotations": [],
            "details_url": None,
            "external_id": "",
            "name": "",
            "updates": 0,
        }
        self._apply_check_run(run, data)
        self.check_runs[run["id"]] = run
        return web.json_response(self._check_run_json(run), status=201)

    async def _update_check_run(self: FakeGitHub, request: web.Request) -> web.Response:
        run = self._check_run(request)
        data = await json_body(request)
        self._apply_check_run(run, data)
        run["updates"] += 1
        return web.json_response(self._check_run_json(run))

    async def _get_check_run(self: FakeGitHub, request: web.Request) -> web.Response:
        return web.json_response(self._check_run_json(self._check_run(request)))

    async def _list_annotations(self: FakeGitHub, request: web.Request) -> web.Response:
        run = self._check_run(request)
        return paginate(request, self.url, run["annotations"])

    # ---- plumbing -------------------------------------------------------------------------
    def _repo_for_checks(self: FakeGitHub, request: web.Request) -> tuple[str, str]:
        key = self._repo(request)
        installation = self._check_token(request)
        if self._permissions(installation).get("checks") != "write":
            raise forbidden_integration()
        return key

    def _check_run(self: FakeGitHub, request: web.Request) -> dict[str, Any]:
        key = self._repo_for_checks(request)
        run = self.check_runs.get(int(request.match_info["crid"]))
        if run is None or run["repo"] != key:
            raise not_found()
        return run

    def _apply_check_run(self: FakeGitHub, run: dict[str, Any], data: dict[str, Any]) -> None:
        """Validate `data` as GitHub does, then apply it to `run` (nothing applied on refusal)."""
        status, conclusion = data.get("status"), data.get("conclusion")
        if status is not None and status not in STATUSES:
            raise _invalid(f"For 'properties/status', \"{status}\" is not a possible value.")
        if conclusion is not None and conclusion not in CONCLUSIONS:
            raise _invalid(
                f"For 'properties/conclusion', \"{conclusion}\" is not a possible value."
            )
        if conclusion is None and (status == "completed" or "completed_at" in data):
            raise _invalid('"conclusion" wasn\'t supplied.')
        output = data.get("output")
        annotations: list[dict[str, Any]] = []
        if output is not None:
            if not isinstance(output, dict):
                raise _invalid("For 'properties/output', it is not an object.")
            missing = [k for k in ("title", "summary") if not isinstance(output.get(k), str)]
            if missing:
                quoted = ", ".join(f'"{k}"' for k in missing)
                raise _invalid(f"{quoted} wasn't supplied.")
            for key in ("summary", "text"):
                if len(output.get(key) or "") > MAX_TEXT:
                    raise _invalid(f"For 'properties/{key}', it is longer than {MAX_TEXT}.")
            annotations = output.get("annotations") or []
            if not isinstance(annotations, list) or len(annotations) > MAX_ANNOTATIONS:
                raise _invalid(
                    f"For 'properties/annotations', at most {MAX_ANNOTATIONS} annotations may "
                    "be sent in one request; add more with further updates."
                )
            for a in annotations:
                _check_annotation(a)
        for key in ("name", "details_url", "external_id"):
            if isinstance(data.get(key), str):
                run[key] = data[key]
        if status is not None:
            run["status"] = status
        if conclusion is not None:
            run["status"], run["conclusion"] = "completed", conclusion
            run["completed_at"] = data.get("completed_at") or iso()
        if output is not None:
            run["output"] = {k: output.get(k) for k in ("title", "summary", "text")}
            run["annotations"].extend(
                {**a, "blob_href": "", "title": a.get("title", ""), "raw_details": ""}
                for a in annotations
            )

    def _check_run_json(self: FakeGitHub, run: dict[str, Any]) -> dict[str, Any]:
        owner, name = run["repo"]
        api = f"{self.url}/repos/{owner}/{name}"
        pulls = [
            {"id": pr.get("id", number), "number": number, "url": f"{api}/pulls/{number}"}
            for (o, n, number), pr in self.pulls.items()
            if (o, n) == (owner, name) and self._pr_head_sha(pr) == run["head_sha"]
        ]
        return {
            "id": run["id"],
            "node_id": f"CR_kwDO{run['id']:x}",
            "head_sha": run["head_sha"],
            "external_id": run["external_id"],
            "url": f"{api}/check-runs/{run['id']}",
            "html_url": f"https://github.com/{owner}/{name}/runs/{run['id']}",
            "details_url": run["details_url"] or f"https://github.com/apps/{self.app_slug}",
            "status": run["status"],
            "conclusion": run["conclusion"],
            "started_at": run["started_at"],
            "completed_at": run["completed_at"],
            "output": {
                **run["output"],
                "annotations_count": len(run["annotations"]),
                "annotations_url": f"{api}/check-runs/{run['id']}/annotations",
            },
            "name": run["name"],
            "check_suite": {"id": run["id"] + 1},
            "app": {"id": self.app_id, "slug": self.app_slug},
            "pull_requests": pulls,
        }


def _check_annotation(a: Any) -> None:
    """One annotation as the description requires it."""
    if not isinstance(a, dict):
        raise _invalid("For 'items', it is not an object.")
    missing = [k for k in ANNOTATION_FIELDS if k not in a]
    if missing:
        quoted = ", ".join(f'"{k}"' for k in missing)
        raise _invalid(f"{quoted} wasn't supplied.")
    if a["annotation_level"] not in LEVELS:
        raise _invalid(
            f"For 'properties/annotation_level', \"{a['annotation_level']}\" is not a possible "
            "value."
        )
    if not isinstance(a["start_line"], int) or not isinstance(a["end_line"], int):
        raise _invalid("For 'properties/start_line', it is not an integer.")
    columns = "start_column" in a or "end_column" in a
    if columns and a["start_line"] != a["end_line"]:
        # Documented: "Annotations only support start_column and end_column on the same line."
        raise Reply(
            422,
            "Validation Failed",
            errors=[{"resource": "CheckRun", "code": "invalid", "field": "start_column"}],
        )
