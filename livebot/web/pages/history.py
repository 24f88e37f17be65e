"""Looking back: a repository's runs and its usage, from the archive, for its readers only."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode

from aiohttp import web

from livebot.archive.records import PAGE_SIZE, USAGE_DAYS, CursorError, RunSummary, UsageRow
from livebot.runs.events import TERMINAL_STATUSES
from livebot.runs.links import run_token
from livebot.web.accounts.sessions import SignedIn
from livebot.web.accounts.signin import login_url, logout_form, reader
from livebot.web.app_keys import ARCHIVE, LINK_SECRET, SETTINGS
from livebot.web.pages.feedback_table import feedback_box, first_week
from livebot.web.pages.shell import SMALL_BUTTON, render
from livebot.web.pages.usage_chart import stacked_bars

if TYPE_CHECKING:
    from livebot.archive.store import Archive

routes = web.RouteTableDef()

NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,100}")
WORKFLOW: Final = re.compile(r"[a-z][a-z0-9_-]{0,39}")
MAX_CURSOR_CHARS: Final = 200


async def _repository(request: web.Request) -> tuple[str, Archive, SignedIn]:
    """The repository of the path, the archive, and its signed-in reader (or a redirect)."""
    owner, repo = request.match_info["owner"], request.match_info["repo"]
    archive = request.app.get(ARCHIVE)
    if not (NAME.fullmatch(owner) and NAME.fullmatch(repo)) or archive is None:
        raise web.HTTPNotFound(text="Not found.")
    if not request.app[SETTINGS].sign_in:
        raise web.HTTPNotFound(text="Not found.")
    repository = f"{owner}/{repo}"
    user = await reader(request, repository)
    if user is None:
        raise web.HTTPFound(login_url(request.path_qs))
    return repository, archive, user


def _page(repository: str, user: SignedIn, title: str, body: str) -> web.Response:
    base = f"/repos/{escape(repository)}"
    header = (
        f'<nav class="history-nav"><a href="{base}/runs">Runs</a> <a href="{base}/usage">Usage</a>'
        f'</nav><span class="history-user">{logout_form(user)}</span>'
    )
    # Same-origin referrers, so that the sign-out form's POST carries our Origin (CSRF check).
    return render(
        f"{title} · {repository}",
        body,
        heading=title,
        note=repository,
        header=header,
        referrer="same-origin",
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _cost(cost: float | None) -> str:
    return "–" if cost is None else f"${cost:.4f}"


def _row(request: web.Request, repository: str, run: RunSummary) -> str:
    token = run_token(request.app[LINK_SECRET], run.run_id)
    link = f"/runs/{run.run_id}?token={token}"
    thread = f"#{run.number} {run.title}" if run.number is not None else run.title
    when = run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tokens = run.prompt_tokens + run.completion_tokens
    return (
        "<tr>"
        f'<td><a class="run-link" href="{escape(link)}">{escape(thread) or "run"}</a>'
        f'<div class="history-when">{when}</div></td>'
        f"<td>{escape(run.workflow)}</td>"
        f'<td class="wide-only">{escape(run.author)}</td>'
        f'<td><span class="state-label" data-state="{escape(run.status)}">'
        f"{escape(run.status)}</span></td>"
        f'<td class="num wide-only">{_duration(run.seconds)}</td>'
        f'<td class="num">{tokens:,}</td>'
        f'<td class="num">{_cost(run.cost_usd)}</td>'
        "</tr>"
    )


def _filters(workflow: str | None, status: str | None) -> str:
    options = ['<option value="">any status</option>'] + [
        f'<option value="{s}"{" selected" if s == status else ""}>{s}</option>'
        for s in sorted(TERMINAL_STATUSES)
    ]
    return (
        '<form class="history-filters" method="get">'
        '<label>Workflow <input name="workflow" maxlength="40" '
        f'value="{escape(workflow or "")}" placeholder="any"></label> '
        f'<label>Status <select name="status">{"".join(options)}</select></label> '
        f'<button type="submit" class="{SMALL_BUTTON}">Filter</button></form>'
    )


@routes.get("/repos/{owner}/{repo}/runs")
async def runs_page(request: web.Request) -> web.Response:
    """The repository's runs, newest first, filtered, a page at a time."""
    repository, archive, user = await _repository(request)
    workflow = request.query.get("workflow") or None
    status = request.query.get("status") or None
    cursor = request.query.get("after") or None
    if workflow is not None and not WORKFLOW.fullmatch(workflow):
        raise web.HTTPBadRequest(text="workflow must be a workflow's name, such as answer.")
    if status is not None and status not in TERMINAL_STATUSES:
        raise web.HTTPBadRequest(
            text="status must be one of " + ", ".join(sorted(TERMINAL_STATUSES))
        )
    if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        raise web.HTTPBadRequest(text="after must be a cursor from a previous page.")
    try:
        runs = await archive.runs(
            repository, workflow=workflow, status=status, cursor=cursor, limit=PAGE_SIZE + 1
        )
    except CursorError:
        raise web.HTTPBadRequest(text="after must be a cursor from a previous page.") from None
    more, runs = len(runs) > PAGE_SIZE, runs[:PAGE_SIZE]
    rows = "".join(_row(request, repository, run) for run in runs)
    if not rows:
        rows = '<tr><td colspan="7" class="history-empty">No runs archived yet.</td></tr>'
    next_link = ""
    if more:
        query = {k: v for k, v in (("workflow", workflow), ("status", status)) if v}
        query["after"] = runs[-1].cursor
        older = escape(urlencode(query))
        next_link = f'<a class="{SMALL_BUTTON}" rel="next" href="?{older}">Older runs</a>'
    body = (
        f"{_filters(workflow, status)}"
        '<div class="box history-box"><table class="history-table"><thead><tr>'
        '<th>Issue or pull request</th><th>Workflow</th><th class="wide-only">Asked by</th>'
        '<th>Status</th><th class="num wide-only">Duration</th><th class="num">Tokens</th>'
        '<th class="num">Cost</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
        f'<div class="history-more">{next_link}</div>'
    )
    return _page(repository, user, "Runs", body)


def _days(today: date) -> list[date]:
    return [today - timedelta(days=n) for n in range(USAGE_DAYS - 1, -1, -1)]


def _by_workflow(rows: list[UsageRow], value: str) -> dict[str, dict[date, float]]:
    series: dict[str, dict[date, float]] = defaultdict(dict)
    for row in rows:
        series[row.workflow][row.day] = float(getattr(row, value))
    return dict(sorted(series.items()))


@routes.get("/repos/{owner}/{repo}/usage")
async def usage_page(request: web.Request) -> web.Response:
    """Tokens and estimated cost per day and per workflow, the last 90 days; review feedback."""
    repository, archive, user = await _repository(request)
    rows = await archive.usage(repository)
    today = datetime.now(UTC).date()
    # Here, not at the top: psycopg loads only where an archive exists.
    from livebot.archive.feedback import ReviewFeedback

    feedback = await ReviewFeedback(archive.pool).weekly(repository, first_week(today))
    days = _days(today)
    tokens = stacked_bars(days, _by_workflow(rows, "tokens"), "Tokens per day", "{:,.0f}")
    cost = stacked_bars(days, _by_workflow(rows, "cost_usd"), "Estimated cost per day", "${:,.2f}")
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for row in rows:
        total = totals[row.workflow]
        total[0] += row.tokens
        total[1] += row.cost_usd
        total[2] += row.runs
    table = (
        "".join(
            f"<tr><td>{escape(wf)}</td><td class='num'>{int(t[2]):,}</td>"
            f"<td class='num'>{int(t[0]):,}</td><td class='num'>${t[1]:,.4f}</td></tr>"
            for wf, t in sorted(totals.items())
        )
        or '<tr><td colspan="4" class="history-empty">No runs in the last 90 days.</td></tr>'
    )
    body = (
        f'<section class="box chart-box">{tokens}</section>'
        f'<section class="box chart-box">{cost}</section>'
        '<div class="box history-box"><table class="history-table"><thead><tr><th>Workflow</th>'
        '<th class="num">Runs</th><th class="num">Tokens</th><th class="num">Estimated cost</th>'
        f"</tr></thead><tbody>{table}</tbody></table></div>"
        f"{feedback_box(feedback)}"
    )
    return _page(repository, user, f"Usage, last {USAGE_DAYS} days", body)
